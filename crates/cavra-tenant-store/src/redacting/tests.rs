use super::*;
use proptest::prelude::*;
use serde_json::Value;

/// A struct of the given fields in the order given; the names are static keys (a struct's
/// fields, here leaked texts).
struct Fields<V>(Vec<(&'static str, V)>);

impl<V: Serialize> Serialize for Fields<V> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use ser::SerializeStruct as _;
        let mut st = s.serialize_struct("Fields", self.0.len())?;
        for (k, v) in &self.0 {
            st.serialize_field(k, v)?;
        }
        st.end()
    }
}

/// A pack's rule that masks `read_file` (an enum variant's name in the engine's records).
fn read_file_rule() -> cavra_redact::RuleSpec {
    cavra_redact::RuleSpec {
        id: "word".into(),
        description: String::new(),
        regex: "read_file".into(),
        keywords: vec!["read_".into()],
        min_entropy: None,
    }
}

proptest! {
    /// The remembered sensitivity of a key is the key's sensitivity, for keys seen again,
    /// keys that differ only in letter case or punctuation, and more keys than are kept.
    #[test]
    fn a_remembered_key_is_as_sensitive_as_the_key(
        keys in proptest::collection::vec("[a-zA-Z_.-]{0,6}(token|Secret|PASS_WORD|key|api|x|)[a-zA-Z_-]{0,6}", 1..700),
    ) {
        for key in keys.iter().chain(keys.iter()) {
            prop_assert_eq!(sensitive_key(key), cavra_redact::is_sensitive_key(key), "{}", key);
        }
    }
}

proptest! {
    /// The info remembered for a static key is the key's own, the first time and again,
    /// for more keys than there are slots (so slots are shared and overwritten), keys
    /// that need escapes, hold `~` or `/`, characters from U+E000 up, or name a secret.
    #[test]
    fn a_static_key_is_what_it_is(
        keys in proptest::collection::vec(
            prop_oneof![
                "[a-zA-Z_.-]{0,6}(token|Secret|PASS_WORD|key|api|x|)[a-zA-Z_-]{0,6}",
                "[a-z~/\"\\\\\u{1}\u{e000}\u{1f600}é]{0,5}",
            ],
            1..3000,
        ),
    ) {
        let keys: Vec<&'static str> =
            keys.into_iter().map(|k| &*Box::leak(k.into_boxed_str())).collect();
        for key in keys.iter().chain(keys.iter()) {
            let expected = KeyInfo::of(key, cavra_redact::is_sensitive_key(key));
            prop_assert_eq!(static_key_info(key), expected, "{:?}", key);
            let mut text = String::new();
            canonical::write_string(key, &mut text);
            let mut pointer = String::new();
            cavra_redact::push_pointer_token(&mut pointer, key);
            prop_assert_eq!(
                expected.bare,
                text == format!("\"{key}\"") && pointer == *key,
                "{:?}", key
            );
        }
    }

    /// An array index is appended to a pointer as `write!` writes it.
    #[test]
    fn an_index_is_written_as_format_writes_it(i in prop_oneof![0usize..1000, any::<usize>()]) {
        let mut pointer = String::from("/a");
        push_index(&mut pointer, i);
        prop_assert_eq!(pointer, format!("/a/{i}"));
    }
}

/// A static key or text and a longer one at the same address (a prefix and its whole):
/// the caches keyed by address (a key's facts, an object's order, a text found clean) tell
/// them apart by length, so each is judged on its own, in whichever order they come.
#[test]
fn a_static_text_and_its_prefix_are_two_texts() {
    struct Unit(&'static str);
    impl Serialize for Unit {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_unit_variant("Word", 0, self.0)
        }
    }
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    // "x" is a plain key and "x_password" names a secret; "ok" is clean and
    // "ok_read_file" is masked by the pack's rule; "a" sorts before "aa" and "ab" after.
    let key = leak("x_password");
    let text = leak("ok_read_file");
    let ab = leak("ab");
    let aa = leak("aa");
    let docs = [
        Fields(vec![(&key[..1], Unit(&text[..2]))]),
        Fields(vec![(key, Unit(text))]),
        Fields(vec![(&key[..1], Unit(text))]),
        Fields(vec![(key, Unit(&text[..2]))]),
        Fields(vec![(&ab[..1], Unit(&text[..2])), (aa, Unit(&text[..2]))]),
        Fields(vec![(ab, Unit(&text[..2])), (aa, Unit(&text[..2]))]),
    ];
    let word = read_file_rule();
    let masking = Redactor::for_pack(&[], &[word]).expect("pack");
    for _ in 0..3 {
        for doc in &docs {
            let mut walked = serde_json::to_value(doc).unwrap();
            let findings = masking.redact_json_in_place(&mut walked);
            let written = write(doc, &masking, None, "record").unwrap();
            assert_eq!(
                written.canonical,
                cavra_evidence::canonical::to_canonical(&walked)
            );
            assert_eq!(
                serde_json::from_str::<Value>(&written.json).unwrap(),
                walked
            );
            assert_eq!(written.findings, findings);
        }
    }
}

/// An object of static keys (a struct's fields, here leaked texts) in any order of a few
/// key sets, written again and again: the order remembered for a sequence of keys is
/// the canonical order of those keys, never another sequence's.
#[test]
fn remembered_orders_are_canonical_orders() {
    let pool: Vec<&'static str> = [
        "b",
        "a",
        "ab",
        "aa",
        "abcdefghij",
        "abcdefghik",
        "abcdefgh",
        "z\u{0}",
        "z",
        "\u{e000}",
        "\u{1f600}",
        "é",
        "a/b",
        "x~y",
        "password",
        "decision",
        "decision_id",
    ]
    .iter()
    .map(|k| &*Box::leak(k.to_string().into_boxed_str()))
    .collect();
    let own = Redactor::for_pack(&[], &[]).expect("built-in rules");
    let mut runner = proptest::test_runner::TestRunner::default();
    let objects = proptest::collection::vec(
        proptest::sample::subsequence(pool.clone(), 0..pool.len()).prop_shuffle(),
        1..40,
    );
    runner
        .run(&objects, |objects| {
            for keys in objects.iter().chain(objects.iter()) {
                let fields = Fields(keys.iter().zip(0u64..).map(|(k, i)| (*k, i)).collect());
                let value = serde_json::to_value(&fields).unwrap();
                let written = write(&fields, &own, None, "record").unwrap();
                prop_assert_eq!(
                    &written.canonical,
                    &cavra_evidence::canonical::to_canonical(&value)
                );
            }
            Ok(())
        })
        .unwrap();
}

/// An enum variant's name is redacted as any text, under each pair of rule sets in
/// turn, whether it was clean under another pair before or not (the writer remembers
/// clean static texts per pair of rule sets), and masked whole under a secret's key.
#[test]
fn a_static_text_is_masked_by_the_rules_that_mask_it() {
    #[derive(serde::Serialize, Clone, Copy)]
    #[serde(rename_all = "snake_case")]
    enum Word {
        ReadFile,
        Allow,
    }
    #[derive(serde::Serialize)]
    struct Doc {
        a: Word,
        b: Word,
        password: Word,
        list: Vec<Word>,
    }
    let doc = Doc {
        a: Word::ReadFile,
        b: Word::Allow,
        password: Word::Allow,
        list: vec![Word::ReadFile, Word::Allow],
    };
    let plain = Redactor::for_pack(&[], &[]).expect("built-in rules");
    let word = read_file_rule();
    let masking = Redactor::for_pack(&[], &[word]).expect("pack");
    let pairs = [
        (&plain, None),
        (&masking, None),
        (&plain, Some(&masking)),
        (&masking, Some(&plain)),
        (&plain, None),
        (&masking, None),
    ];
    for (first, second) in pairs {
        for _ in 0..2 {
            let mut walked = serde_json::to_value(&doc).unwrap();
            let mut findings = first.redact_json_in_place(&mut walked);
            if let Some(second) = second {
                findings.extend(second.redact_json_in_place(&mut walked));
            }
            let written = write(&doc, first, second, "record").unwrap();
            assert_eq!(
                written.canonical,
                cavra_evidence::canonical::to_canonical(&walked)
            );
            assert_eq!(written.json, serde_json::to_string(&walked).unwrap());
            assert_eq!(written.findings, findings);
            let masked = std::ptr::eq(first, &masking) || second.is_some();
            assert_eq!(
                written.json.matches("[REDACTED:word]").count(),
                if masked { 2 } else { 0 }
            );
            assert_eq!(written.json.matches("[REDACTED:sensitive-key]").count(), 1);
        }
    }
}

/// Strings as records hold them: plain words, secrets of several rules, masks, escapes,
/// and characters whose UTF-8 and UTF-16 orders differ.
pub(crate) fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-z./_-]{0,12}",
        Just("ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_string()),
        Just("AKIAIOSFODNN7EXAMPLE".to_string()),
        Just("password=hunter2".to_string()),
        Just("curl -H 'Authorization: Bearer abcdefghijklmnop' https://x".to_string()),
        Just("postgres://u:s3cret@db/x".to_string()),
        Just("token: Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA".to_string()),
        Just("acme_secretvalue".to_string()),
        Just("[REDACTED:github-token]".to_string()),
        Just("\"q\" \\ \n\t\u{1}\u{7f} é \u{e000} \u{1f600}".to_string()),
        Just("MY_SECRET".to_string()),
    ];
    proptest::collection::vec(piece, 0..4).prop_map(|p| p.join(" "))
}

/// The rule sets a decision is redacted with: the store's alone; a pack's that include
/// them (one pass); a pack's that disable one of them (a pass with each).
pub(crate) fn rule_sets() -> (Redactor, [Option<Redactor>; 3]) {
    let custom = cavra_redact::RuleSpec {
        id: "acme-key".into(),
        description: String::new(),
        regex: r"(?P<secret>acme_[a-z]{6,})".into(),
        keywords: vec!["acme_".into()],
        min_entropy: None,
    };
    (
        Redactor::for_pack(&[], &[]).expect("built-in rules"),
        [
            None,
            Some(Redactor::for_pack(&[], std::slice::from_ref(&custom)).expect("pack")),
            Some(Redactor::for_pack(&["github-token".to_string()], &[custom]).expect("pack")),
        ],
    )
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{0,8}",
        Just("password".to_string()),
        Just("api_key".to_string()),
        Just("token_count".to_string()),
        Just("record".to_string()),
        Just("a/b~c".to_string()),
        Just("\u{e000}".to_string()),
        Just("\u{1f600}".to_string()),
        Just("é".to_string()),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e30f64..1e30f64).prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Any JSON value written through the redacting writer is what the value path makes
    /// of it: redacted by walking it (once per rule set), then canonical, and serialised
    /// in its own order; with the same findings in the same order.
    #[test]
    fn writing_redacted_is_walking_then_serialising(v in value(), pack in 0usize..3) {
        let (own, packs) = rule_sets();
        let (first, second) = match &packs[pack] {
            None => (&own, None),
            Some(p) if p.includes(&own) => (p, None),
            Some(p) => (p, Some(&own)),
        };
        let mut walked = v.clone();
        let mut findings = first.redact_json_in_place(&mut walked);
        if let Some(second) = second {
            findings.extend(second.redact_json_in_place(&mut walked));
        }
        let written = write(&v, first, second, "record").unwrap();
        prop_assert_eq!(&written.canonical, &cavra_evidence::canonical::to_canonical(&walked));
        prop_assert_eq!(&written.json, &serde_json::to_string(&walked).unwrap());
        prop_assert_eq!(&written.findings, &findings);
        let marked = written.marked.map(|r| written.json[r].to_string());
        let expected = walked.get("record").map(|r| serde_json::to_string(r).unwrap());
        prop_assert_eq!(marked, expected);
    }

    /// Objects of up to 100 members, sorted by insertion up to 64 and by the standard
    /// sort beyond, in canonical order as the value path puts them.
    #[test]
    fn wide_objects_are_in_canonical_order(
        members in proptest::collection::vec(
            (prop_oneof![
                key(),
                "[a-z\u{e000}-\u{e002}\u{1f600}é]{1,4}",
                // Keys sharing their first eight bytes (and NULs among them), which the
                // sort's prefixes cannot tell apart.
                "[ab\u{0}]{6,11}",
            ], any::<u8>()),
            0..100,
        )
    ) {
        let v = Value::Object(
            members.into_iter().map(|(k, n)| (k, Value::from(n))).collect(),
        );
        let own = Redactor::for_pack(&[], &[]).expect("built-in rules");
        let written = write(&v, &own, None, "record").unwrap();
        prop_assert_eq!(&written.canonical, &cavra_evidence::canonical::to_canonical(&v));
        prop_assert_eq!(&written.json, &serde_json::to_string(&v).unwrap());
    }
}

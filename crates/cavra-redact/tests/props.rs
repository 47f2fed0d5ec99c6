//! Properties: a generated secret never survives redaction, wherever it is embedded;
//! redaction is idempotent; text without any keyword is returned unchanged.

use cavra_redact::Redactor;
use proptest::prelude::*;

fn token_body(len: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".to_vec(),
        ),
        len,
    )
    .prop_map(|v| String::from_utf8(v).unwrap_or_default())
}

fn secret() -> impl Strategy<Value = String> {
    prop_oneof![
        token_body(36).prop_map(|b| format!("ghp_{b}")),
        token_body(36).prop_map(|b| format!("ghs_{b}")),
        token_body(40).prop_map(|b| format!("github_pat_{b}")),
        token_body(24).prop_map(|b| format!("sk_live_{b}")),
        token_body(16).prop_map(|b| format!("AKIA{}", b.to_ascii_uppercase())),
        token_body(35).prop_map(|b| format!("AIza{b}")),
        (token_body(12), token_body(24)).prop_map(|(a, b)| format!("xoxb-{a}-{b}")),
    ]
}

fn filler() -> impl Strategy<Value = String> {
    "[a-z ./=-]{0,30}"
}

proptest! {
    #[test]
    fn secrets_never_survive(prefix in filler(), s in secret(), suffix in filler()) {
        let text = format!("{prefix} {s} {suffix}");
        let out = Redactor::builtin().redact_text(&text);
        prop_assert!(!out.value.contains(&s), "{:?}", out.value);
        prop_assert!(!out.findings.is_empty());
    }

    #[test]
    fn secrets_in_json_never_survive(key in "[a-z]{1,8}", s in secret()) {
        let v = serde_json::json!({ key.clone(): { "nested": [format!("x {s} y")] } });
        let out = Redactor::builtin().redact_json(&v);
        prop_assert!(!out.value.to_string().contains(&s));
        prop_assert_eq!(out.findings[0].pointer.clone(), format!("/{key}/nested/0"));
    }

    #[test]
    fn assigned_passwords_never_survive(name in "(DB|APP|ADMIN)_(PASSWORD|TOKEN|SECRET)", value in "[A-Za-z0-9]{6,20}") {
        let text = format!("{name}={value} ./run.sh");
        let out = Redactor::builtin().redact_text(&text);
        prop_assert!(!out.value.contains(&format!("={value}")), "{:?}", out.value);
    }

    #[test]
    fn idempotent(prefix in filler(), s in secret()) {
        let once = Redactor::builtin().redact_text(&format!("{prefix}{s}")).value;
        let twice = Redactor::builtin().redact_text(&once);
        prop_assert_eq!(&twice.value, &once);
        prop_assert!(twice.findings.is_empty());
    }

    #[test]
    fn harmless_text_unchanged(text in "[a-j0-9 ./_-]{0,80}") {
        let out = Redactor::builtin().redact_text(&text);
        prop_assert_eq!(out.value, text);
    }
}

/// The definition `is_sensitive_key` had before it stopped allocating: letters and digits,
/// lowercased, containing a secret word, not ending in count/type/name.
fn sensitive_key_reference(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "passwd",
        "passphrase",
        "apikey",
        "accesskey",
        "privatekey",
        "credential",
        "authorization",
        "clientsecret",
    ]
    .iter()
    .any(|w| k.contains(w))
        && !k.ends_with("count")
        && !k.ends_with("type")
        && !k.ends_with("name")
}

proptest! {
    #[test]
    fn sensitive_keys_as_defined(key in "(?s).{0,20}(to_ken|Secret|PASS-word|api_key|credential|count|type|name|ü|é)?.{0,150}") {
        prop_assert_eq!(cavra_redact::is_sensitive_key(&key), sensitive_key_reference(&key));
    }

    #[test]
    fn finding_pointers_escape_keys(key in "[a-z~/]{1,6}", s in secret()) {
        let v = serde_json::json!({ key.clone(): [s] });
        let out = Redactor::builtin().redact_json(&v);
        let escaped = key.replace('~', "~0").replace('/', "~1");
        prop_assert_eq!(out.findings[0].pointer.clone(), format!("/{escaped}/0"));
    }
}

#[test]
fn long_keys_are_checked_whole() {
    let long = format!("{}_password", "x".repeat(300));
    assert!(cavra_redact::is_sensitive_key(&long));
    assert!(!cavra_redact::is_sensitive_key(&format!("{long}_count")));
    assert!(!cavra_redact::is_sensitive_key(&"y".repeat(300)));
}

#[test]
fn a_pack_includes_the_builtin_rules_unless_it_disables_one() {
    let builtin = Redactor::builtin();
    let plain = Redactor::for_pack(&[], &[]).unwrap();
    let extra = Redactor::for_pack(
        &[],
        &[cavra_redact::RuleSpec {
            id: "acme-key".into(),
            description: String::new(),
            regex: r"acme_[a-z0-9]{20}".into(),
            keywords: vec!["acme_".into()],
            min_entropy: None,
        }],
    )
    .unwrap();
    let fewer = Redactor::for_pack(&["github-token".to_string()], &[]).unwrap();
    assert!(plain.includes(builtin) && builtin.includes(&plain));
    assert!(extra.includes(builtin));
    assert!(!builtin.includes(&extra));
    assert!(!fewer.includes(builtin));
}

//! Hostile or mangled input never panics, and the digest does not depend on how YAML is laid out.

use cavra_policy::builtin::builtin_packs;
use cavra_policy::testfile::parse_test_file;
use cavra_policy::{load_pack_str, parse_document};
use proptest::prelude::*;
use std::path::Path;

const VALID: &str = "\
metadata: {id: p, title: P, version: 1.0.0}
filesystem:
  block_read: [.env, \"**/secrets.*\"]
  require_approval_write: [\"iam/**\"]
commands:
  allow: [\"ls*\"]
  block: [\"terraform apply*\"]
  block_classes: [remote_code_execution]
git: {block_push_branches: [main], block_force_push: true}
mcp: {block_unknown_servers: true, allowed_servers: [github]}
defaults:
  execute_command: {decision: require_approval}
rules:
  - id: r
    action: [read_file]
    paths: [\".env.*\"]
    except: [\".env.example\"]
    decision: block
tests:
  - {name: t, request: {action: read_file, target: .env}, expect: block}
";

/// Text edits that keep most of the document's structure.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Replace(usize, char),
    Duplicate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let snippet = prop_oneof![
        Just(":".to_string()),
        Just("- ".to_string()),
        Just("[".to_string()),
        Just("{".to_string()),
        Just("\n  ".to_string()),
        Just("\t".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("!tag ".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("---\n".to_string()),
        Just("<<: ".to_string()),
        Just("~".to_string()),
        Just("\u{feff}".to_string()),
        "[a-z_]{1,8}",
        any::<String>(),
    ];
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), snippet).prop_map(|(a, s)| Edit::Insert(a, s)),
        (any::<usize>(), any::<char>()).prop_map(|(a, c)| Edit::Replace(a, c)),
        (any::<usize>(), 1usize..60).prop_map(|(a, n)| Edit::Duplicate(a, n)),
    ]
}

fn boundary(text: &str, at: usize) -> usize {
    let mut i = at % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut t = text.to_string();
    for e in edits {
        match e {
            Edit::Delete(a, n) => {
                let start = boundary(&t, *a);
                let end = boundary(&t, start.saturating_add(*n).min(t.len()));
                if end > start {
                    t.replace_range(start..end, "");
                }
            }
            Edit::Insert(a, s) => {
                let at = boundary(&t, *a);
                t.insert_str(at, s);
            }
            Edit::Replace(a, c) => {
                let at = boundary(&t, *a);
                if let Some(old) = t[at..].chars().next() {
                    t.replace_range(at..at + old.len_utf8(), &c.to_string());
                }
            }
            Edit::Duplicate(a, n) => {
                let start = boundary(&t, *a);
                let end = boundary(&t, start.saturating_add(*n).min(t.len()));
                let copy = t[start..end].to_string();
                t.insert_str(end, &copy);
            }
        }
    }
    t
}

fn check_error_place(text: &str, e: &cavra_policy::PolicyError) {
    if let Some(loc) = &e.location {
        assert!(loc.line >= 1 && loc.column >= 1, "{e}");
        if let Some(offset) = loc.offset {
            assert!(offset <= text.len(), "{e}");
        }
    }
}

#[test]
fn the_base_document_is_valid() {
    parse_document(VALID, "p.yaml").expect("valid");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        if let Err(e) = parse_document(&text, "x.yaml") {
            check_error_place(&text, &e);
        }
        let _ = parse_test_file(&text, "x.yaml");
    }

    #[test]
    fn yamlish_text_never_panics(text in "[a-z_:\\-\\[\\]{}, \n&*!'\"#.|>]{0,200}") {
        if let Err(e) = parse_document(&text, "x.yaml") {
            check_error_place(&text, &e);
        }
        let _ = parse_test_file(&text, "x.yaml");
    }

    #[test]
    fn mutated_packs_never_panic(edits in proptest::collection::vec(edit(), 1..6)) {
        let text = apply(VALID, &edits);
        match parse_document(&text, "x.yaml") {
            Ok(_) => {
                let _ = load_pack_str(&text, "x.yaml", Path::new("/nonexistent"));
            }
            Err(e) => check_error_place(&text, &e),
        }
        let wrapped = format!("policy:\n{}\ncases: []\n", text.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"));
        if let Ok(file) = parse_test_file(&wrapped, "t.yaml") {
            let _ = file.resolve_policy(Path::new("/nonexistent"));
        }
    }

    #[test]
    fn mutated_builtins_never_panic(which in 0usize..3, edits in proptest::collection::vec(edit(), 1..4)) {
        let packs = builtin_packs();
        let pack = &packs[which % packs.len()];
        let text = apply(pack.yaml, &edits);
        if let Err(e) = parse_document(&text, "x.yaml") {
            check_error_place(&text, &e);
        }
    }

    #[test]
    fn digest_ignores_section_order(order in Just(()).prop_perturb(|_, mut rng| {
        let mut idx: Vec<usize> = (0..6).collect();
        for i in (1..idx.len()).rev() {
            let j = (rng.next_u32() as usize) % (i + 1);
            idx.swap(i, j);
        }
        idx
    })) {
        let sections = [
            "metadata:\n  version: 1.0.0\n  id: p\n",
            "filesystem:\n  block_write: [\"ci/**\"]\n  block_read: [.env]\n",
            "commands: {block: [\"rm -rf*\"], allow: [\"ls*\"]}\n",
            "git: {block_force_push: true, block_push_branches: [main]}\n",
            "defaults:\n  read_file: {decision: allow}\n  execute_command: {approver_group: Owners, decision: require_approval}\n",
            "tests:\n  - {request: {target: .env, action: read_file}, name: t, expect: block}\n",
        ];
        let canonical: String = sections.concat();
        let shuffled: String = order.iter().map(|&i| sections[i]).collect();
        let a = load_pack_str(&canonical, "a.yaml", Path::new(".")).expect("valid").digest;
        let b = load_pack_str(&shuffled, "b.yaml", Path::new(".")).expect("valid").digest;
        prop_assert_eq!(a, b);
    }
}

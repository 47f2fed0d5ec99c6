//! The `redaction:` section: strict schema, located errors, inheritance, digest, and the
//! compiled pack's rule set.

use cavra_policy::error::PolicyErrorKind;
use cavra_policy::{PolicyError, compile, load_pack, load_pack_str, parse_document};
use std::path::Path;

const PACK: &str = "\
metadata: {id: acme, version: 1.0.0}
redaction:
  rules:
    - id: acme-internal-token
      description: ACME internal service token
      regex: 'ACME-[0-9A-F]{32}'
      keywords: [ACME-]
    - id: acme-session
      regex: 'sess_(?P<secret>[a-z0-9]{24,})'
      keywords: [sess_]
      min_entropy: 3.0
  disable: [stripe-secret-key]
";

fn err(text: &str) -> PolicyError {
    match parse_document(text, "pack.yaml") {
        Ok(doc) => panic!("expected an error, got {doc:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_at(e: &PolicyError, kind: PolicyErrorKind, line: usize, column: usize) {
    assert_eq!(e.kind, kind, "{e}");
    let loc = e
        .location
        .clone()
        .unwrap_or_else(|| panic!("no location: {e}"));
    assert_eq!(
        (loc.file.as_str(), loc.line, loc.column),
        ("pack.yaml", line, column),
        "{e}"
    );
}

#[test]
fn a_valid_section_compiles_into_the_pack_redactor() {
    let resolved = load_pack_str(PACK, "<t>", Path::new("/")).expect("valid pack");
    let doc = &resolved.document.redaction;
    assert_eq!(doc.rules.len(), 2);
    assert_eq!(doc.rules[1].min_entropy, Some(3.0));
    assert_eq!(doc.disable, vec!["stripe-secret-key".to_string()]);
    let pack = compile(&resolved).expect("compiles");
    let r = pack.redactor();
    let token = format!("ACME-{}", "0123456789ABCDEF".repeat(2));
    let out = r.redact_text(&format!("deployctl push {token}"));
    assert_eq!(out.value, "deployctl push [REDACTED:acme-internal-token]");
    assert_eq!(out.findings[0].rule, "acme-internal-token");
    // Built-ins still apply; the disabled one does not.
    let gh = format!("ghp_{}", "aB3".repeat(12));
    assert!(!r.redact_text(&gh).value.contains(&gh));
    assert!(!r.rules().any(|s| s.id == "stripe-secret-key"));
    // The named group is what is masked.
    let out = r.redact_text("cookie sess_k3j9x8v7b6n5m4q2w1e0r9t8y7");
    assert_eq!(out.value, "cookie sess_[REDACTED:acme-session]");
}

#[test]
fn a_pack_without_the_section_uses_the_builtin_set() {
    let resolved = load_pack_str("metadata: {id: t, version: '1'}\n", "<t>", Path::new("/"))
        .expect("valid pack");
    let pack = compile(&resolved).expect("compiles");
    assert!(std::ptr::eq(
        pack.redactor(),
        cavra_redact::Redactor::builtin()
    ));
}

#[test]
fn the_section_is_part_of_the_digest_and_absent_sections_do_not_change_it() {
    let base = "metadata: {id: t, version: '1'}\n";
    let a = load_pack_str(base, "<t>", Path::new("/")).expect("a");
    let b = load_pack_str(&format!("{base}redaction: {{}}\n"), "<t>", Path::new("/")).expect("b");
    assert_eq!(a.digest, b.digest, "an empty section is no section");
    let c = load_pack_str(
        &format!("{base}redaction: {{disable: [jwt]}}\n"),
        "<t>",
        Path::new("/"),
    )
    .expect("c");
    assert_ne!(a.digest, c.digest);
    let d = load_pack_str(PACK, "<t>", Path::new("/")).expect("d");
    let e = load_pack_str(&PACK.replace("{32}", "{40}"), "<t>", Path::new("/")).expect("e");
    assert_ne!(d.digest, e.digest, "a rule's expression is in the digest");
}

#[test]
fn a_bad_expression_is_located() {
    let text = "redaction:\n  rules:\n    - id: x\n      regex: 'ACME-[0-9'\n";
    let e = err(text);
    assert_at(&e, PolicyErrorKind::BadPattern, 4, 14);
    assert!(e.message.contains("redaction.rules[0].regex"), "{e}");
    assert!(!e.message.contains('\n'), "{e}");
}

#[test]
fn a_duplicate_id_is_located_with_the_first() {
    let text = "redaction:\n  rules:\n    - {id: x, regex: a}\n    - {id: x, regex: b}\n";
    let e = err(text);
    assert_at(&e, PolicyErrorKind::Invalid, 4, 12);
    assert_eq!(
        e.help.as_deref(),
        Some("redaction rule ids must be unique; the first `x` is on line 3")
    );
}

#[test]
fn a_builtin_id_cannot_be_reused() {
    let e = err("redaction:\n  rules:\n    - {id: jwt, regex: a}\n");
    assert_at(&e, PolicyErrorKind::Invalid, 3, 12);
    let e = err("redaction:\n  rules:\n    - {id: sensitive-key, regex: a}\n");
    assert_at(&e, PolicyErrorKind::Invalid, 3, 12);
}

#[test]
fn unknown_keys_are_rejected_with_a_suggestion() {
    let e = err("redaction:\n  rules:\n    - {id: x, regexp: a}\n");
    assert_at(&e, PolicyErrorKind::UnknownKey, 3, 15);
    assert_eq!(e.help.as_deref(), Some("did you mean `regex`?"));
    let e = err("redaction:\n  disabled: [jwt]\n");
    assert_at(&e, PolicyErrorKind::UnknownKey, 2, 3);
    assert_eq!(e.help.as_deref(), Some("did you mean `disable`?"));
    let e = err("redaction:\n  rules:\n    - {id: x}\n");
    assert!(
        e.message.contains("missing the required key `regex`"),
        "{e}"
    );
}

#[test]
fn disabling_an_unknown_builtin_is_an_error() {
    let e = err("redaction:\n  disable: [jwt, github-tokn]\n");
    assert_at(&e, PolicyErrorKind::InvalidValue, 2, 18);
    assert_eq!(e.help.as_deref(), Some("did you mean `github-token`?"));
}

#[test]
fn bad_fields_are_located() {
    let e = err("redaction:\n  rules:\n    - {id: 'a b', regex: a}\n");
    assert_at(&e, PolicyErrorKind::Invalid, 3, 12);
    let e = err("redaction:\n  rules:\n    - {id: x, regex: a, min_entropy: 12}\n");
    assert_at(&e, PolicyErrorKind::InvalidValue, 3, 38);
    let e = err("redaction:\n  rules:\n    - {id: x, regex: a, min_entropy: high}\n");
    assert_at(&e, PolicyErrorKind::InvalidValue, 3, 38);
    let e = err("redaction:\n  rules:\n    - {id: x, regex: a, keywords: ['']}\n");
    assert_eq!(e.kind, PolicyErrorKind::InvalidValue, "{e}");
}

#[test]
fn children_append_replace_and_add_disables() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("parent.yaml"),
        "metadata: {id: parent, version: '1'}\nredaction:\n  rules:\n    - {id: a, regex: 'AAA[0-9]+'}\n    - {id: b, regex: 'BBB[0-9]+'}\n  disable: [jwt]\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("child.yaml"),
        "metadata: {id: child, version: '1', inherits: [parent.yaml]}\nredaction:\n  rules:\n    - {id: a, regex: 'AAA[0-9a-z]+'}\n    - {id: c, regex: 'CCC[0-9]+'}\n  disable: [stripe-secret-key]\n",
    )
    .expect("write");
    let resolved = load_pack("child.yaml", dir.path()).expect("resolves");
    let r = &resolved.document.redaction;
    let ids: Vec<(&str, &str)> = r
        .rules
        .iter()
        .map(|s| (s.id.as_str(), s.regex.as_str()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("a", "AAA[0-9a-z]+"),
            ("b", "BBB[0-9]+"),
            ("c", "CCC[0-9]+")
        ]
    );
    assert_eq!(
        r.disable,
        vec!["jwt".to_string(), "stripe-secret-key".to_string()]
    );
    let pack = compile(&resolved).expect("compiles");
    assert_eq!(
        pack.redactor().redact_text("x AAA12ab BBB3 CCC4").value,
        "x [REDACTED:a] [REDACTED:b] [REDACTED:c]"
    );
}

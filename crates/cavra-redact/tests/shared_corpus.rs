//! The shared corpus (`cavra_redact::corpus`): every secret is masked wherever it is put (plain
//! text, a JSON string, under a secret-naming key), the findings name the expected rule and
//! the pointer; ordinary text is untouched; a pack's rule set adds and disables rules.

use cavra_redact::{Redactor, RuleSpec, corpus};
use serde_json::json;

fn survivors<'a>(case: &'a corpus::Case, out: &str) -> Vec<&'a str> {
    case.secrets
        .iter()
        .filter(|s| out.contains(s.as_str()))
        .map(String::as_str)
        .collect()
}

#[test]
fn every_corpus_secret_is_masked_in_text() {
    let cases = corpus::secrets();
    assert!(cases.len() >= 35, "corpus too small: {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let out = Redactor::builtin().redact_text(&case.text);
        let left = survivors(case, &out.value);
        if !left.is_empty() {
            failures.push(format!(
                "{}: {left:?} survived in {:?}",
                case.name, out.value
            ));
        }
        let rules: Vec<&str> = out.findings.iter().map(|f| f.rule.as_str()).collect();
        if !case.rules.iter().any(|r| rules.contains(r)) {
            failures.push(format!(
                "{}: expected one of {:?}, got {rules:?}",
                case.name, case.rules
            ));
        }
        if out.findings.iter().any(|f| !f.pointer.is_empty()) {
            failures.push(format!(
                "{}: text findings carry the pointer \"\"",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_corpus_secret_is_masked_in_json_with_its_pointer() {
    for case in corpus::secrets() {
        let value = json!({
            "tool_input": {"command": case.text, "description": "run it"},
            "list": ["ok", case.text],
        });
        let out = Redactor::builtin().redact_json(&value);
        let text = out.value.to_string();
        assert!(survivors(&case, &text).is_empty(), "{}: {text}", case.name);
        for pointer in ["/tool_input/command", "/list/1"] {
            assert!(
                out.findings
                    .iter()
                    .any(|f| f.pointer == pointer && case.rules.contains(&f.rule.as_str())),
                "{}: no finding at {pointer}: {:?}",
                case.name,
                out.findings
            );
        }
        assert_eq!(out.value["tool_input"]["description"], "run it");
        assert_eq!(out.value["list"][0], "ok");
    }
}

#[test]
fn redaction_is_idempotent_on_the_corpus() {
    for case in corpus::secrets() {
        let once = Redactor::builtin().redact_text(&case.text).value;
        let twice = Redactor::builtin().redact_text(&once);
        assert_eq!(twice.value, once, "{}", case.name);
        assert!(
            twice.findings.is_empty(),
            "{}: {:?}",
            case.name,
            twice.findings
        );
    }
}

#[test]
fn ordinary_text_is_untouched() {
    for text in corpus::harmless() {
        let out = Redactor::builtin().redact_text(&text);
        assert_eq!(out.value, text, "{:?}", out.findings);
        assert!(out.findings.is_empty(), "{text}: {:?}", out.findings);
    }
}

fn custom_rules() -> Vec<RuleSpec> {
    vec![RuleSpec {
        id: "acme-internal-token".into(),
        description: "ACME internal service token".into(),
        regex: "ACME-[0-9A-F]{32}".into(),
        keywords: vec!["ACME-".into()],
        min_entropy: None,
    }]
}

#[test]
fn a_pack_rule_set_adds_rules_and_keeps_the_built_ins() {
    let custom = corpus::custom_case();
    assert!(
        !Redactor::builtin()
            .redact_text(&custom.text)
            .findings
            .iter()
            .any(|f| f.rule == "acme-internal-token"),
        "built-ins alone must not know the custom format"
    );
    let r = Redactor::for_pack(&[], &custom_rules()).expect("rule set");
    let out = r.redact_text(&custom.text);
    assert!(survivors(&custom, &out.value).is_empty(), "{}", out.value);
    assert_eq!(out.findings[0].rule, "acme-internal-token");
    assert!(out.value.contains("[REDACTED:acme-internal-token]"));
    for case in corpus::secrets() {
        let out = r.redact_text(&case.text);
        assert!(survivors(&case, &out.value).is_empty(), "{}", case.name);
    }
}

#[test]
fn a_pack_rule_set_can_disable_a_built_in() {
    let r = Redactor::for_pack(&["jwt".to_string()], &[]).expect("rule set");
    assert!(!r.rules().any(|s| s.id == "jwt"));
    assert_eq!(r.rules().count(), Redactor::builtin().rules().count() - 1);
}

#[test]
fn bad_pack_rule_sets_are_refused() {
    use cavra_redact::RedactError;
    let e = Redactor::for_pack(&["no-such-rule".to_string()], &[]).unwrap_err();
    assert!(matches!(e, RedactError::UnknownBuiltin(_)), "{e}");
    let mut rules = custom_rules();
    rules.push(rules[0].clone());
    let e = Redactor::for_pack(&[], &rules).unwrap_err();
    assert!(matches!(e, RedactError::DuplicateId(_)), "{e}");
    let mut rules = custom_rules();
    rules[0].id = "github-token".into();
    let e = Redactor::for_pack(&[], &rules).unwrap_err();
    assert!(matches!(e, RedactError::ReservedId(_)), "{e}");
    rules[0].id = "sensitive-key".into();
    assert!(Redactor::for_pack(&[], &rules).is_err());
    rules[0].id = "has space".into();
    let e = Redactor::for_pack(&[], &rules).unwrap_err();
    assert!(matches!(e, RedactError::BadId(_)), "{e}");
    let mut rules = custom_rules();
    rules[0].min_entropy = Some(9.0);
    assert!(matches!(
        Redactor::for_pack(&[], &rules).unwrap_err(),
        RedactError::BadEntropy(_)
    ));
    let mut rules = custom_rules();
    rules[0].keywords = vec![String::new()];
    assert!(matches!(
        Redactor::for_pack(&[], &rules).unwrap_err(),
        RedactError::EmptyKeyword(_)
    ));
    let mut rules = custom_rules();
    rules[0].regex = "ACME-[".into();
    assert!(matches!(
        cavra_redact::check_rule(&rules[0]).unwrap_err(),
        RedactError::BadRegex { .. }
    ));
}

#[test]
fn a_rule_whose_expression_cannot_compile_masks_the_whole_string() {
    // Packs are validated when they load; should a broken expression get through anyway
    // (a tampered cache entry), redaction fails closed.
    let mut rules = custom_rules();
    rules[0].regex = "ACME-[".into();
    let r = Redactor::for_pack(&[], &rules).expect("fields are fine");
    let out = r.redact_text("deploy ACME-0123 now");
    assert_eq!(out.value, "[REDACTED:acme-internal-token]");
    assert_eq!(out.findings[0].rule, "acme-internal-token");
    // Text without the keyword never tries the rule.
    assert_eq!(r.redact_text("cargo test").value, "cargo test");
}

#[test]
fn the_policy_docs_name_every_builtin_rule() {
    let docs = include_str!("../../../docs/policy.md");
    for id in cavra_redact::builtin_ids() {
        assert!(
            docs.contains(&format!("`{id}`")),
            "docs/policy.md does not name `{id}`"
        );
    }
}

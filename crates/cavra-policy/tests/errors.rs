//! Every kind of load error, with its exact place and suggestion.

use cavra_policy::error::PolicyErrorKind;
use cavra_policy::{PolicyError, parse_document};

fn err(text: &str) -> PolicyError {
    match parse_document(text, "pack.yaml") {
        Ok(doc) => panic!("expected an error, got {doc:?}"),
        Err(e) => e,
    }
}

/// Asserts kind, line, column and (when given) the help text.
#[track_caller]
fn assert_err(
    text: &str,
    kind: PolicyErrorKind,
    line: usize,
    column: usize,
    help: Option<&str>,
) -> PolicyError {
    let e = err(text);
    assert_eq!(e.kind, kind, "{e}");
    let loc = e
        .location
        .clone()
        .unwrap_or_else(|| panic!("no location: {e}"));
    assert_eq!(loc.file, "pack.yaml");
    assert_eq!((loc.line, loc.column), (line, column), "{e}");
    if let Some(help) = help {
        assert_eq!(e.help.as_deref(), Some(help), "{e}");
    }
    assert!(e.source_text.is_some(), "{e}");
    // The offset, when known, points at the same place as line and column.
    if let (Some(offset), Some(src)) = (loc.offset, e.source_text.as_deref()) {
        let before = &src[..offset];
        assert_eq!(before.matches('\n').count() + 1, line, "{e}");
    }
    e
}

const RULE_HEAD: &str = "rules:\n  - id: r1\n";

#[test]
fn syntax_error() {
    let e = assert_err(
        "metadata: {id: x\nfilesystem: {}\n",
        PolicyErrorKind::Syntax,
        2,
        11,
        None,
    );
    assert!(!e.message.contains(" at line "), "{}", e.message);
}

#[test]
fn tab_indentation_is_a_syntax_error() {
    let e = err("filesystem:\n\tblock_read: [x]\n");
    assert_eq!(e.kind, PolicyErrorKind::Syntax, "{e}");
    assert_eq!(e.location.map(|l| l.line), Some(2));
}

#[test]
fn unknown_key_with_suggestion() {
    let e = assert_err(
        "metadata: {id: x}\nfilesystem:\n  block_reads: [.env]\n",
        PolicyErrorKind::UnknownKey,
        3,
        3,
        Some("did you mean `block_read`?"),
    );
    assert!(e.message.contains("`block_reads`"), "{e}");
    assert!(e.message.contains("`filesystem`"), "{e}");
    assert_eq!(
        e.to_string(),
        "pack.yaml:3:3: unknown key `block_reads` in `filesystem` (did you mean `block_read`?)"
    );
}

#[test]
fn unknown_top_level_key() {
    assert_err(
        "metadata: {id: x}\nrule: []\n",
        PolicyErrorKind::UnknownKey,
        2,
        1,
        Some("did you mean `rules`?"),
    );
}

#[test]
fn unknown_key_without_a_close_match_lists_the_keys() {
    let e = assert_err(
        "git: {zzzzzzzzzzzz: true}\n",
        PolicyErrorKind::UnknownKey,
        1,
        7,
        None,
    );
    assert_eq!(
        e.help.as_deref(),
        Some(
            "expected one of: block_push_branches, block_force_push, require_pull_request, require_ai_attestation"
        )
    );
}

#[test]
fn unknown_key_in_a_rule() {
    let text = format!("{RULE_HEAD}    action: read_file\n    path: [x]\n    decision: block\n");
    assert_err(
        &text,
        PolicyErrorKind::UnknownKey,
        4,
        5,
        Some("did you mean `paths`?"),
    );
}

#[test]
fn wrong_type_bool() {
    // YAML 1.2: `yes` is a string, not a boolean.
    let e = assert_err(
        "git:\n  block_force_push: yes\n",
        PolicyErrorKind::InvalidValue,
        2,
        21,
        None,
    );
    assert!(
        e.message
            .contains("`git.block_force_push` must be `true` or `false`, found a string"),
        "{e}"
    );
}

#[test]
fn wrong_type_list() {
    let e = assert_err(
        "filesystem:\n  block_read: .env\n",
        PolicyErrorKind::InvalidValue,
        2,
        15,
        None,
    );
    assert!(e.message.contains("must be a list of strings"), "{e}");
}

#[test]
fn empty_list_value_is_a_type_error() {
    // A missing value is reported right after its key.
    assert_err(
        "filesystem:\n  block_read:\n",
        PolicyErrorKind::InvalidValue,
        2,
        13,
        None,
    );
}

#[test]
fn wrong_type_section() {
    let e = assert_err(
        "commands: [ls]\n",
        PolicyErrorKind::InvalidValue,
        1,
        11,
        None,
    );
    assert!(e.message.contains("`commands` must be a mapping"), "{e}");
}

#[test]
fn nested_list_item_is_a_type_error() {
    assert_err(
        "commands:\n  allow:\n    - ls\n    - {x: 1}\n",
        PolicyErrorKind::InvalidValue,
        4,
        7,
        None,
    );
}

#[test]
fn bad_decision_word() {
    let text = format!("{RULE_HEAD}    action: read_file\n    paths: [x]\n    decision: blok\n");
    let e = assert_err(
        &text,
        PolicyErrorKind::InvalidValue,
        5,
        15,
        Some("did you mean `block`?"),
    );
    assert!(e.message.contains("unknown decision `blok`"), "{e}");
}

#[test]
fn decision_that_is_not_a_word() {
    let text = format!("{RULE_HEAD}    action: read_file\n    paths: [x]\n    decision: 3\n");
    let e = assert_err(&text, PolicyErrorKind::InvalidValue, 5, 15, None);
    assert!(e.message.contains("found a number `3`"), "{e}");
}

#[test]
fn bad_action_word_in_a_list() {
    let text = format!(
        "{RULE_HEAD}    action: [read_file, write_fille]\n    paths: [x]\n    decision: block\n"
    );
    assert_err(
        &text,
        PolicyErrorKind::InvalidValue,
        3,
        25,
        Some("did you mean `write_file`?"),
    );
}

#[test]
fn bad_action_word_alone() {
    let text =
        format!("{RULE_HEAD}    action: exec_command\n    commands: [x]\n    decision: block\n");
    assert_err(
        &text,
        PolicyErrorKind::InvalidValue,
        3,
        13,
        Some("did you mean `execute_command`?"),
    );
}

#[test]
fn empty_action_list() {
    let text = format!("{RULE_HEAD}    action: []\n    paths: [x]\n    decision: block\n");
    assert_err(&text, PolicyErrorKind::InvalidValue, 3, 13, None);
}

#[test]
fn bad_mode_word() {
    assert_err(
        "metadata:\n  id: x\n  mode: enforcing\n",
        PolicyErrorKind::InvalidValue,
        3,
        9,
        Some("did you mean `enforce`?"),
    );
}

#[test]
fn bad_severity_word() {
    let text = format!(
        "{RULE_HEAD}    action: read_file\n    paths: [x]\n    decision: block\n    severity: hihg\n"
    );
    assert_err(
        &text,
        PolicyErrorKind::InvalidValue,
        6,
        15,
        Some("did you mean `high`?"),
    );
}

#[test]
fn bad_defaults_action() {
    assert_err(
        "defaults:\n  execute_comand: {decision: block}\n",
        PolicyErrorKind::UnknownKey,
        2,
        3,
        Some("did you mean `execute_command`?"),
    );
}

#[test]
fn bad_defaults_decision() {
    assert_err(
        "defaults:\n  execute_command: {decision: require_aproval}\n",
        PolicyErrorKind::InvalidValue,
        2,
        31,
        Some("did you mean `require_approval`?"),
    );
}

#[test]
fn missing_required_key() {
    let text = format!("{RULE_HEAD}    action: read_file\n    paths: [x]\n");
    let e = assert_err(&text, PolicyErrorKind::InvalidValue, 2, 5, None);
    assert!(
        e.message.contains("missing the required key `decision`"),
        "{e}"
    );
}

#[test]
fn bad_path_glob() {
    let e = assert_err(
        "filesystem:\n  block_read:\n    - ok\n    - \"src/[a\"\n",
        PolicyErrorKind::BadPattern,
        4,
        7,
        None,
    );
    assert!(e.message.contains("`filesystem.block_read[1]`"), "{e}");
    assert!(e.message.contains("not closed"), "{e}");
}

#[test]
fn bad_command_glob() {
    assert_err(
        "commands:\n  block: [\"terraform {apply\"]\n",
        PolicyErrorKind::BadPattern,
        2,
        11,
        None,
    );
}

#[test]
fn bad_glob_in_a_rule() {
    let text = format!(
        "{RULE_HEAD}    action: mcp_tool_call\n    servers: [\"gh[\"]\n    decision: block\n"
    );
    assert_err(&text, PolicyErrorKind::BadPattern, 4, 15, None);
}

#[test]
fn empty_pattern() {
    assert_err(
        "network:\n  blocked_domains: [\"\"]\n",
        PolicyErrorKind::BadPattern,
        2,
        21,
        None,
    );
}

#[test]
fn bad_risk_class() {
    let e = assert_err(
        "commands:\n  block_classes: [remote_code_execution, privilege_escalaton]\n",
        PolicyErrorKind::InvalidValue,
        2,
        42,
        Some("did you mean `privilege_escalation`?"),
    );
    assert!(
        e.message
            .contains("unknown risk class `privilege_escalaton`"),
        "{e}"
    );
}

#[test]
fn bad_risk_class_in_a_rule() {
    let text = format!(
        "{RULE_HEAD}    action: execute_command\n    classes: [recursive_delet]\n    decision: block\n"
    );
    assert_err(
        &text,
        PolicyErrorKind::InvalidValue,
        4,
        15,
        Some("did you mean `recursive_delete`?"),
    );
}

#[test]
fn duplicate_rule_ids() {
    let text = "rules:\n  - {id: same, action: read_file, paths: [a], decision: block}\n  - {id: same, action: read_file, paths: [b], decision: warn}\n";
    let e = assert_err(text, PolicyErrorKind::Invalid, 3, 10, None);
    assert!(e.message.contains("`same`"), "{e}");
    assert!(
        e.help.as_deref().is_some_and(|h| h.contains("line 2")),
        "{e}"
    );
}

#[test]
fn empty_rule_id() {
    assert_err(
        "rules:\n  - {id: \"\", action: read_file, paths: [a], decision: block}\n",
        PolicyErrorKind::Invalid,
        2,
        10,
        None,
    );
}

#[test]
fn reserved_rule_id() {
    assert_err(
        "rules:\n  - {id: filesystem.read.block, action: read_file, paths: [a], decision: allow}\n",
        PolicyErrorKind::Invalid,
        2,
        10,
        None,
    );
}

#[test]
fn pattern_field_must_fit_the_action() {
    let text =
        format!("{RULE_HEAD}    action: execute_command\n    paths: [a]\n    decision: block\n");
    let e = assert_err(
        &text,
        PolicyErrorKind::Invalid,
        4,
        12,
        Some("`paths` is for read_file, write_file or delete_file"),
    );
    assert!(e.message.contains("`paths` does not apply"), "{e}");
}

#[test]
fn domains_need_network_request() {
    let text = format!(
        "{RULE_HEAD}    action: [read_file]\n    paths: [a]\n    domains: [x.com]\n    decision: block\n"
    );
    assert_err(
        &text,
        PolicyErrorKind::Invalid,
        5,
        14,
        Some("`domains` is for network_request"),
    );
}

#[test]
fn several_actions_several_fields() {
    let text = format!(
        "{RULE_HEAD}    action: [read_file, execute_command]\n    paths: [a]\n    commands: [\"cat a\"]\n    decision: block\n"
    );
    parse_document(&text, "pack.yaml").expect("each field fits one of the actions");
}

#[test]
fn rule_needs_a_matcher() {
    let text = format!("{RULE_HEAD}    action: write_file\n    decision: block\n");
    let e = assert_err(&text, PolicyErrorKind::Invalid, 2, 5, None);
    assert!(e.message.contains("nothing to match"), "{e}");
}

#[test]
fn pull_request_rules_need_no_pattern_and_conditions_are_matchers() {
    let text = "rules:\n  - {id: pr, action: pull_request, decision: require_approval, approver_group: Leads}\n  - {id: prod, action: write_file, when: {environment: [prod]}, decision: require_approval}\n";
    let doc = parse_document(text, "pack.yaml").expect("valid");
    assert_eq!(doc.rules.len(), 2);
}

#[test]
fn except_needs_patterns() {
    let text = format!(
        "{RULE_HEAD}    action: mcp_tool_call\n    tools: [delete_*]\n    except: [x]\n    decision: block\n"
    );
    assert_err(&text, PolicyErrorKind::Invalid, 5, 13, None);
}

#[test]
fn bad_except_glob() {
    let text = format!(
        "{RULE_HEAD}    action: read_file\n    paths: [\".env.*\"]\n    except: [\".env.{{a\"]\n    decision: block\n"
    );
    assert_err(&text, PolicyErrorKind::BadPattern, 5, 14, None);
}

#[test]
fn unknown_git_operation() {
    let text = format!(
        "{RULE_HEAD}    action: git_operation\n    operations: [psuh]\n    decision: block\n"
    );
    assert_err(
        &text,
        PolicyErrorKind::InvalidValue,
        4,
        18,
        Some("did you mean `push`?"),
    );
}

#[test]
fn bad_condition_glob() {
    let text = format!(
        "{RULE_HEAD}    action: write_file\n    when: {{branch: [\"[\"]}}\n    decision: block\n"
    );
    assert_err(&text, PolicyErrorKind::BadPattern, 4, 21, None);
}

#[test]
fn unknown_condition_key() {
    let text = format!(
        "{RULE_HEAD}    action: write_file\n    paths: [a]\n    when: {{enviroment: [prod]}}\n    decision: block\n"
    );
    assert_err(
        &text,
        PolicyErrorKind::UnknownKey,
        5,
        12,
        Some("did you mean `environment`?"),
    );
}

#[test]
fn test_case_needs_an_action() {
    let text = "tests:\n  - name: t\n    request: {target: .env}\n    expect: block\n";
    let e = assert_err(text, PolicyErrorKind::InvalidValue, 3, 14, None);
    assert!(e.message.contains("no `action`"), "{e}");
}

#[test]
fn test_case_bad_action() {
    let text =
        "tests:\n  - name: t\n    request: {action: read, target: .env}\n    expect: block\n";
    assert_err(text, PolicyErrorKind::InvalidValue, 3, 23, None);
}

#[test]
fn test_case_bad_expectation() {
    let text = "tests:\n  - name: t\n    request: {action: read_file, target: .env}\n    expect: [block, deny]\n";
    assert_err(text, PolicyErrorKind::InvalidValue, 4, 21, None);
}

#[test]
fn test_case_unknown_key() {
    let text = "tests:\n  - name: t\n    request: {action: read_file, target: .env}\n    expected: block\n";
    assert_err(
        text,
        PolicyErrorKind::UnknownKey,
        4,
        5,
        Some("did you mean `expect`?"),
    );
}

#[test]
fn duplicate_keys_are_rejected() {
    let e = err("metadata: {id: a}\nmetadata: {id: b}\n");
    assert_eq!(
        e.location.map(|l| l.line),
        Some(2),
        "duplicate key reported on its second occurrence"
    );
}

#[test]
fn merge_keys_are_rejected() {
    let e = err("x: &a {block_read: [a]}\nfilesystem:\n  <<: *a\n");
    assert!(e.location.is_some(), "{e}");
}

#[test]
fn empty_file() {
    for text in ["", "# nothing\n", "---\n"] {
        let e = err(text);
        assert_eq!(e.kind, PolicyErrorKind::Invalid, "{e}");
        assert_eq!(e.location.map(|l| (l.line, l.column)), Some((1, 1)));
    }
}

#[test]
fn not_a_mapping() {
    assert_err("- a\n- b\n", PolicyErrorKind::InvalidValue, 1, 1, None);
}

#[test]
fn multiple_documents_are_rejected() {
    err("metadata: {id: a}\n---\nmetadata: {id: b}\n");
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let big = format!(
        "metadata: {{id: x, description: \"{}\"}}\n",
        "a".repeat(cavra_policy::load::MAX_POLICY_BYTES)
    );
    let e = err(&big);
    assert_eq!(e.kind, PolicyErrorKind::Invalid, "{e}");
}

#[test]
fn alias_bomb_is_stopped() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    // Expanded, this is 10^12 scalars: a loader that did not stop it would never return (and
    // the run would fail on its time limit), so reaching the error at all is the proof. No
    // wall-clock assertion: it would fail on a loaded machine, not on a wrong loader.
    let e = err(&text);
    assert!(
        matches!(
            e.kind,
            PolicyErrorKind::Syntax | PolicyErrorKind::Invalid | PolicyErrorKind::UnknownKey
        ),
        "{e}"
    );
}

#[test]
fn deep_nesting_is_stopped() {
    let text = format!("metadata: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    err(&text);
    let text = format!(
        "tests:\n  - name: t\n    request: {{action: read_file, x: {}{}}}\n    expect: allow\n",
        "{a: ".repeat(500),
        "}".repeat(500)
    );
    err(&text);
}

#[test]
fn unknown_tags_are_rejected() {
    err("metadata: !custom {id: x}\n");
}

#[test]
fn a_complete_pack_parses() {
    let text = r#"
metadata:
  id: acme
  title: ACME
  description: d
  version: "2"
  inherits: []
  mode: strict
  require_signature: false
filesystem:
  block_read: [.env, "~/.ssh/**", "/etc/shadow"]
  allow_write: ["/tmp/**"]
commands:
  allow: ["ls*"]
  warn_classes: [network_egress]
git: {block_push_branches: [main], block_force_push: true, require_pull_request: true, require_ai_attestation: false}
mcp: {block_unknown_servers: false, allowed_servers: [github], blocked_servers: ["*fs*"]}
network: {allowed_domains: ["*.github.com"], blocked_domains: [evil.example]}
defaults:
  execute_command: {decision: require_approval, approver_group: Owners}
  network_request: {decision: warn}
rules:
  - id: custom.one
    action: [git_operation]
    operations: [push, merge]
    branches: ["release/*"]
    except: ["release/ok"]
    when: {environment: [prod], actor: ["*"]}
    decision: require_approval
    severity: critical
    reason: releases
    approver_group: Release
tests:
  - {name: t, request: {action: read_file, target: .env}, expect: [block, require_approval], rule: filesystem.read.block}
"#;
    let doc = parse_document(text, "pack.yaml").expect("valid");
    assert_eq!(doc.metadata.version, "2");
    assert_eq!(doc.metadata.mode, Some(cavra_policy::Mode::Strict));
    assert!(!doc.mcp.block_unknown_servers);
    assert_eq!(doc.rules[0].operations, vec!["push", "merge"]);
    assert_eq!(doc.tests[0].expect.as_slice().len(), 2);
}

#[test]
fn numbers_are_kept_as_written_in_strings() {
    let doc = parse_document("metadata: {id: x, version: 1.0}\n", "pack.yaml").expect("valid");
    assert_eq!(doc.metadata.version, "1.0");
}

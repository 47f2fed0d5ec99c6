//! Policy test files, and the conformance data.

use cavra_policy::error::PolicyErrorKind;
use cavra_policy::testfile::{PolicyRef, case_location, parse_test_file};
use cavra_policy::{Decision, parse_document};
use std::path::{Path, PathBuf};

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/conformance")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn conformance_test_files_parse_and_resolve() {
    for name in ["baseline.yaml", "shell.yaml"] {
        let path = conformance_dir().join(name);
        let origin = path.display().to_string();
        let file = parse_test_file(&read(&path), &origin).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(file.policy, PolicyRef::Inline(_)), "{name}");
        assert!(!file.cases.is_empty(), "{name}");
        assert_eq!(
            file.defaults.get("repo_root").and_then(|v| v.as_str()),
            Some("/home/dev/repo")
        );
        let resolved = file
            .resolve_policy(&conformance_dir())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resolved.origin, format!("{origin}#policy"));
        assert_eq!(resolved.chain, vec![format!("{origin}#policy")]);
        let first = case_location(&file, 0).expect("the first case has a place");
        assert!(first.line > 1);
        assert!(case_location(&file, file.cases.len()).is_none());
    }
}

#[test]
fn conformance_baseline_content() {
    let path = conformance_dir().join("baseline.yaml");
    let file = parse_test_file(&read(&path), "baseline.yaml").expect("parses");
    let PolicyRef::Inline(doc) = &file.policy else {
        panic!("inline")
    };
    assert_eq!(doc.metadata.id, "cavra-conformance-baseline");
    assert_eq!(doc.mcp.blocked_servers, vec!["unknown-filesystem"]);
    let pinned = file
        .cases
        .iter()
        .find(|c| c.name == "env read blocked")
        .expect("case");
    assert_eq!(pinned.rule.as_deref(), Some("filesystem.read.block"));
    assert_eq!(pinned.expect.as_slice(), &[Decision::Block]);
    let any = file.cases.iter().find(|c| c.name == "or-list");
    assert!(any.is_none(), "that case is in shell.yaml");
}

#[test]
fn conformance_hooks_policy_is_a_pack() {
    let path = conformance_dir().join("hooks/policy.yaml");
    let doc = parse_document(&read(&path), "hooks/policy.yaml").expect("parses");
    assert_eq!(doc.metadata.id, "cavra-conformance-hooks");
    assert_eq!(doc.mcp.allowed_servers, vec!["github"]);
}

#[test]
fn a_reference_to_a_builtin() {
    let text = "policy: cavra-baseline\ncases:\n  - {name: env, request: {action: read_file, target: .env}, expect: block}\n";
    let file = parse_test_file(text, "t.yaml").expect("parses");
    assert!(matches!(&file.policy, PolicyRef::Reference(r) if r == "cavra-baseline"));
    let resolved = file.resolve_policy(Path::new(".")).expect("resolves");
    assert_eq!(resolved.origin, "builtin:cavra-baseline");
}

#[test]
fn a_reference_to_a_file_and_defaults_giving_the_action() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("pack.yaml"),
        "metadata: {id: p}\nfilesystem: {block_read: [.env]}\n",
    )
    .expect("write");
    let text = "policy: pack.yaml\ndefaults: {action: read_file, repo_root: /r}\ncases:\n  - {name: env, request: {target: .env}, expect: block}\n";
    let file = parse_test_file(text, "t.yaml").expect("parses");
    let resolved = file.resolve_policy(dir.path()).expect("resolves");
    assert_eq!(resolved.document.metadata.id, "p");
    let request = file.request_for(&file.cases[0]);
    assert_eq!(
        request.get("action").and_then(|v| v.as_str()),
        Some("read_file")
    );
    assert_eq!(request.get("target").and_then(|v| v.as_str()), Some(".env"));
    assert_eq!(
        request.get("repo_root").and_then(|v| v.as_str()),
        Some("/r")
    );
}

#[test]
fn an_unknown_reference_is_located_at_the_policy_value() {
    let text = "policy: cavra-baselin\ncases: []\n";
    let file = parse_test_file(text, "t.yaml").expect("parses");
    let e = file
        .resolve_policy(Path::new("/nonexistent"))
        .expect_err("unknown");
    assert_eq!(e.kind, PolicyErrorKind::NotFound);
    assert_eq!(e.location.map(|l| (l.line, l.column)), Some((1, 9)));
    assert_eq!(
        e.help.as_deref(),
        Some("did you mean the built-in pack `cavra-baseline`?")
    );
}

#[test]
fn unknown_top_level_key() {
    let e =
        parse_test_file("policy: cavra-baseline\ncase: []\n", "t.yaml").expect_err("unknown key");
    assert_eq!(e.kind, PolicyErrorKind::UnknownKey);
    assert_eq!(e.location.map(|l| (l.line, l.column)), Some((2, 1)));
    assert_eq!(e.help.as_deref(), Some("did you mean `cases`?"));
}

#[test]
fn missing_policy() {
    let e = parse_test_file("cases: []\n", "t.yaml").expect_err("no policy");
    assert_eq!(e.kind, PolicyErrorKind::InvalidValue);
    assert!(e.message.contains("`policy`"), "{e}");
}

#[test]
fn errors_inside_an_inline_policy_point_into_the_test_file() {
    let text = "policy:\n  metadata: {id: x}\n  filesystem:\n    block_reed: [.env]\ncases: []\n";
    let e = parse_test_file(text, "t.yaml").expect_err("unknown key");
    assert_eq!(e.kind, PolicyErrorKind::UnknownKey);
    let loc = e.location.expect("located");
    assert_eq!((loc.file.as_str(), loc.line, loc.column), ("t.yaml", 4, 5));
    assert_eq!(e.help.as_deref(), Some("did you mean `block_read`?"));

    let text = "policy:\n  commands: {block: [\"a[\"]}\ncases: []\n";
    let e = parse_test_file(text, "t.yaml").expect_err("bad glob");
    assert_eq!(e.kind, PolicyErrorKind::BadPattern);
    assert_eq!(e.location.map(|l| (l.line, l.column)), Some((2, 22)));
}

#[test]
fn inline_inheritance_errors_point_into_the_test_file() {
    let text = "policy:\n  metadata: {id: x, inherits: [./nope.yaml]}\ncases: []\n";
    let file = parse_test_file(text, "t.yaml").expect("parses");
    let e = file
        .resolve_policy(Path::new("/nonexistent"))
        .expect_err("missing parent");
    assert_eq!(e.kind, PolicyErrorKind::NotFound);
    let loc = e.location.expect("located");
    assert_eq!((loc.file.as_str(), loc.line, loc.column), ("t.yaml", 2, 32));
}

#[test]
fn inline_policy_inheriting_a_builtin() {
    let text = "policy:\n  metadata: {id: x, inherits: [cavra-baseline]}\n  filesystem: {block_read: [extra]}\ncases:\n  - {name: env, request: {action: read_file, target: .env}, expect: [block]}\n";
    let file = parse_test_file(text, "t.yaml").expect("parses");
    let resolved = file.resolve_policy(Path::new(".")).expect("resolves");
    assert_eq!(
        resolved.chain,
        vec![
            "builtin:cavra-baseline".to_string(),
            "t.yaml#policy".to_string()
        ]
    );
    assert!(
        resolved
            .document
            .filesystem
            .block_read
            .iter()
            .any(|p| p == "extra")
    );
    assert!(
        resolved
            .document
            .filesystem
            .block_read
            .iter()
            .any(|p| p == ".env")
    );
}

#[test]
fn case_errors() {
    let e = parse_test_file(
        "policy: x\ncases:\n  - {name: a, request: {target: b}, expect: allow}\n",
        "t.yaml",
    )
    .expect_err("no action");
    assert_eq!(e.location.map(|l| (l.line, l.column)), Some((3, 24)));
    let e = parse_test_file(
        "policy: x\ncases:\n  - {name: a, request: {action: run}, expect: allow}\n",
        "t.yaml",
    )
    .expect_err("bad action");
    assert_eq!(e.location.map(|l| (l.line, l.column)), Some((3, 33)));
    let e = parse_test_file("policy: x\ncases:\n  - {name: a, request: {action: read_file, mode: strct}, expect: allow}\n", "t.yaml")
        .expect_err("bad mode");
    assert_eq!(e.help.as_deref(), Some("did you mean `strict`?"));
    let e = parse_test_file(
        "policy: x\ndefaults: {action: reed_file}\ncases: []\n",
        "t.yaml",
    )
    .expect_err("bad default action");
    assert_eq!(e.help.as_deref(), Some("did you mean `read_file`?"));
    let e = parse_test_file("policy: [x]\ncases: []\n", "t.yaml").expect_err("bad policy");
    assert_eq!(e.location.map(|l| (l.line, l.column)), Some((1, 9)));
    let e = parse_test_file(
        "policy: x\ncases:\n  - {name: a, request: {action: read_file}, expect: maybe}\n",
        "t.yaml",
    )
    .expect_err("bad expectation");
    assert_eq!(e.kind, PolicyErrorKind::InvalidValue);
}

#[test]
fn request_values_keep_their_types() {
    let text = "policy: x\ncases:\n  - {name: a, request: {action: git_operation, operation: push, target: main, force: true, n: 3}, expect: block}\n";
    let file = parse_test_file(text, "t.yaml").expect("parses");
    let request = &file.cases[0].request;
    assert_eq!(request.get("force"), Some(&serde_json::Value::Bool(true)));
    assert_eq!(request.get("n"), Some(&serde_json::json!(3)));
}

#[test]
fn a_pack_with_tests_is_its_own_test_file() {
    let text = "metadata: {id: p}\nfilesystem: {block_read: [.env]}\ntests:\n  - {name: env, request: {action: read_file, target: .env}, expect: block}\n";
    let file = parse_test_file(text, "pack.yaml").expect("parses");
    assert_eq!(file.cases.len(), 1);
    let resolved = file.resolve_policy(Path::new(".")).expect("resolves");
    assert_eq!(resolved.origin, "pack.yaml");
    assert_eq!(resolved.document.tests.len(), 1);
    assert!(case_location(&file, 0).is_some_and(|l| l.line == 4));
}

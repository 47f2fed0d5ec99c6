//! Inheritance: parents first, child last; a child can only tighten.

use cavra_policy::error::PolicyErrorKind;
use cavra_policy::{ActionType, Decision, load_pack, load_pack_str};
use std::fs;
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(path, text).expect("write");
}

const PARENT: &str = "\
metadata: {id: parent, title: Parent, version: 1.0.0, mode: strict, require_signature: true}
filesystem:
  block_read: [.env, \"*.pem\"]
commands:
  allow: [\"ls*\"]
  block: [\"terraform apply*\"]
git: {block_force_push: true, block_push_branches: [main]}
mcp: {block_unknown_servers: true, allowed_servers: [github]}
defaults:
  execute_command: {decision: block}
  read_file: {decision: allow}
  git_operation: {decision: require_approval, approver_group: Parents}
rules:
  - {id: parent.rule, action: read_file, paths: [secret/**], decision: block}
tests:
  - {name: parent test, request: {action: read_file, target: .env}, expect: block}
";

#[test]
fn parent_blocks_stand_and_lists_concatenate() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "parent.yaml", PARENT);
    let child = "\
metadata: {id: child, title: Child, version: 2.0.0, inherits: [parent.yaml]}
filesystem:
  block_read: [.env, id_rsa]
commands:
  allow: [\"ls*\", \"cat*\"]
git: {block_force_push: false}
mcp: {block_unknown_servers: false, allowed_servers: [context7]}
defaults:
  execute_command: {decision: allow}
  read_file: {decision: warn}
  git_operation: {decision: require_approval, approver_group: Children}
  pull_request: {decision: warn}
rules:
  - {id: child.rule, action: write_file, paths: [x], decision: warn}
tests:
  - {name: child test, request: {action: read_file, target: x}, expect: allow}
";
    write(dir.path(), "child.yaml", child);
    let resolved = load_pack("child.yaml", dir.path()).expect("resolves");
    let doc = &resolved.document;

    assert_eq!(doc.metadata.id, "child");
    assert_eq!(doc.metadata.version, "2.0.0");
    assert_eq!(
        doc.metadata.mode,
        Some(cavra_policy::Mode::Strict),
        "the child names no mode: the parent's stays"
    );
    assert!(doc.metadata.require_signature);
    assert_eq!(doc.filesystem.block_read, vec![".env", "*.pem", "id_rsa"]);
    assert_eq!(doc.commands.allow, vec!["ls*", "cat*"]);
    assert_eq!(doc.commands.block, vec!["terraform apply*"]);
    assert!(
        doc.git.block_force_push,
        "a child cannot switch off a parent's block"
    );
    assert!(doc.mcp.block_unknown_servers);
    assert_eq!(doc.mcp.allowed_servers, vec!["github", "context7"]);

    let decision = |a: ActionType| doc.defaults.get(&a).map(|d| d.decision);
    assert_eq!(
        decision(ActionType::ExecuteCommand),
        Some(Decision::Block),
        "a looser child default is ignored"
    );
    assert_eq!(
        decision(ActionType::ReadFile),
        Some(Decision::Warn),
        "a stricter child default applies"
    );
    assert_eq!(decision(ActionType::PullRequest), Some(Decision::Warn));
    let group = doc
        .defaults
        .get(&ActionType::GitOperation)
        .and_then(|d| d.approver_group.clone());
    assert_eq!(
        group.as_deref(),
        Some("Children"),
        "same decision: the child names the approvers"
    );

    let ids: Vec<&str> = doc.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec!["parent.rule", "child.rule"]);
    let tests: Vec<&str> = doc.tests.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(tests, vec!["child test"]);

    assert_eq!(resolved.chain.len(), 2);
    assert!(
        resolved.chain[0].ends_with("parent.yaml"),
        "{:?}",
        resolved.chain
    );
    assert!(
        resolved.chain[1].ends_with("child.yaml"),
        "{:?}",
        resolved.chain
    );
    assert_eq!(resolved.origin, resolved.chain[1]);
    assert!(resolved.source_text.contains("id: child"));
}

#[test]
fn child_mode_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "parent.yaml", PARENT);
    let resolved = load_pack_str(
        "metadata: {id: c, inherits: [parent.yaml], mode: enforce}\n",
        "<inline>",
        dir.path(),
    )
    .expect("resolves");
    assert_eq!(
        resolved.document.metadata.mode,
        Some(cavra_policy::Mode::Enforce)
    );
    assert_eq!(resolved.origin, "<inline>");
    assert_eq!(resolved.chain.last().map(String::as_str), Some("<inline>"));
}

#[test]
fn a_child_cannot_redefine_a_parent_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "parent.yaml", PARENT);
    let child = "metadata: {id: c, inherits: [parent.yaml]}\nrules:\n  - {id: parent.rule, action: read_file, paths: [secret/**], decision: allow}\n";
    let e = load_pack_str(child, "child.yaml", dir.path()).expect_err("redefinition");
    assert_eq!(e.kind, PolicyErrorKind::Invalid, "{e}");
    let loc = e.location.expect("located");
    assert_eq!(
        (loc.file.as_str(), loc.line, loc.column),
        ("child.yaml", 3, 10)
    );
}

#[test]
fn cycles_are_detected() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "a.yaml",
        "metadata:\n  id: a\n  inherits: [b.yaml]\n",
    );
    write(
        dir.path(),
        "b.yaml",
        "metadata:\n  id: b\n  inherits:\n    - c.yaml\n",
    );
    write(
        dir.path(),
        "c.yaml",
        "metadata:\n  id: c\n  inherits: [builtin:cavra-baseline, a.yaml]\n",
    );
    let e = load_pack("a.yaml", dir.path()).expect_err("cycle");
    assert_eq!(e.kind, PolicyErrorKind::InheritanceCycle, "{e}");
    let loc = e.location.clone().expect("located");
    assert!(loc.file.ends_with("c.yaml"), "{e}");
    assert_eq!((loc.line, loc.column), (3, 38), "{e}");
    assert!(e.message.contains("a.yaml -> "), "{e}");
    assert!(e.message.contains("b.yaml -> "), "{e}");
    assert!(e.message.contains("c.yaml -> "), "{e}");
    assert!(e.message.ends_with("a.yaml"), "{e}");
}

#[test]
fn self_inheritance_is_a_cycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "self.yaml",
        "metadata: {id: s, inherits: [./self.yaml]}\n",
    );
    let e = load_pack("self.yaml", dir.path()).expect_err("cycle");
    assert_eq!(e.kind, PolicyErrorKind::InheritanceCycle, "{e}");
    assert_eq!(e.location.map(|l| (l.line, l.column)), Some((1, 30)));
}

#[test]
fn missing_parent_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "child.yaml",
        "metadata:\n  id: c\n  inherits:\n    - ./missing.yaml\n",
    );
    let e = load_pack("child.yaml", dir.path()).expect_err("missing");
    assert_eq!(e.kind, PolicyErrorKind::NotFound, "{e}");
    let loc = e.location.expect("located");
    assert!(loc.file.ends_with("child.yaml"));
    assert_eq!((loc.line, loc.column), (4, 7));
}

#[test]
fn unknown_builtin_parent_suggests_one() {
    let e = load_pack_str(
        "metadata: {id: c, inherits: [cavra-baseln]}\n",
        "c.yaml",
        Path::new("."),
    )
    .expect_err("missing");
    assert_eq!(e.kind, PolicyErrorKind::NotFound, "{e}");
    assert_eq!(
        e.help.as_deref(),
        Some("did you mean the built-in pack `cavra-baseline`?")
    );
    assert_eq!(e.location.map(|l| (l.line, l.column)), Some((1, 30)));

    let e = load_pack_str(
        "metadata: {id: c, inherits: [\"builtin:nope\"]}\n",
        "c.yaml",
        Path::new("."),
    )
    .expect_err("missing");
    assert_eq!(e.kind, PolicyErrorKind::NotFound, "{e}");
    assert!(
        e.help
            .as_deref()
            .is_some_and(|h| h.contains("cavra-baseline")),
        "{e}"
    );
}

#[test]
fn missing_top_pack() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = load_pack("nope.yaml", dir.path()).expect_err("missing");
    assert_eq!(e.kind, PolicyErrorKind::NotFound, "{e}");
    let e = load_pack("nope", dir.path()).expect_err("missing");
    assert_eq!(e.kind, PolicyErrorKind::NotFound, "{e}");
}

#[test]
fn errors_in_a_parent_point_into_the_parent() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "sub/parent.yaml",
        "metadata: {id: p}\nfilesystem:\n  blok_read: [x]\n",
    );
    write(
        dir.path(),
        "child.yaml",
        "metadata: {id: c, inherits: [sub/parent.yaml]}\n",
    );
    let e = load_pack("child.yaml", dir.path()).expect_err("bad parent");
    assert_eq!(e.kind, PolicyErrorKind::UnknownKey);
    let loc = e.location.expect("located");
    assert!(loc.file.ends_with("parent.yaml"), "{}", loc.file);
    assert_eq!((loc.line, loc.column), (3, 3));
}

#[test]
fn parents_are_relative_to_the_child() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "packs/base.yaml",
        "metadata: {id: base}\nfilesystem: {block_read: [base]}\n",
    );
    write(
        dir.path(),
        "packs/team/mid.yaml",
        "metadata: {id: mid, inherits: [../base.yaml]}\nfilesystem: {block_read: [mid]}\n",
    );
    write(
        dir.path(),
        "top.yaml",
        "metadata: {id: top, inherits: [packs/team/mid.yaml]}\nfilesystem: {block_read: [top]}\n",
    );
    let resolved = load_pack("top.yaml", dir.path()).expect("resolves");
    assert_eq!(
        resolved.document.filesystem.block_read,
        vec!["base", "mid", "top"]
    );
    assert_eq!(resolved.chain.len(), 3);
}

#[test]
fn diamonds_merge_each_pack_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "left.yaml",
        "metadata: {id: l, inherits: [cavra-baseline]}\nfilesystem: {block_read: [left]}\n",
    );
    write(
        dir.path(),
        "right.yaml",
        "metadata: {id: r, inherits: [builtin:cavra-baseline]}\nfilesystem: {block_read: [right]}\n",
    );
    write(
        dir.path(),
        "top.yaml",
        "metadata: {id: t, inherits: [left.yaml, right.yaml]}\n",
    );
    let resolved = load_pack("top.yaml", dir.path()).expect("resolves");
    assert_eq!(
        resolved
            .chain
            .iter()
            .filter(|c| *c == "builtin:cavra-baseline")
            .count(),
        1
    );
    assert_eq!(resolved.chain.len(), 4);
    assert_eq!(resolved.chain[0], "builtin:cavra-baseline");
    let fs = &resolved.document.filesystem.block_read;
    assert!(fs.iter().any(|p| p == "left") && fs.iter().any(|p| p == "right"));
}

#[test]
fn builtins_cannot_inherit_files() {
    // A built-in origin has no folder: only built-in parents are possible.
    let e = load_pack_str(
        "metadata: {id: x, inherits: [./local.yaml]}\n",
        "builtin:x",
        Path::new("."),
    )
    .expect_err("no files");
    assert_eq!(e.kind, PolicyErrorKind::NotFound, "{e}");
}

#[test]
fn digest_is_stable_under_key_order_and_formatting() {
    let a = "metadata: {id: x, version: 1.0.0}\nfilesystem: {block_read: [.env], block_write: [ci/**]}\ntests:\n  - {name: t, request: {action: read_file, target: .env}, expect: block}\n";
    let b = "# the same pack, written differently\nfilesystem:\n  block_write: [\"ci/**\"]\n  block_read:\n    - .env\ntests:\n  - expect: block\n    request: {target: .env, action: read_file}\n    name: t\nmetadata:\n  version: \"1.0.0\"\n  id: x\n";
    let da = load_pack_str(a, "a.yaml", Path::new("."))
        .expect("a")
        .digest;
    let db = load_pack_str(b, "b.yaml", Path::new("."))
        .expect("b")
        .digest;
    assert_eq!(da, db);
    assert!(
        da.starts_with("sha256:") && da.len() == "sha256:".len() + 64,
        "{da}"
    );
    let c = a.replace("ci/**", "ci2/**");
    let dc = load_pack_str(&c, "c.yaml", Path::new("."))
        .expect("c")
        .digest;
    assert_ne!(da, dc);
}

#[test]
fn digest_of_a_builtin_is_stable() {
    let one = load_pack("cavra-baseline", Path::new("."))
        .expect("baseline")
        .digest;
    let two = load_pack("builtin:cavra-baseline", Path::new("/"))
        .expect("baseline")
        .digest;
    assert_eq!(one, two);
}

#[test]
fn on_tool_change_is_checked_and_block_wins_when_inherited() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "strict.yaml",
        "metadata: {id: strict, version: \"1\"}\nmcp: {on_tool_change: block}\n",
    );
    write(
        dir.path(),
        "lax.yaml",
        "metadata: {id: lax, version: \"1\"}\nmcp: {on_tool_change: warn}\n",
    );
    let lax = load_pack("lax.yaml", dir.path()).expect("lax loads");
    assert_eq!(lax.document.mcp.on_tool_change.as_deref(), Some("warn"));
    let child =
        "metadata: {id: c, version: \"1\", inherits: [strict.yaml]}\nmcp: {on_tool_change: warn}\n";
    let merged = load_pack_str(child, "child.yaml", dir.path()).expect("child loads");
    assert_eq!(merged.document.mcp.on_tool_change.as_deref(), Some("block"));
    let unset =
        load_pack_str("metadata: {id: u, version: \"1\"}\n", "u.yaml", dir.path()).expect("loads");
    assert_eq!(unset.document.mcp.on_tool_change, None);
    let bad = load_pack_str(
        "metadata: {id: b, version: \"1\"}\nmcp: {on_tool_change: sometimes}\n",
        "b.yaml",
        dir.path(),
    );
    assert!(bad.is_err(), "only block or warn");
}

#[test]
fn agents_unknown_tool_defaults_to_approval_never_allows_and_block_wins_when_inherited() {
    use cavra_policy::model::Decision;
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "strict.yaml",
        "metadata: {id: strict, version: \"1\"}\nagents: {unknown_tool: block}\n",
    );
    let unset =
        load_pack_str("metadata: {id: u, version: \"1\"}\n", "u.yaml", dir.path()).expect("loads");
    assert_eq!(unset.document.agents.unknown_tool, None);
    assert_eq!(
        unset.document.agents.unknown_tool_decision(),
        Decision::RequireApproval
    );
    let child = "metadata: {id: c, version: \"1\", inherits: [strict.yaml]}\nagents: {unknown_tool: require_approval}\n";
    let merged = load_pack_str(child, "child.yaml", dir.path()).expect("child loads");
    assert_eq!(
        merged.document.agents.unknown_tool_decision(),
        Decision::Block
    );
    for word in ["allow", "warn", "audit_only", "sometimes"] {
        let bad = load_pack_str(
            &format!("metadata: {{id: b, version: \"1\"}}\nagents: {{unknown_tool: {word}}}\n"),
            "b.yaml",
            dir.path(),
        );
        assert!(
            bad.is_err(),
            "{word} must be refused: only block or require_approval"
        );
    }
    // A pack without the section keeps its digest (the section is not serialized when empty).
    let again =
        load_pack_str("metadata: {id: u, version: \"1\"}\n", "u.yaml", dir.path()).expect("loads");
    assert_eq!(unset.digest, again.digest);
}

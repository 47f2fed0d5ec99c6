//! `cavra registry mcp …` and the registry in the hook and in `cavra evaluate`: the real
//! binary in a scratch repository.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use support::Out;

const POLICY: &str = r#"
metadata: {id: reg-test, version: "1"}
mcp:
  block_unknown_servers: true
  allowed_servers: [github]
"#;

fn project() -> tempfile::TempDir {
    support::marked_project(POLICY)
}

/// `cavra <args…>` as alice: (exit code, stdout, stderr).
fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    parts(support::outcome(
        support::cavra(dir).env("CAVRA_ACTOR", "alice").args(args),
    ))
}

fn parts(out: Out) -> (i32, String, String) {
    (out.code, out.stdout, out.stderr)
}

fn hook(dir: &Path, tool: &str) -> (i32, String, String) {
    let payload = support::claude_call(
        dir,
        "sess-reg",
        "PreToolUse",
        tool,
        json!({"path": "x"}),
        "toolu_1",
    );
    let actor = [("CAVRA_ACTOR", "alice")];
    parts(support::hook(dir, "claude-code", &payload, &[], &actor))
}

fn permission(out: &(i32, String, String)) -> String {
    if out.0 == 2 {
        return format!("deny: {}", out.2.trim());
    }
    let v: Value = serde_json::from_str(out.1.trim()).unwrap_or(Value::Null);
    format!(
        "{}: {}",
        v["hookSpecificOutput"]["permissionDecision"]
            .as_str()
            .unwrap_or("none"),
        v["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap_or("")
    )
}

fn register(dir: &Path) {
    for args in [
        &[
            "registry",
            "mcp",
            "add",
            "files",
            "--trust",
            "approved",
            "--approval",
            "approved",
            "--owner",
            "platform",
            "--tool",
            "*",
            "--capability",
            "filesystem",
        ][..],
        &[
            "registry",
            "mcp",
            "add",
            "shiny",
            "--trust",
            "experimental",
            "--approval",
            "approved",
            "--tool",
            "*",
        ],
        &[
            "registry",
            "mcp",
            "add",
            "evil",
            "--trust",
            "blocked",
            "--approval",
            "approved",
        ],
        &[
            "registry",
            "mcp",
            "add",
            "github",
            "--trust",
            "trusted",
            "--approval",
            "approved",
            "--tool",
            "list_*",
            "--tool-capability",
            "list_secrets=secrets",
        ],
    ] {
        let (code, out, err) = run(dir, args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
}

#[test]
fn add_list_check_remove() {
    let dir = project();
    register(dir.path());
    let (code, out, _) = run(dir.path(), &["registry", "mcp", "list", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["servers"]["files"]["trust_tier"], "approved");
    assert_eq!(v["servers"]["files"]["owner"], "platform");
    assert_eq!(
        v["servers"]["github"]["tool_capabilities"]["list_secrets"],
        "secrets"
    );
    let (_, text, _) = run(dir.path(), &["registry", "mcp", "list"]);
    assert!(text.contains("shiny  trust=experimental"), "{text}");

    let check =
        |server: &str, tool: &str| run(dir.path(), &["registry", "mcp", "check", server, tool]);
    let cases = [
        ("files", "read_file", 0, "mcp.registry.allowed"),
        (
            "files",
            "run_command",
            3,
            "mcp.registry.capability_not_allowed",
        ),
        ("shiny", "x", 3, "mcp.registry.pending"),
        ("evil", "x", 4, "mcp.registry.blocked"),
        ("nobody", "x", 4, "mcp.registry.unregistered"),
        ("github", "create_issue", 3, "mcp.registry.tool_not_allowed"),
        ("github", "list_repos", 0, "mcp.registry.allowed"),
    ];
    for (server, tool, code, rule) in cases {
        let (c, out, err) = check(server, tool);
        assert_eq!(c, code, "{server}/{tool}: {out}{err}");
        assert!(out.contains(rule), "{server}/{tool}: {out}");
    }
    let (c, out, _) = run(
        dir.path(),
        &[
            "registry",
            "mcp",
            "check",
            "files",
            "zap",
            "--capability",
            "network",
            "--json",
        ],
    );
    assert_eq!(c, 3);
    assert!(out.contains("capability_not_allowed"), "{out}");

    let (c, _, _) = run(dir.path(), &["registry", "mcp", "remove", "files"]);
    assert_eq!(c, 0);
    assert_eq!(check("files", "read_file").0, 4);
    let (c, _, err) = run(dir.path(), &["registry", "mcp", "remove", "files"]);
    assert_eq!(c, 1, "{err}");

    // Bad words are usage errors.
    assert_eq!(
        run(
            dir.path(),
            &["registry", "mcp", "add", "x", "--trust", "kinda"]
        )
        .0,
        2
    );
    assert_eq!(
        run(
            dir.path(),
            &["registry", "mcp", "add", "a b", "--trust", "trusted"]
        )
        .0,
        2
    );
}

#[test]
fn the_hook_and_evaluate_use_the_local_registry() {
    let dir = project();
    // No registry yet: the pack alone decides (files is not among its allowed servers).
    let before = permission(&hook(dir.path(), "mcp__files__read_file"));
    assert!(
        before.starts_with("deny") && before.contains("mcp.server.trust.block_unknown"),
        "{before}"
    );

    register(dir.path());
    let allowed = permission(&hook(dir.path(), "mcp__files__read_file"));
    assert!(allowed.starts_with("allow"), "{allowed}");
    let pending = permission(&hook(dir.path(), "mcp__shiny__do_thing"));
    assert!(
        pending.starts_with("ask") && pending.contains("mcp.registry.pending"),
        "{pending}"
    );
    let blocked = permission(&hook(dir.path(), "mcp__evil__do_thing"));
    assert!(
        blocked.starts_with("deny") && blocked.contains("mcp.registry.blocked"),
        "{blocked}"
    );
    let unregistered = permission(&hook(dir.path(), "mcp__nobody__x"));
    assert!(
        unregistered.starts_with("deny") && unregistered.contains("mcp.registry.unregistered"),
        "{unregistered}"
    );
    let secrets = permission(&hook(dir.path(), "mcp__github__list_secrets"));
    assert!(
        secrets.starts_with("allow"),
        "github has no capability restriction: {secrets}"
    );
    let not_allowed = permission(&hook(dir.path(), "mcp__github__create_issue"));
    assert!(
        not_allowed.contains("mcp.registry.tool_not_allowed"),
        "{not_allowed}"
    );

    // The recorded decision names the registry's rule.
    let (_, out, _) = run(
        dir.path(),
        &["decision", "list", "--json", "--decision", "block"],
    );
    assert!(out.contains("mcp.registry.blocked"), "{out}");

    // cavra evaluate decides the same way.
    let (code, out, _) = run(
        dir.path(),
        &[
            "evaluate",
            "mcp_tool_call",
            "x",
            "--server",
            "evil",
            "--tool",
            "t",
            "--json",
        ],
    );
    assert_eq!(code, 4);
    let v: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["rule_id"], "mcp.registry.blocked");
    let (code, _, _) = run(
        dir.path(),
        &[
            "evaluate",
            "mcp_tool_call",
            "x",
            "--server",
            "files",
            "--tool",
            "read_file",
        ],
    );
    assert_eq!(code, 0);
}

//! The MCP registry combined with a pack: its verdict is one more matched rule, the strictest
//! decides, and without a registry nothing changes.

use cavra_engine::registry::ids;
use cavra_engine::{
    ActionType, CompiledPack, Decision, DecisionRecord, Env, McpRegistry, McpServerEntry,
    NoSymlinks, Request, ServerApproval, ToolCapability, TrustTier, evaluate,
    evaluate_with_registry,
};

mod common;
use common::pack;

const PACK: &str = r#"
metadata: {id: reg, version: "1"}
mcp:
  block_unknown_servers: true
  allowed_servers: [github]
rules:
  - id: no-deletes
    action: mcp_tool_call
    servers: ["*"]
    tools: ["delete_*"]
    decision: block
    reason: deleting through MCP is not allowed
"#;

fn call(server: &str, tool: &str) -> Request {
    let mut r = Request::new(ActionType::McpToolCall, format!("{server}/{tool}"));
    r.server = Some(server.into());
    r.tool = Some(tool.into());
    r
}

fn decide(
    pack: &CompiledPack,
    request: &Request,
    registry: Option<&McpRegistry>,
) -> DecisionRecord {
    let env = Env {
        timestamp: "2026-01-01T00:00:00Z",
        decision_id: "d-1",
        resolver: &NoSymlinks,
    };
    evaluate_with_registry(pack, request, &env, registry)
}

fn registry() -> McpRegistry {
    let mut fs = McpServerEntry::new("files", TrustTier::Approved, ServerApproval::Approved);
    fs.allowed_tools = vec!["*".into()];
    fs.capabilities = vec![ToolCapability::Filesystem];
    let mut exp = McpServerEntry::new("shiny", TrustTier::Experimental, ServerApproval::Approved);
    exp.allowed_tools = vec!["*".into()];
    let mut gh = McpServerEntry::new("github", TrustTier::Trusted, ServerApproval::Approved);
    gh.allowed_tools = vec!["list_*".into(), "delete_branch".into()];
    let bad = McpServerEntry::new("evil", TrustTier::Blocked, ServerApproval::Approved);
    McpRegistry::from_entries([fs, exp, gh, bad])
}

#[test]
fn without_a_registry_nothing_changes() {
    let p = pack(PACK);
    for (server, tool) in [
        ("github", "list_repos"),
        ("files", "read_file"),
        ("github", "delete_branch"),
    ] {
        let env = Env {
            timestamp: "2026-01-01T00:00:00Z",
            decision_id: "d-1",
            resolver: &NoSymlinks,
        };
        assert_eq!(
            decide(&p, &call(server, tool), None),
            evaluate(&p, &call(server, tool), &env)
        );
    }
    assert_eq!(
        decide(&p, &call("files", "read_file"), None).decision,
        Decision::Block
    );
}

#[test]
fn a_registered_server_is_known_to_the_pack() {
    let p = pack(PACK);
    let r = registry();
    let d = decide(&p, &call("files", "read_file"), Some(&r));
    assert_eq!(d.decision, Decision::Allow, "{d:?}");
    assert_eq!(d.rule_id, ids::ALLOWED);
}

#[test]
fn each_registry_verdict_is_a_matched_rule() {
    let p = pack(PACK);
    let r = registry();
    let cases = [
        ("nobody", "x", ids::UNREGISTERED, Decision::Block),
        ("evil", "x", ids::BLOCKED, Decision::Block),
        (
            "shiny",
            "read_file",
            ids::PENDING,
            Decision::RequireApproval,
        ),
        (
            "github",
            "create_issue",
            ids::TOOL_NOT_ALLOWED,
            Decision::RequireApproval,
        ),
        (
            "files",
            "run_command",
            ids::CAPABILITY_NOT_ALLOWED,
            Decision::RequireApproval,
        ),
        ("github", "list_repos", ids::ALLOWED, Decision::Allow),
    ];
    for (server, tool, rule, decision) in cases {
        let d = decide(&p, &call(server, tool), Some(&r));
        assert_eq!(d.decision, decision, "{server}/{tool}: {}", d.reason);
        // On a tie of allows the pack's own allow may be named first; a stricter verdict
        // always names the registry's rule.
        if decision != Decision::Allow {
            assert_eq!(d.rule_id, rule, "{server}/{tool}: {}", d.reason);
        }
        assert!(d.matched_rules.iter().any(|m| m.rule_id == rule));
    }
}

#[test]
fn the_strictest_of_pack_and_registry_decides() {
    let p = pack(PACK);
    let r = registry();
    // The registry allows delete_branch; the pack blocks every delete.
    let d = decide(&p, &call("github", "delete_branch"), Some(&r));
    assert_eq!(d.decision, Decision::Block);
    assert_eq!(d.rule_id, "no-deletes");
    assert!(d.matched_rules.iter().any(|m| m.rule_id == ids::ALLOWED));
}

#[test]
fn the_request_capability_is_used_when_the_registry_has_none() {
    let p = pack(PACK);
    let r = registry();
    let mut req = call("files", "frobnicate");
    req.capability = Some("network".into());
    let d = decide(&p, &req, Some(&r));
    assert_eq!(d.rule_id, ids::CAPABILITY_NOT_ALLOWED);
    req.capability = Some("filesystem".into());
    assert_eq!(decide(&p, &req, Some(&r)).decision, Decision::Allow);
}

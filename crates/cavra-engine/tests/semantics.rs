//! Decision semantics over packs written in YAML: strictest wins, exceptions, conditions,
//! defaults, modes, MCP, network, and compositional properties of command decisions.

use cavra_engine::{
    ActionType, CompiledPack, Decision, DecisionRecord, Env, Mode, NoSymlinks, Request, evaluate,
};
use proptest::prelude::*;

mod common;
use common::pack;

fn req(action: ActionType, target: &str) -> Request {
    let mut r = Request::new(action, target);
    r.repo_root = Some("/home/dev/repo".into());
    r
}

fn decide(pack: &CompiledPack, request: &Request) -> DecisionRecord {
    let env = Env {
        timestamp: "2026-01-01T00:00:00Z",
        decision_id: "d-1",
        resolver: &NoSymlinks,
    };
    evaluate(pack, request, &env)
}

const BASE: &str = r#"
metadata: {id: sem, version: "1"}
filesystem:
  block_read: [".env", "*.pem"]
  allow_read: ["config/**"]
  block_write: [".github/workflows/**"]
  allow_write: ["/tmp/cache/**"]
commands:
  allow: ["ls*", "echo*", "cat*", "git status*", "grep*", "terraform plan*"]
  block: ["terraform apply*", "rm -rf*"]
git: {block_push_branches: [main], block_force_push: true}
mcp:
  allowed_servers: [github]
  blocked_servers: [evil]
network:
  blocked_domains: [pastebin.com]
rules:
  - id: prod-infra
    action: [write_file, delete_file]
    paths: ["infra/**"]
    except: ["infra/sandbox/**"]
    when: {environment: [prod]}
    decision: require_approval
    approver_group: Platform Security
    reason: production infrastructure is reviewed
  - id: github-admin-tools
    action: mcp_tool_call
    servers: [github]
    tools: ["delete_*"]
    decision: block
    reason: destructive GitHub tools are not for agents
"#;

#[test]
fn strictest_wins_over_an_allow_of_the_same_path() {
    let p = pack(BASE);
    let r = decide(&p, &req(ActionType::ReadFile, "config/.env"));
    assert_eq!(r.decision, Decision::Block);
    assert_eq!(r.rule_id, "filesystem.read.block");
    assert!(
        r.matched_rules
            .iter()
            .any(|m| m.rule_id == "filesystem.read.allow")
    );
}

#[test]
fn explicit_allow_is_marked_explicit_and_default_is_not() {
    let p = pack(BASE);
    let explicit = decide(&p, &req(ActionType::ReadFile, "config/app.yaml"));
    assert_eq!(
        (explicit.decision, explicit.explicit),
        (Decision::Allow, true)
    );
    let default = decide(&p, &req(ActionType::ReadFile, "src/main.rs"));
    assert_eq!(
        (default.decision, default.explicit),
        (Decision::Allow, false)
    );
    assert_eq!(default.rule_id, "filesystem.read.default");
}

#[test]
fn conditions_and_exceptions() {
    let p = pack(BASE);
    let mut r = req(ActionType::WriteFile, "infra/network.tf");
    assert_eq!(
        decide(&p, &r).decision,
        Decision::Allow,
        "no environment: the condition fails"
    );
    r.environment = Some("prod".into());
    let d = decide(&p, &r);
    assert_eq!(d.decision, Decision::RequireApproval);
    assert_eq!(d.rule_id, "prod-infra");
    assert_eq!(d.approver_group.as_deref(), Some("Platform Security"));
    let mut sandbox = req(ActionType::WriteFile, "infra/sandbox/x.tf");
    sandbox.environment = Some("prod".into());
    assert_eq!(decide(&p, &sandbox).decision, Decision::Allow);
    let mut delete = req(ActionType::DeleteFile, "infra/network.tf");
    delete.environment = Some("prod".into());
    assert_eq!(
        decide(&p, &delete).decision,
        Decision::RequireApproval,
        "delete is judged as a write"
    );
}

#[test]
fn writes_outside_the_repository_need_approval_unless_allowed() {
    let p = pack(BASE);
    let d = decide(&p, &req(ActionType::WriteFile, "/etc/hosts"));
    assert_eq!(
        (d.decision, d.rule_id.as_str()),
        (Decision::RequireApproval, "filesystem.write.outside_repo")
    );
    let d = decide(&p, &req(ActionType::WriteFile, "../sibling/x"));
    assert_eq!(d.decision, Decision::RequireApproval);
    assert_eq!(
        decide(&p, &req(ActionType::WriteFile, "/tmp/cache/a/b")).decision,
        Decision::Allow
    );
    let d = decide(
        &p,
        &req(ActionType::ExecuteCommand, "echo x > /etc/profile"),
    );
    assert_eq!(d.decision, Decision::RequireApproval);
    assert_eq!(
        decide(&p, &req(ActionType::ExecuteCommand, "ls > /dev/null 2>&1")).decision,
        Decision::Allow
    );
}

#[test]
fn writes_to_run_time_paths_need_approval() {
    let p = pack(BASE);
    let d = decide(&p, &req(ActionType::ExecuteCommand, "echo x > \"$TARGET\""));
    assert_eq!(d.decision, Decision::RequireApproval);
    assert_eq!(d.rule_id, "filesystem.write.dynamic_path");
}

#[test]
fn mcp_servers_and_tools() {
    let p = pack(BASE);
    let call = |server: &str, tool: &str| {
        let mut r = req(ActionType::McpToolCall, "");
        r.server = Some(server.into());
        r.tool = Some(tool.into());
        decide(&p, &r)
    };
    assert_eq!(call("github", "create_issue").decision, Decision::Allow);
    let d = call("github", "delete_repo");
    assert_eq!(
        (d.decision, d.rule_id.as_str()),
        (Decision::Block, "github-admin-tools")
    );
    assert_eq!(call("evil", "x").rule_id, "mcp.server.blocked");
    assert_eq!(
        call("unheard-of", "x").rule_id,
        "mcp.server.trust.block_unknown"
    );
    let mut no_server = req(ActionType::McpToolCall, "");
    no_server.tool = Some("x".into());
    assert_eq!(decide(&p, &no_server).rule_id, "request.invalid");
}

#[test]
fn network_domains() {
    let p = pack(BASE);
    assert_eq!(
        decide(
            &p,
            &req(ActionType::NetworkRequest, "https://PASTEBIN.com/raw/x")
        )
        .decision,
        Decision::Block
    );
    assert_eq!(
        decide(
            &p,
            &req(ActionType::NetworkRequest, "https://raw.pastebin.com/x")
        )
        .decision,
        Decision::Block
    );
    assert_eq!(
        decide(&p, &req(ActionType::NetworkRequest, "https://docs.rs/x")).decision,
        Decision::Allow
    );
    assert_eq!(
        decide(&p, &req(ActionType::NetworkRequest, "not a url")).decision,
        Decision::Block
    );
    let allowlist =
        pack("metadata: {id: n, version: '1'}\nnetwork: {allowed_domains: [github.com]}\n");
    assert_eq!(
        decide(
            &allowlist,
            &req(ActionType::NetworkRequest, "https://api.github.com/x")
        )
        .decision,
        Decision::Allow
    );
    assert_eq!(
        decide(
            &allowlist,
            &req(ActionType::NetworkRequest, "https://example.org")
        )
        .decision,
        Decision::RequireApproval
    );
}

#[test]
fn modes() {
    let p = pack(BASE);
    let mut r = req(ActionType::ExecuteCommand, "terraform apply");
    r.mode = Some(Mode::AuditOnly);
    let d = decide(&p, &r);
    assert_eq!(
        (d.base_decision, d.decision),
        (Decision::Block, Decision::AuditOnly)
    );
    r.mode = Some(Mode::BreakGlass);
    r.break_glass_actor = Some("alice".into());
    assert_eq!(
        decide(&p, &r).decision,
        Decision::Block,
        "no reason: nothing changes"
    );
    r.break_glass_reason = Some("  ".into());
    assert_eq!(
        decide(&p, &r).decision,
        Decision::Block,
        "a blank reason is no reason"
    );
    r.break_glass_reason = Some("INC-7".into());
    let d = decide(&p, &r);
    assert_eq!(d.decision, Decision::AllowWithAttestation);
    assert_eq!(
        d.break_glass.as_ref().map(|b| b.actor.as_str()),
        Some("alice")
    );
    let mut s = req(ActionType::ReadFile, "src/x.rs");
    s.mode = Some(Mode::Strict);
    assert_eq!(decide(&p, &s).decision, Decision::RequireApproval);
    let strict_pack = pack("metadata: {id: s, version: '1', mode: strict}\n");
    assert_eq!(
        decide(&strict_pack, &req(ActionType::ReadFile, "a")).decision,
        Decision::RequireApproval
    );
}

#[test]
fn git_pushes() {
    let p = pack(BASE);
    let mut r = req(ActionType::GitOperation, "origin/main");
    r.operation = Some("push".into());
    assert_eq!(
        decide(&p, &r).rule_id,
        "git.protected_branch.block_direct_push"
    );
    r.target = "origin/feature".into();
    assert_eq!(decide(&p, &r).decision, Decision::Allow);
    r.force = Some(true);
    assert_eq!(decide(&p, &r).rule_id, "git.force_push.block");
    let mut commit = req(ActionType::GitOperation, "main");
    commit.operation = Some("commit".into());
    assert_eq!(
        decide(&p, &commit).decision,
        Decision::Allow,
        "committing on main is not pushing to it"
    );
    let mut none = req(ActionType::GitOperation, "origin/main");
    none.operation = None;
    assert_eq!(decide(&p, &none).rule_id, "request.invalid");
}

#[test]
fn empty_targets_fail_closed() {
    let p = pack(BASE);
    assert_eq!(
        decide(&p, &req(ActionType::ReadFile, "  ")).decision,
        Decision::Block
    );
    assert_eq!(
        decide(&p, &req(ActionType::ExecuteCommand, "")).decision,
        Decision::Block
    );
}

const BLOCKED: &[&str] = &[
    "terraform apply -auto-approve",
    "rm -rf build",
    "cat .env",
    "echo x > .github/workflows/a.yml",
];
const HARMLESS: &[&str] = &[
    "ls -la",
    "git status",
    "echo hello",
    "grep -rn x src",
    "terraform plan",
];

fn compose() -> impl Strategy<Value = (String, usize)> {
    let blocked = prop::sample::select(BLOCKED);
    let harmless = prop::sample::select(HARMLESS);
    (blocked, harmless, 0usize..12).prop_map(|(b, h, shape)| {
        let text = match shape {
            0 => format!("{h}; {b}"),
            1 => format!("{h} && {b}"),
            2 => format!("{h} || {b}"),
            3 => format!("{h} | {b}"),
            4 => format!("({b})"),
            5 => format!("{{ {b}; }}"),
            6 => format!("sh -c '{b}'"),
            7 => format!("if {h}; then {b}; fi"),
            8 => format!("echo $({b})"),
            9 => format!("timeout 5 {b}"),
            10 => format!("{h}\n{b}"),
            _ => format!("bash -c \"{h} && {b}\""),
        };
        (text, shape)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// A blocked command stays blocked whatever it is combined with or wrapped in.
    #[test]
    fn blocked_commands_stay_blocked_in_any_composition((text, _shape) in compose()) {
        let p = pack(BASE);
        let d = decide(&p, &req(ActionType::ExecuteCommand, &text));
        prop_assert_eq!(d.decision, Decision::Block, "{} -> {} by {}", text, d.decision, d.rule_id);
    }

    /// Quoted words are data: echoing any text never blocks by a command rule.
    #[test]
    fn echoed_text_is_data(text in "[a-z .;&|()-]{0,40}") {
        let p = pack(BASE);
        let d = decide(&p, &req(ActionType::ExecuteCommand, &format!("echo '{text}'")));
        prop_assert_eq!(d.decision, Decision::Allow, "{} by {}", text, d.rule_id);
    }

    /// Whatever the text, evaluation answers, and a line cavra cannot read is never allowed.
    #[test]
    fn arbitrary_command_text_never_panics(text in any::<String>()) {
        let p = pack(BASE);
        let d = decide(&p, &req(ActionType::ExecuteCommand, &text));
        if d.matched_rules.iter().any(|m| m.rule_id == "commands.class.unparseable" || m.rule_id == "commands.class.dynamic_command") {
            prop_assert!(!matches!(d.decision, Decision::Allow | Decision::Warn | Decision::AuditOnly));
        }
    }

    /// Arbitrary paths never panic, and spelling a path differently never changes the decision.
    #[test]
    fn path_spellings_agree(parts in proptest::collection::vec("[a-z.]{1,8}", 1..5)) {
        prop_assume!(parts.iter().all(|p| p != "." && p != ".."));
        let p = pack(BASE);
        let rel = parts.join("/");
        let spellings = [rel.clone(), format!("./{rel}"), format!("/home/dev/repo/{rel}"), format!("x/../{rel}")];
        let decisions: Vec<Decision> =
            spellings.iter().map(|s| decide(&p, &req(ActionType::ReadFile, s)).decision).collect();
        prop_assert!(decisions.windows(2).all(|w| w[0] == w[1]), "{:?}", decisions);
    }
}

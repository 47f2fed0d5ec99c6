//! `cavra hook <agent>` driven as the agents drive it: the real binary, recorded payloads on
//! stdin, the exact answer and exit code asserted; and what it leaves in the store.

mod support;

use assert_cmd::Command;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use support::Out;
use support::claude_decision as decision_of;
use support::command as cavra;

const CONFORMANCE_POLICY: &str = support::HOOK_POLICY;
const CONFORMANCE_CASES: &str =
    include_str!("../../../tests/data/conformance/hooks/claude-code.jsonl");

/// A scratch repository whose `.cavra/policy.yaml` is the conformance policy.
fn project() -> tempfile::TempDir {
    support::marked_project(CONFORMANCE_POLICY)
}

fn root(dir: &tempfile::TempDir) -> String {
    dir.path().to_string_lossy().into_owned()
}

fn hook(agent: &str, dir: &Path, stdin: impl Into<Vec<u8>>, extra: &[&str]) -> Out {
    let out = cavra()
        .arg("hook")
        .arg(agent)
        .args(extra)
        .current_dir(dir)
        .write_stdin(stdin.into())
        .output()
        .expect("hook runs");
    Out::from(out)
}

fn claude_payload(root: &str, tool: &str, input: Value) -> Value {
    json!({
        "session_id": "sess-test",
        "transcript_path": "/home/dev/.claude/projects/x/t.jsonl",
        "cwd": root,
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": input,
        "tool_use_id": format!("toolu_{}", tool.len()),
    })
}

fn claude(dir: &tempfile::TempDir, tool: &str, input: Value) -> Out {
    hook(
        "claude-code",
        dir.path(),
        claude_payload(&root(dir), tool, input).to_string(),
        &[],
    )
}

#[test]
fn claude_code_conformance_cases() {
    let dir = project();
    let mut checked = 0;
    for line in CONFORMANCE_CASES.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value =
            serde_json::from_str(&line.replace("__PROJECT__", &root(&dir))).expect("case");
        let out = hook("claude-code", dir.path(), case["payload"].to_string(), &[]);
        let got = decision_of(&out);
        let want = case["expect"].as_str().expect("expect");
        let ok = match want {
            "allow_or_none" => got == "allow" || got == "none",
            w => got == w,
        };
        assert!(
            ok,
            "{}: expected {want}, got {got} (exit {}, stdout {}, stderr {})",
            case["name"], out.code, out.stdout, out.stderr
        );
        if got == "deny" {
            // Blocked both ways: JSON deny and the reason on stderr for exit code 2.
            assert_eq!(
                out.json()["hookSpecificOutput"]["permissionDecision"],
                "deny"
            );
            assert!(out.stderr.contains("cavra block"), "{}", out.stderr);
        }
        if want == "ask" {
            let reason = out.json()["hookSpecificOutput"]["permissionDecisionReason"]
                .as_str()
                .unwrap_or("")
                .to_string();
            assert!(
                reason.contains("approval needed from Repository Owners"),
                "{reason}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 9);
}

fn pre(decision: &str, reason: &str) -> Value {
    json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": decision, "permissionDecisionReason": reason}})
}

#[test]
fn every_claude_code_tool_exact_answers() {
    let dir = project();
    let r = root(&dir);
    let deny = |out: &Out, reason: &str| {
        assert_eq!(
            (out.code, out.json()),
            (2, pre("deny", reason)),
            "stderr: {}",
            out.stderr
        );
        assert_eq!(out.stderr.trim(), reason);
    };
    let none = |out: &Out| {
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (0, "", "")
        )
    };

    let out = claude(
        &dir,
        "Bash",
        json!({"command": "ls -la", "description": "list"}),
    );
    assert_eq!(
        (out.code, out.json()),
        (
            0,
            pre(
                "allow",
                "cavra allow: command `ls -la` matches `ls*` (commands.allow allow)"
            )
        )
    );
    deny(
        &claude(&dir, "Read", json!({"file_path": format!("{r}/.env")})),
        "cavra block: read of .env matches `.env` (filesystem.read.block block)",
    );
    none(&claude(
        &dir,
        "Read",
        json!({"file_path": format!("{r}/src/main.rs")}),
    ));
    // Grep and Glob read the folder they search (the working folder by default). A content
    // search over a folder holding protected files would read them too (15.6): Claude Code's
    // Grep is rewritten (updatedInput) to leave them out, and that is recorded.
    let out = claude(&dir, "Grep", json!({"pattern": "TODO"}));
    assert_eq!(
        (out.code, out.json()),
        (
            0,
            json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "allow", "permissionDecisionReason": "cavra: the search leaves out the protected files it would read (**/.env); recorded", "updatedInput": {"pattern": "TODO", "glob": "!**/.env"}}})
        )
    );
    // With a filter that cannot reach them, the search is left as it is.
    none(&claude(
        &dir,
        "Grep",
        json!({"pattern": "TODO", "glob": "*.rs"}),
    ));
    // A filter that reaches them is a read of them.
    deny(
        &claude(&dir, "Grep", json!({"pattern": "KEY", "glob": ".e*"})),
        "cavra block: read of **/.e* matches `.env` (filesystem.read.block block)",
    );
    none(&claude(
        &dir,
        "Glob",
        json!({"pattern": "**/*.rs", "path": format!("{r}/src")}),
    ));
    deny(
        &claude(
            &dir,
            "Grep",
            json!({"pattern": "KEY", "path": format!("{r}/.env")}),
        ),
        "cavra block: read of .env matches `.env` (filesystem.read.block block)",
    );
    let wf = "cavra block: write of .github/workflows/ci.yml matches `.github/workflows/**` (filesystem.write.block block)";
    deny(
        &claude(
            &dir,
            "Write",
            json!({"file_path": format!("{r}/.github/workflows/ci.yml"), "content": "on: push"}),
        ),
        wf,
    );
    deny(
        &claude(
            &dir,
            "Edit",
            json!({"file_path": format!("{r}/.github/workflows/ci.yml"), "old_string": "a", "new_string": "b"}),
        ),
        wf,
    );
    deny(
        &claude(
            &dir,
            "MultiEdit",
            json!({"file_path": format!("{r}/.github/workflows/ci.yml"), "edits": [{"old_string": "a", "new_string": "b"}]}),
        ),
        wf,
    );
    let out = claude(
        &dir,
        "NotebookEdit",
        json!({"notebook_path": format!("{r}/iam/policy.ipynb"), "new_source": "x"}),
    );
    assert_eq!(
        (out.code, out.json()),
        (
            0,
            pre(
                "ask",
                "cavra require_approval: write of iam/policy.ipynb matches `iam/**` (filesystem.write.require_approval require_approval); approval needed from Repository Owners"
            )
        )
    );
    none(&claude(
        &dir,
        "Write",
        json!({"file_path": format!("{r}/src/lib.rs"), "content": "fn main() {}"}),
    ));
    // Network: no domain rules in this pack, so the default (allow) applies: no decision.
    none(&claude(
        &dir,
        "WebFetch",
        json!({"url": "https://docs.rs/regex", "prompt": "summarise"}),
    ));
    none(&claude(
        &dir,
        "WebSearch",
        json!({"query": "rust sqlite wal"}),
    ));
    none(&claude(&dir, "TodoWrite", json!({"todos": []})));
    deny(
        &claude(
            &dir,
            "mcp__filesystem__write_file",
            json!({"path": "/etc/hosts"}),
        ),
        "cavra block: MCP tool filesystem/write_file: MCP server `filesystem` is not in the pack's allowed servers (rule mcp.server.trust.block_unknown)",
    );
    let out = claude(&dir, "mcp__github__create_issue", json!({"title": "t"}));
    assert_eq!(
        (out.code, out.json()),
        (
            0,
            pre(
                "allow",
                "cavra allow: MCP tool github/create_issue matches `github` (mcp.server.allowed allow)"
            )
        )
    );
    // Unknown tools are never allowed silently: the pack's agents.unknown_tool decides
    // (default require_approval, so Claude Code asks), with a reason that says why.
    let out = claude(&dir, "Teleport", json!({"to": "prod"}));
    assert_eq!(decision_of(&out), "ask");
    assert!(
        out.stdout
            .contains("does not know the claude-code tool `Teleport`")
            && out.stdout.contains("agents.unknown_tool"),
        "{}",
        out.stdout
    );
    // A tool call without what it needs cannot be judged: denied.
    assert_eq!(
        decision_of(&claude(&dir, "Bash", json!({"description": "nothing"}))),
        "deny"
    );
}

#[test]
fn other_agents_exact_answers() {
    let dir = project();
    let r = root(&dir);
    // Codex CLI: Claude-compatible JSON.
    let out = hook(
        "codex",
        dir.path(),
        json!({"session_id": "c1", "cwd": r, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "terraform apply"}}).to_string(),
        &[],
    );
    assert_eq!(
        (out.code, out.json()),
        (
            2,
            pre(
                "deny",
                "cavra block: command `terraform apply` matches `terraform apply*` (commands.block block)"
            )
        )
    );
    // Codex has no `ask`: require_approval is a deny that says how to route it.
    let patch = "*** Begin Patch\n*** Add File: iam/new.tf\n+x\n*** End Patch\n";
    let out = hook(
        "codex",
        dir.path(),
        json!({"session_id": "c1", "cwd": r, "hook_event_name": "PreToolUse", "tool_name": "apply_patch", "tool_input": {"command": patch}}).to_string(),
        &[],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("approval needed from Repository Owners")
            && out.stderr.contains("--approval-mode store"),
        "{}",
        out.stderr
    );

    // Cursor: permission JSON, one event per kind of action.
    let cursor = |payload: Value| hook("cursor", dir.path(), payload.to_string(), &[]);
    let base = json!({"conversation_id": "cur1", "generation_id": "g1", "workspace_roots": [r]});
    let with = |mut extra: Value| {
        for (k, v) in base.as_object().into_iter().flatten() {
            extra[k] = v.clone();
        }
        extra
    };
    let out = cursor(with(
        json!({"hook_event_name": "beforeShellExecution", "command": "npm test", "cwd": r}),
    ));
    assert_eq!((out.code, out.json()), (0, json!({"permission": "allow"})));
    let out = cursor(with(
        json!({"hook_event_name": "beforeShellExecution", "command": "make deploy", "cwd": r}),
    ));
    let reason = "cavra require_approval: command `make deploy`: no rule matches command `make deploy`; the default for execute_command is require_approval (rule commands.default); approval needed from Repository Owners";
    assert_eq!(
        (out.code, out.json()),
        (
            0,
            json!({"permission": "ask", "user_message": reason, "agent_message": reason})
        )
    );
    let out = cursor(with(
        json!({"hook_event_name": "beforeReadFile", "file_path": format!("{r}/.env"), "content": "SECRET=1"}),
    ));
    let reason = "cavra block: read of .env matches `.env` (filesystem.read.block block)";
    assert_eq!(
        (out.code, out.json()),
        (
            2,
            json!({"permission": "deny", "user_message": reason, "agent_message": reason})
        )
    );
    let out = cursor(with(
        json!({"hook_event_name": "beforeMCPExecution", "tool_name": "query", "tool_input": "{\"sql\":\"select 1\"}", "command": "npx pg-mcp"}),
    ));
    assert_eq!(
        (out.code, out.json()["permission"].clone()),
        (2, json!("deny"))
    );
    let out = cursor(with(
        json!({"hook_event_name": "preToolUse", "tool_name": "Write", "tool_input": {"file_path": format!("{r}/.github/workflows/x.yml")}}),
    ));
    assert_eq!(
        (out.code, out.json()["permission"].clone()),
        (2, json!("deny"))
    );

    // Gemini CLI: decision/reason JSON, exit 2 to block.
    let gemini = |tool: &str, input: Value| {
        hook(
            "gemini",
            dir.path(),
            json!({"session_id": "g1", "transcript_path": "/t", "cwd": r, "hook_event_name": "BeforeTool", "timestamp": "2026-01-01T00:00:00Z", "tool_name": tool, "tool_input": input}).to_string(),
            &[],
        )
    };
    let out = gemini(
        "run_shell_command",
        json!({"command": "terraform plan && terraform apply -auto-approve"}),
    );
    let reason = "cavra block: command `terraform apply -auto-approve` matches `terraform apply*` (commands.block block)";
    assert_eq!(
        (out.code, out.json()),
        (2, json!({"decision": "deny", "reason": reason}))
    );
    let out = gemini("run_shell_command", json!({"command": "git status"}));
    assert_eq!(
        (out.code, out.json()),
        (
            0,
            json!({"decision": "allow", "reason": "cavra allow: command `git status` matches `git status*` (commands.allow allow)"})
        )
    );
    let out = gemini(
        "read_file",
        json!({"absolute_path": format!("{r}/README.md")}),
    );
    assert_eq!((out.code, out.json()), (0, json!({})));
    // A content search over a folder holding protected files is judged by them where the
    // input cannot be rewritten (15.6).
    let out = gemini("grep_search", json!({"pattern": "KEY", "dir_path": r}));
    assert_eq!(
        (out.code, out.json()["decision"].clone()),
        (2, json!("deny"))
    );
    assert!(out.stderr.contains(".env"), "{}", out.stderr);
    let out = gemini(
        "grep_search",
        json!({"pattern": "KEY", "dir_path": r, "include_pattern": "*.rs"}),
    );
    assert_eq!((out.code, out.json()), (0, json!({})));

    // GitHub Copilot: camelCase input, toolArgs as a JSON string, permissionDecision output.
    let copilot = |tool: &str, args: Value| {
        hook("copilot", dir.path(), json!({"timestamp": 1704614600000u64, "cwd": r, "toolName": tool, "toolArgs": args.to_string()}).to_string(), &[])
    };
    let out = copilot("bash", json!({"command": "terraform apply -auto-approve"}));
    let reason = "cavra block: command `terraform apply -auto-approve` matches `terraform apply*` (commands.block block)";
    assert_eq!(
        (out.code, out.json()),
        (
            0,
            json!({"permissionDecision": "deny", "permissionDecisionReason": reason})
        )
    );
    let out = copilot("view", json!({"path": format!("{r}/README.md")}));
    assert_eq!((out.code, out.stdout.as_str()), (0, ""));
    // Copilot takes `ask`: require_approval asks the person.
    let out = copilot(
        "create",
        json!({"path": format!("{r}/iam/x.tf"), "file_text": "x"}),
    );
    assert_eq!(
        (out.code, out.json()["permissionDecision"].clone()),
        (0, json!("ask"))
    );
    let out = copilot(
        "create",
        json!({"path": format!("{r}/.github/workflows/x.yml"), "file_text": "x"}),
    );
    assert_eq!(
        (out.code, out.json()["permissionDecision"].clone()),
        (0, json!("deny"))
    );
    // Gemini CLI takes `ask` too (its own confirmation prompt shows the reason).
    let out = gemini(
        "write_file",
        json!({"file_path": format!("{r}/iam/x.tf"), "content": "x"}),
    );
    assert_eq!(
        (out.code, out.json()["decision"].clone()),
        (0, json!("ask"))
    );

    // Codex: an explicit allow is no output (Codex fails a hook that says allow without
    // updatedInput), a deny is exit 2 with the JSON deny.
    let out = hook(
        "codex",
        dir.path(),
        json!({"session_id": "c1", "cwd": r, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "git status"}}).to_string(),
        &[],
    );
    assert_eq!((out.code, out.stdout.as_str()), (0, ""));

    // Lifecycle events are answered neutrally in each agent's shape, never denied.
    for (agent, payload, stdout) in [
        (
            "claude-code",
            json!({"session_id": "s", "cwd": r, "hook_event_name": "UserPromptSubmit", "prompt": "hello"}),
            "",
        ),
        (
            "codex",
            json!({"session_id": "s", "cwd": r, "hook_event_name": "Stop", "stop_hook_active": false}),
            "",
        ),
        (
            "gemini",
            json!({"session_id": "s", "cwd": r, "hook_event_name": "SessionStart", "source": "startup"}),
            "{}",
        ),
        (
            "cursor",
            json!({"conversation_id": "c", "workspace_roots": [r], "hook_event_name": "beforeSubmitPrompt", "prompt": "hi"}),
            r#"{"continue":true}"#,
        ),
        (
            "copilot",
            json!({"timestamp": 1, "cwd": r, "prompt": "hi"}),
            "",
        ),
    ] {
        let out = hook(agent, dir.path(), payload.to_string(), &[]);
        assert_eq!((out.code, out.stdout.trim_end()), (0, stdout), "{agent}");
    }

    // PermissionRequest is decided and answered in its own shape.
    let out = hook(
        "claude-code",
        dir.path(),
        json!({"session_id": "s", "cwd": r, "hook_event_name": "PermissionRequest", "tool_name": "Bash", "tool_input": {"command": "terraform apply -auto-approve"}}).to_string(),
        &[],
    );
    assert_eq!(out.code, 2);
    assert_eq!(
        out.json()["hookSpecificOutput"]["decision"]["behavior"],
        json!("deny")
    );
}

fn assert_denied_with(out: &Out, needle: &str) {
    assert_eq!(out.code, 2, "stdout {} stderr {}", out.stdout, out.stderr);
    assert_eq!(
        out.json()["hookSpecificOutput"]["permissionDecision"],
        "deny"
    );
    let reason = out.json()["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        reason.contains(needle),
        "reason {reason:?} lacks {needle:?}"
    );
    assert!(
        out.stderr.contains(needle),
        "stderr {:?} lacks {needle:?}",
        out.stderr
    );
}

#[test]
fn bad_input_is_denied_with_a_clear_message() {
    let dir = project();
    assert_denied_with(
        &hook("claude-code", dir.path(), "{\"tool_name\": ", &[]),
        "not valid JSON",
    );
    assert_denied_with(&hook("claude-code", dir.path(), "", &[]), "stdin is empty");
    assert_denied_with(
        &hook("claude-code", dir.path(), "  \n", &[]),
        "stdin is empty",
    );
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(10 * 1024 * 1024));
    assert_denied_with(
        &hook("claude-code", dir.path(), big, &[]),
        "larger than 1024 KiB",
    );
    assert_denied_with(
        &hook("claude-code", dir.path(), "[1, 2]", &[]),
        "not a JSON object",
    );
    assert_denied_with(
        &hook(
            "claude-code",
            dir.path(),
            json!({"hook_event_name": "Teleport", "tool_name": "Bash"}).to_string(),
            &[],
        ),
        "unsupported hook event `Teleport`",
    );
    assert_denied_with(
        &hook(
            "claude-code",
            dir.path(),
            json!({"hook_event_name": "PreToolUse"}).to_string(),
            &[],
        ),
        "no tool_name",
    );
    // Each of these denials is evidence too: recorded as hook.failure blocks.
    let failures = store(&dir)
        .decisions(&cavra_store::DecisionFilter {
            decision: Some(cavra_store::Decision::Block),
            ..Default::default()
        })
        .expect("decisions");
    assert_eq!(failures.len(), 7);
    assert!(failures.iter().all(|d| d.rule_id == "hook.failure"));
}

#[test]
fn missing_or_invalid_policy_is_denied() {
    let dir = project();
    let payload = claude_payload(&root(&dir), "Bash", json!({"command": "ls"})).to_string();
    std::fs::write(
        dir.path().join(".cavra/policy.yaml"),
        "filesystem:\n  block_reed: [\".env\"]\n",
    )
    .expect("write");
    let out = hook("claude-code", dir.path(), payload.clone(), &[]);
    assert_denied_with(&out, "cannot be used");
    assert!(
        out.stderr.contains("block_reed") && out.stderr.contains("cavra policy validate"),
        "{}",
        out.stderr
    );
    std::fs::write(
        dir.path().join(".cavra/policy.yaml"),
        "filesystem: [unclosed\n",
    )
    .expect("write");
    assert_denied_with(
        &hook("claude-code", dir.path(), payload.clone(), &[]),
        "cannot be used",
    );
    std::fs::remove_file(dir.path().join(".cavra/policy.yaml")).expect("rm");
    assert_denied_with(
        &hook("claude-code", dir.path(), payload.clone(), &[]),
        "run `cavra init claude-code`",
    );
    // An explicit policy works without the file.
    let out = hook(
        "claude-code",
        dir.path(),
        payload,
        &["--policy", "builtin:cavra-baseline"],
    );
    assert_ne!(out.code, 2, "{}", out.stderr);
}

#[test]
fn deadline_answers_deny_when_the_hook_cannot_finish() {
    let dir = project();
    // stdin is held open and never written: the hook cannot decide; the watchdog must answer.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("cavra"))
        .args(["hook", "claude-code", "--deadline-ms", "300"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let _stdin = child.stdin.take();
    let started = std::time::Instant::now();
    let out = child.wait_with_output().expect("wait");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let out = Out::from(out);
    assert_denied_with(&out, "no decision within 300 ms");
}

#[test]
fn a_crash_in_native_code_still_answers_deny() {
    // A fatal signal (a C library's segmentation fault) cannot be caught as a panic; the
    // agent would let the tool run if the hook died of it. The hook must answer exit 2.
    for signal in ["SEGV", "BUS", "ABRT"] {
        let dir = project();
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("cavra"))
            .args(["hook", "claude-code", "--deadline-ms", "20000"])
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let _stdin = child.stdin.take();
        // Long enough for the hook to have installed its handlers and block on stdin.
        std::thread::sleep(std::time::Duration::from_millis(400));
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success());
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(2), "SIG{signal}: {:?}", out.status);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("cavra blocked this tool call: cavra crashed"),
            "SIG{signal}: {stderr}"
        );
    }
}

fn store(dir: &tempfile::TempDir) -> cavra_store::Store {
    cavra_store::Store::open_repo(dir.path()).expect("store")
}

#[test]
fn decisions_are_recorded_redacted_and_outcomes_hashed() {
    let dir = project();
    let r = root(&dir);
    let token = format!("ghp_{}", "Ab1".repeat(12));
    let out = claude(
        &dir,
        "Bash",
        json!({"command": format!("GITHUB_TOKEN={token} make deploy")}),
    );
    assert_eq!(decision_of(&out), "ask");
    let out = claude(
        &dir,
        "Write",
        json!({"file_path": format!("{r}/src/config.rs"), "content": "const DB: &str = \"postgres://app:S3cretPw@db/app\";"}),
    );
    assert_eq!(decision_of(&out), "none");
    // The tool runs; PostToolUse records the outcome with the written file's hash.
    std::fs::create_dir_all(dir.path().join("src")).expect("src");
    std::fs::write(dir.path().join("src/config.rs"), "hello").expect("write");
    let mut post = claude_payload(
        &r,
        "Write",
        json!({"file_path": format!("{r}/src/config.rs"), "content": "hello"}),
    );
    post["hook_event_name"] = json!("PostToolUse");
    post["tool_response"] = json!({"filePath": format!("{r}/src/config.rs"), "success": true});
    let out = hook("claude-code", dir.path(), post.to_string(), &[]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""));

    let s = store(&dir);
    let text =
        serde_json::to_string(&s.decisions(&Default::default()).expect("decisions")).expect("json");
    assert!(!text.contains(&token), "token stored in clear");
    assert!(!text.contains("S3cretPw"), "password stored in clear");
    assert!(
        text.contains("[REDACTED:github-token]") && text.contains("[REDACTED:url-password]"),
        "{text}"
    );
    let outcomes = s.outcomes(Some("sess-test")).expect("outcomes");
    assert_eq!(outcomes.len(), 1);
    // sha256("hello")
    assert_eq!(
        outcomes[0].sha256.as_deref(),
        Some("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    );
    assert_eq!(outcomes[0].success, Some(true));
    assert!(outcomes[0].decision_id.is_some());
    let session = s.session("sess-test").expect("query").expect("session");
    assert_eq!(
        (session.decisions, session.approvals, session.outcomes),
        (2, 1, 1)
    );
}

/// A folder moved as a whole is a write of everything under it when deciding, but after the
/// tool ran there is no one file to hash: the outcome names the files the command wrote and
/// never `FOLDER/**`.
#[test]
fn outcomes_of_a_folder_move_name_only_files() {
    let dir = project();
    let r = root(&dir);
    std::fs::create_dir_all(dir.path().join("docs")).expect("docs");
    std::fs::write(dir.path().join("notes.txt"), "hi").expect("write");
    let mut post = claude_payload(
        &r,
        "Bash",
        json!({"command": "mv docs manual && cp notes.txt manual/notes.txt && git reset --hard"}),
    );
    post["hook_event_name"] = json!("PostToolUse");
    post["tool_response"] = json!({"success": true});
    let out = hook("claude-code", dir.path(), post.to_string(), &[]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{}", out.stderr);
    let outcomes = store(&dir).outcomes(Some("sess-test")).expect("outcomes");
    let paths: Vec<&str> = outcomes.iter().filter_map(|o| o.path.as_deref()).collect();
    assert!(
        paths.iter().all(|p| !p.ends_with("**")),
        "a folder recorded as a written file: {paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.ends_with("manual/notes.txt")),
        "{paths:?}"
    );
}

#[test]
fn agents_cannot_approve_or_touch_cavra() {
    let dir = project();
    let r = root(&dir);
    let out = claude(
        &dir,
        "Bash",
        json!({"command": "cavra approval approve apr_123 --reason ok"}),
    );
    assert_eq!(decision_of(&out), "deny");
    assert!(
        out.stderr.contains("cannot approve or deny"),
        "{}",
        out.stderr
    );
    let out = claude(
        &dir,
        "Write",
        json!({"file_path": format!("{r}/src/../.cavra/policy.yaml"), "content": "x"}),
    );
    assert_eq!(decision_of(&out), "deny");
    assert!(out.stderr.contains(".cavra/"), "{}", out.stderr);
}

#[test]
fn store_mode_approval_round_trip() {
    let dir = project();
    let r = root(&dir);
    let payload = claude_payload(
        &r,
        "Write",
        json!({"file_path": format!("{r}/iam/role.tf"), "content": "resource {}"}),
    )
    .to_string();
    let store_mode = ["--approval-mode", "store"];

    // 1. Denied, with the approval id and the exact command.
    let out = hook("claude-code", dir.path(), payload.clone(), &store_mode);
    assert_eq!(decision_of(&out), "deny");
    let pending = store(&dir)
        .approvals(Some(cavra_store::ApprovalState::Pending))
        .expect("approvals");
    assert_eq!(pending.len(), 1);
    let id = pending[0].id.clone();
    assert!(
        out.stderr
            .contains(&format!("cavra approval approve {id} --reason")),
        "{}",
        out.stderr
    );
    assert_eq!(pending[0].requested_by, "claude-code:sess-test");
    assert_eq!(pending[0].approver_group, "Repository Owners");

    // A retry before approval points at the same pending approval.
    let out = hook("claude-code", dir.path(), payload.clone(), &store_mode);
    assert!(out.stderr.contains(&id), "{}", out.stderr);
    assert_eq!(store(&dir).approvals(None).expect("approvals").len(), 1);

    // 2. The requester cannot approve their own request.
    cavra()
        .args([
            "approval",
            "approve",
            &id,
            "--reason",
            "mine",
            "--actor",
            "claude-code:sess-test",
        ])
        .current_dir(dir.path())
        .assert()
        .failure()
        .stderr(predicates::str::contains("cannot approve it"));

    // 3. Another actor approves.
    cavra()
        .args([
            "approval",
            "approve",
            &id,
            "--reason",
            "reviewed the role",
            "--actor",
            "alice",
        ])
        .current_dir(dir.path())
        .assert()
        .success()
        .stdout(predicates::str::contains("allowed once"));

    // 4. The same request is allowed once …
    let out = hook("claude-code", dir.path(), payload.clone(), &store_mode);
    assert_eq!(decision_of(&out), "allow", "{}", out.stdout);
    assert!(out.stdout.contains("approved by alice"), "{}", out.stdout);
    // … a different request is not unlocked by it …
    let other = claude_payload(
        &r,
        "Write",
        json!({"file_path": format!("{r}/iam/other.tf"), "content": "x"}),
    )
    .to_string();
    assert_eq!(
        decision_of(&hook("claude-code", dir.path(), other, &store_mode)),
        "deny"
    );
    // … and the second time it is denied again (a new approval is asked for).
    let out = hook("claude-code", dir.path(), payload.clone(), &store_mode);
    assert_eq!(decision_of(&out), "deny");
    assert!(!out.stderr.contains(&id), "{}", out.stderr);

    // JSON listing shows the history of the first approval.
    let listed = cavra()
        .args(["approval", "list", "--state", "consumed", "--json"])
        .current_dir(dir.path())
        .output()
        .expect("list");
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(listed[0]["id"], json!(id));
    assert_eq!(listed[0]["history"].as_array().map(Vec::len), Some(3));

    // A denied approval keeps the action blocked.
    let newest = store(&dir)
        .approvals(Some(cavra_store::ApprovalState::Pending))
        .expect("approvals");
    let id2 = newest[0].id.clone();
    cavra()
        .args([
            "approval",
            "deny",
            &id2,
            "--reason",
            "no admin roles",
            "--actor",
            "bob",
        ])
        .current_dir(dir.path())
        .assert()
        .success();
    let out = hook("claude-code", dir.path(), payload, &store_mode);
    assert_eq!(decision_of(&out), "deny");
    assert!(
        out.stderr.contains("was denied by bob: no admin roles"),
        "{}",
        out.stderr
    );
}

#[test]
fn expired_approval_does_not_unlock() {
    let dir = project();
    let r = root(&dir);
    let payload = claude_payload(&r, "Bash", json!({"command": "make deploy"}));
    // The fingerprint the hook computes for this call.
    let mut request =
        cavra_engine::Request::new(cavra_engine::ActionType::ExecuteCommand, "make deploy");
    request.repo_root = Some(r.clone());
    request.cwd = Some(r.clone());
    let fingerprint = request.fingerprint();
    let mut s = store(&dir);
    let long_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(3);
    let a = s
        .create_approval(&cavra_store::NewApproval {
            decision_id: "d".into(),
            fingerprint,
            session_id: Some("sess-test".into()),
            approver_group: "Repository Owners".into(),
            requested_by: "claude-code:sess-test".into(),
            summary: "execute_command: make deploy".into(),
            id: cavra_store::new_approval_id(),
            requested_at: cavra_store::Timestamp::at(long_ago).unwrap(),
            expires_at: cavra_store::Timestamp::at(
                long_ago + time::Duration::try_from(std::time::Duration::from_secs(3600)).unwrap(),
            )
            .unwrap(),
        })
        .expect("create");
    s.approve(&a.id, "alice", "ok", long_ago + time::Duration::minutes(1))
        .expect("approve");
    drop(s);
    let out = hook(
        "claude-code",
        dir.path(),
        payload.to_string(),
        &["--approval-mode", "store"],
    );
    assert_eq!(decision_of(&out), "deny");
    assert!(!out.stderr.contains(&a.id));
    assert_eq!(
        store(&dir).approval(&a.id).expect("q").expect("a").state,
        cavra_store::ApprovalState::Expired
    );
    // `cavra approval expire` reports nothing left to expire, and the list shows it expired.
    cavra()
        .args(["approval", "list", "--state", "expired"])
        .current_dir(dir.path())
        .assert()
        .success()
        .stdout(predicates::str::contains(&a.id));
}

#[test]
fn killed_hooks_leave_the_store_intact() {
    use std::io::Write;
    let dir = project();
    let r = root(&dir);
    let bin: PathBuf = assert_cmd::cargo::cargo_bin("cavra");
    let mut acknowledged = Vec::new();
    let mut killed = 0;
    for round in 0..12 {
        // A burst of concurrent hook calls; every other one is SIGKILLed mid-flight, at a
        // different point of its run each round.
        let mut children = Vec::new();
        for i in 0..8 {
            let id = format!("toolu_{round}_{i}");
            let payload = json!({"session_id": "burst", "cwd": r, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": format!("ls {id}")}, "tool_use_id": id});
            let mut child = std::process::Command::new(&bin)
                .args(["hook", "claude-code"])
                .current_dir(dir.path())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(payload.to_string().as_bytes())
                .expect("write");
            children.push((id, child));
        }
        std::thread::sleep(std::time::Duration::from_millis(1 + (round * 7) % 40));
        for (i, (id, mut child)) in children.into_iter().enumerate() {
            if i % 2 == 1 {
                let _ = child.kill();
            }
            let out = child.wait_with_output().expect("wait");
            // Acknowledged: the hook answered the agent (here: allow, by `ls*`).
            if out.status.success() && String::from_utf8_lossy(&out.stdout).contains("\"allow\"") {
                acknowledged.push(id);
            } else {
                killed += 1;
            }
        }
    }
    assert!(!acknowledged.is_empty(), "no hook finished");
    let s = store(&dir);
    assert_eq!(s.integrity_check().expect("check"), "ok");
    let stored: Vec<String> = s
        .decisions(&Default::default())
        .expect("decisions")
        .into_iter()
        .filter_map(|d| d.extra.tool_use_id)
        .collect();
    for id in &acknowledged {
        assert!(
            stored.contains(id),
            "acknowledged decision {id} missing from the store"
        );
    }
    // The evidence log: every acknowledged decision has its entry, and the whole chain
    // (hashes, positions, checkpoints, signatures) verifies.
    let logged: Vec<String> = s
        .log_entries(&Default::default())
        .expect("log")
        .into_iter()
        .filter_map(|e| {
            let v: Value = serde_json::from_slice(&e.bytes).ok()?;
            v["body"]["tool_use_id"].as_str().map(str::to_string)
        })
        .collect();
    for id in &acknowledged {
        assert!(
            logged.contains(id),
            "acknowledged decision {id} missing from the log"
        );
    }
    assert_eq!(logged.len(), stored.len());
    let out = cavra()
        .args(["evidence", "log", "verify"])
        .current_dir(dir.path())
        .output()
        .expect("verify runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "{} acknowledged, {killed} killed or unfinished, {} stored",
        acknowledged.len(),
        stored.len()
    );
}

#[test]
fn demo_runs_every_scene() {
    let out = cavra()
        .args(["demo", "before-the-agent-acts"])
        .output()
        .expect("demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "a safe read",
        "PASS ",
        "DENY  cavra block: read of .env",
        "DENY  cavra block: write of .github/workflows/release.yml",
        "ASK   cavra require_approval: write of iam/admin-role.tf",
        "ALLOW cavra allow: command `npm test`",
        "DENY  cavra block: command `terraform apply -auto-approve`",
        "MCP server `filesystem` is not in the pack's allowed servers",
        "8 decisions — 4 blocked, 1 routed for approval",
        "recorded: ",
        "evidence log: log ",
        // The eight decisions and the ask recorded as a pending approval (ask mode).
        ": 9 entries",
        "bundle: wrote ",
        "verified offline against the auditor's trust root: exit 0",
        "after changing one byte of entries.jsonl: exit 1",
        "checksum mismatch: entries.jsonl",
    ] {
        assert!(
            text.contains(needle),
            "demo output lacks {needle:?}:\n{text}"
        );
    }
    // Plain output when not on a terminal.
    assert!(!text.contains("\x1b["));
}

#[test]
fn session_and_decision_commands_read_the_store() {
    let dir = project();
    let r = root(&dir);
    // Nothing recorded yet: a clear message, and an empty JSON list.
    cavra()
        .args(["session", "list"])
        .current_dir(dir.path())
        .assert()
        .success()
        .stdout(predicates::str::contains("nothing recorded yet"));
    cavra()
        .args(["decision", "list", "--json"])
        .current_dir(dir.path())
        .assert()
        .success()
        .stdout("[]\n");
    claude(&dir, "Bash", json!({"command": "npm test"}));
    claude(&dir, "Read", json!({"file_path": format!("{r}/.env")}));
    claude(&dir, "Bash", json!({"command": "terraform apply"}));
    cavra()
        .args(["session", "list"])
        .current_dir(dir.path())
        .assert()
        .success()
        .stdout(predicates::str::is_match(r"sess-test\s+claude-code\s+3\s+2\s+0").expect("regex"));
    cavra()
        .args(["session", "show", "sess-test"])
        .current_dir(dir.path())
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "3 decisions: 2 blocked, 0 routed for approval",
        ))
        .stdout(predicates::str::contains("filesystem.read.block"));
    let out = cavra()
        .args(["decision", "list", "--decision", "block", "--json"])
        .current_dir(dir.path())
        .output()
        .expect("list");
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    let rules: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d["rule_id"].as_str())
        .collect();
    assert_eq!(rules, ["commands.block", "filesystem.read.block"]);
    assert_eq!(listed[0]["record"]["tool_name"], "Bash");
    cavra()
        .args(["session", "show", "nope"])
        .current_dir(dir.path())
        .assert()
        .failure()
        .stderr(predicates::str::contains("no session `nope`"));
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The redaction corpus (`cavra_redact::corpus`) and one pack-defined rule, written through
/// the hook the ways agents carry secrets (commands, file contents, URLs, MCP arguments,
/// approval summaries, outcome paths): not one secret reaches the store, read as raw bytes
/// (database and WAL) or through the store API.
#[test]
fn no_corpus_secret_reaches_the_store() {
    use cavra_redact::corpus;
    let dir = project();
    let r = root(&dir);
    let rules: String = corpus::custom_rule_yaml()
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
    std::fs::write(
        dir.path().join(".cavra/policy.yaml"),
        format!("{CONFORMANCE_POLICY}redaction:\n  rules:\n{rules}"),
    )
    .expect("policy");
    let cache = dir.path().join(".cavra/test-pack-cache");
    let run = |tool: &str, input: Value, extra: &[&str], event: &str| {
        let mut payload = claude_payload(&r, tool, input);
        payload["hook_event_name"] = json!(event);
        if event == "PostToolUse" {
            payload["tool_response"] = json!({"success": true});
        }
        let out = cavra()
            .arg("hook")
            .arg("claude-code")
            .args(extra)
            .env("CAVRA_CACHE_DIR", &cache)
            .current_dir(dir.path())
            .write_stdin(payload.to_string())
            .output()
            .expect("hook runs");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !stderr.contains("cannot be used") && !stderr.contains("could not record"),
            "{stderr}"
        );
        out.status.code()
    };

    let mut cases = corpus::secrets();
    cases.push(corpus::custom_case());
    let store_mode = ["--approval-mode", "store"];
    for (i, case) in cases.iter().enumerate() {
        // A command (unlisted commands need approval: the pending approval's summary holds it).
        run(
            "Bash",
            json!({"command": case.text}),
            &store_mode,
            "PreToolUse",
        );
        // A file's content.
        run(
            "Write",
            json!({"file_path": format!("{r}/src/config_{i}.txt"), "content": case.text}),
            &[],
            "PreToolUse",
        );
        // An edit.
        run(
            "Edit",
            json!({"file_path": format!("{r}/src/config_{i}.txt"), "old_string": "x", "new_string": case.text}),
            &[],
            "PreToolUse",
        );
        // URLs with credentials.
        for url in case
            .text
            .split(|c: char| c.is_whitespace() || c == '\'' || c == '"')
            .filter(|w| w.contains("://"))
        {
            run(
                "WebFetch",
                json!({"url": url, "prompt": "summarise"}),
                &[],
                "PreToolUse",
            );
        }
        // An MCP call with the secret inside free text and as an argument whose name says it
        // is a secret. (A bare value under a neutral name is caught only when its format is
        // recognisable on its own: a password or an AWS secret key alone is not.)
        run(
            "mcp__github__create_issue",
            json!({"repo": "org/repo", "title": "deploy notes", "body": case.text, "api_token": case.secrets[0]}),
            &[],
            "PreToolUse",
        );
    }
    // A written file whose path holds a token: the outcome records the path.
    let token = cases
        .iter()
        .find(|c| c.name == "github-ghp")
        .map(|c| c.secrets[0].clone())
        .expect("ghp case");
    std::fs::create_dir_all(dir.path().join("src")).expect("src");
    std::fs::write(dir.path().join(format!("src/{token}.txt")), "x").expect("file");
    run(
        "Write",
        json!({"file_path": format!("{r}/src/{token}.txt"), "content": "x"}),
        &[],
        "PostToolUse",
    );

    let secrets: Vec<(&str, &str)> = cases
        .iter()
        .flat_map(|c| c.secrets.iter().map(move |s| (c.name, s.as_str())))
        .collect();
    assert!(secrets.len() >= 60, "{}", secrets.len());

    // Through the store API.
    let s = store(&dir);
    let decisions = s.decisions(&Default::default()).expect("decisions");
    assert!(decisions.len() >= cases.len() * 4, "{}", decisions.len());
    let approvals = s.approvals(None).expect("approvals");
    assert!(!approvals.is_empty());
    let outcomes = s.outcomes(None).expect("outcomes");
    assert_eq!(outcomes.len(), 1);
    let text = format!(
        "{}\n{}\n{}",
        serde_json::to_string(&decisions).expect("json"),
        serde_json::to_string(&approvals).expect("json"),
        serde_json::to_string(&outcomes).expect("json"),
    );
    for (name, secret) in &secrets {
        if let Some(at) = text.find(secret) {
            let from = text[..at]
                .char_indices()
                .rev()
                .nth(200)
                .map_or(0, |(i, _)| i);
            panic!(
                "{name}: secret in the store API output: …{}",
                &text[from..at]
            );
        }
    }
    assert!(
        text.contains("[REDACTED:acme-internal-token]"),
        "the pack's rule applied"
    );
    // Findings are recorded as {pointer, rule} into the stored record.
    let found: Vec<(String, String)> = decisions
        .iter()
        .flat_map(|d| {
            d.record["redactions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|f| {
                    (
                        f["pointer"].as_str().unwrap_or("").to_string(),
                        f["rule"].as_str().unwrap_or("").to_string(),
                    )
                })
        })
        .collect();
    for (pointer, rule) in [
        ("/tool_input/command", "acme-internal-token"),
        ("/tool_input/content", "private-key"),
        ("/tool_input/url", "url-password"),
        ("/tool_input/api_token", "sensitive-key"),
        ("/target", "github-token"),
    ] {
        assert!(
            found.iter().any(|(p, r)| p == pointer && r == rule),
            "no finding {pointer} {rule}"
        );
    }
    drop(s);

    // As raw bytes: the database, its WAL and everything else cavra keeps under .cavra/.
    let files: Vec<PathBuf> = files_under(&dir.path().join(".cavra"))
        .into_iter()
        .filter(|p| !p.ends_with("policy.yaml"))
        .collect();
    assert!(files.iter().any(|p| p.ends_with("cavra.db")), "{files:?}");
    let no_secret_in = |files: &[PathBuf]| {
        for file in files {
            let bytes = std::fs::read(file).expect("read");
            for (name, secret) in &secrets {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{name}: secret in {}",
                    file.display()
                );
            }
        }
    };
    no_secret_in(&files);

    // The evidence log (its entries are in the database checked above, and read back here),
    // a signed bundle and every export format.
    let log = s_entries(&dir);
    assert!(log.len() >= decisions.len(), "{} entries", log.len());
    let out = tempfile::tempdir().expect("out");
    let key = out.path().join("keys");
    cavra()
        .args(["keys", "generate", "--key-id", "corpus", "--output"])
        .arg(&key)
        .assert()
        .success();
    cavra()
        .args(["evidence", "bundle", "--output"])
        .arg(out.path().join("bundle"))
        .arg("--sign-key")
        .arg(key.join("corpus.key"))
        .current_dir(dir.path())
        .assert()
        .success();
    let mut exported = files_under(&out.path().join("bundle"));
    assert!(exported.len() >= 7, "{exported:?}");
    for format in ["jsonl", "splunk-hec", "ocsf"] {
        let file = out.path().join(format!("export.{format}"));
        cavra()
            .args(["evidence", "export", "--format", format, "--output"])
            .arg(&file)
            .current_dir(dir.path())
            .assert()
            .success();
        exported.push(file);
    }
    no_secret_in(&exported);
    let bundled =
        std::fs::read_to_string(out.path().join("bundle/entries.jsonl")).expect("entries");
    assert!(bundled.contains("[REDACTED:acme-internal-token]"));
}

fn s_entries(dir: &tempfile::TempDir) -> Vec<cavra_store::LogEntry> {
    store(dir)
        .log_entries(&Default::default())
        .expect("log entries")
}

// ---------------------------------------------------------------------------------------------
// `cavra hook <agent> --daemon`: the per-repository hook server.

/// A project whose hook servers live in a private runtime folder of the test; every server
/// started is stopped when this is dropped (and exits on its own after 20 s idle anyway).
struct Served {
    dir: tempfile::TempDir,
    runtime: tempfile::TempDir,
}

impl Served {
    fn new() -> Served {
        Served {
            dir: project(),
            runtime: tempfile::tempdir().expect("runtime dir"),
        }
    }

    fn cmd(&self) -> Command {
        let mut cmd = cavra();
        cmd.env("XDG_RUNTIME_DIR", self.runtime.path())
            .env("CAVRA_HOOK_DAEMON_IDLE_SECS", "20")
            .current_dir(self.dir.path());
        cmd
    }

    fn hook(&self, agent: &str, stdin: impl Into<Vec<u8>>, extra: &[&str]) -> Out {
        let out = self
            .cmd()
            .args(["hook", agent, "--daemon"])
            .args(extra)
            .write_stdin(stdin.into())
            .output()
            .expect("hook runs");
        Out::from(out)
    }

    /// The same call through the slim `cavra-hook` client.
    fn slim(&self, agent: &str, stdin: impl Into<Vec<u8>>, extra: &[&str]) -> Out {
        let out = Command::cargo_bin("cavra-hook")
            .expect("the cavra-hook binary is built")
            .env_remove("CAVRA_POLICY")
            .env_remove("CAVRA_HOOK_DEADLINE_MS")
            .env("XDG_RUNTIME_DIR", self.runtime.path())
            .env("CAVRA_HOOK_DAEMON_IDLE_SECS", "20")
            .current_dir(self.dir.path())
            .arg(agent)
            .args(extra)
            .write_stdin(stdin.into())
            .output()
            .expect("cavra-hook runs");
        Out::from(out)
    }

    fn status(&self) -> String {
        let out = self
            .cmd()
            .args(["hook", "daemon", "status"])
            .output()
            .expect("status runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn field(&self, name: &str) -> Option<String> {
        self.status()
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string))
    }

    fn socket(&self) -> PathBuf {
        PathBuf::from(self.field("socket").expect("status names the socket"))
    }

    fn calls(&self) -> u64 {
        self.field("calls")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    /// Waits until a server answers `status` (the first `--daemon` call starts one).
    fn wait_running(&self) {
        let started = std::time::Instant::now();
        while !self.status().contains(": running") {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "no hook server started: {}",
                self.status()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn start(&self) {
        let payload = claude_payload(&root(&self.dir), "Read", json!({"file_path": "README.md"}));
        self.hook("claude-code", payload.to_string(), &[]);
        self.wait_running();
    }

    fn stop(&self) {
        self.cmd()
            .args(["hook", "daemon", "stop"])
            .assert()
            .success();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.cmd().args(["hook", "daemon", "stop"]).output();
    }
}

/// Every payload the in-process tests use, for the agent that sends it.
fn all_payloads(r: &str) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = CONFORMANCE_CASES
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let case: Value = serde_json::from_str(&line.replace("__PROJECT__", r)).expect("case");
            ("claude-code", case["payload"].to_string())
        })
        .collect();
    let claude =
        |tool: &str, input: Value| ("claude-code", claude_payload(r, tool, input).to_string());
    out.extend([
        claude("Bash", json!({"command": "terraform apply"})),
        claude("Bash", json!({"command": "cavra approval approve apr_1 --reason ok"})),
        claude("Write", json!({"file_path": format!("{r}/.cavra/policy.yaml"), "content": "x"})),
        claude("Read", json!({"file_path": format!("{r}/.env")})),
        claude("Edit", json!({"file_path": format!("{r}/iam/x.tf"), "old_string": "a", "new_string": "b"})),
        claude("WebFetch", json!({"url": "https://example.com", "prompt": "x"})),
        claude("TodoWrite", json!({"todos": []})),
        claude("SomeNewTool", json!({})),
        claude("mcp__db__query", json!({"sql": "select 1"})),
        ("codex", json!({"session_id": "c1", "cwd": r, "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "terraform apply"}}).to_string()),
        ("cursor", json!({"conversation_id": "cur1", "generation_id": "g1", "workspace_roots": [r], "hook_event_name": "beforeShellExecution", "command": "make deploy", "cwd": r}).to_string()),
        ("cursor", json!({"hook_event_name": "beforeReadFile", "file_path": format!("{r}/.env"), "content": "SECRET=1"}).to_string()),
        ("gemini", json!({"session_id": "g1", "transcript_path": "/t", "cwd": r, "hook_event_name": "BeforeTool", "timestamp": "2026-01-01T00:00:00Z", "tool_name": "run_shell_command", "tool_input": {"command": "git status"}}).to_string()),
        ("copilot", json!({"timestamp": 1704614600000u64, "cwd": r, "toolName": "bash", "toolArgs": json!({"command": "terraform apply -auto-approve"}).to_string()}).to_string()),
        ("copilot", json!({"timestamp": 1704614600000u64, "cwd": r, "toolName": "create", "toolArgs": json!({"path": format!("{r}/iam/x.tf"), "file_text": "x"}).to_string()}).to_string()),
        // After the tool ran.
        ("claude-code", json!({"session_id": "s", "cwd": r, "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_input": {"command": "echo hi > out.txt"}, "tool_response": {"success": true}, "tool_use_id": "toolu_x"}).to_string()),
        // Bad input: the same denies as in process.
        ("claude-code", "{\"tool_name\": ".to_string()),
        ("claude-code", String::new()),
        ("claude-code", "  \n".to_string()),
        ("claude-code", "[1, 2]".to_string()),
        ("claude-code", json!({"hook_event_name": "Teleport", "tool_name": "Bash"}).to_string()),
        ("claude-code", json!({"hook_event_name": "PreToolUse"}).to_string()),
    ]);
    out
}

#[test]
fn the_server_answers_byte_for_byte_as_in_process() {
    let s = Served::new();
    let r = root(&s.dir);
    s.start();
    let before = s.calls();
    let payloads = all_payloads(&r);
    for (agent, payload) in &payloads {
        let local = hook(agent, s.dir.path(), payload.clone(), &[]);
        let served = s.hook(agent, payload.clone(), &[]);
        assert_eq!(
            (served.code, &served.stdout, &served.stderr),
            (local.code, &local.stdout, &local.stderr),
            "{agent}: {payload}"
        );
        let slim = s.slim(agent, payload.clone(), &[]);
        assert_eq!(
            (slim.code, &slim.stdout, &slim.stderr),
            (local.code, &local.stdout, &local.stderr),
            "cavra-hook {agent}: {payload}"
        );
    }
    // Store mode too (a pending approval's id differs per call; the shape must not).
    let ask = claude_payload(
        &r,
        "Edit",
        json!({"file_path": format!("{r}/iam/y.tf"), "old_string": "a", "new_string": "b"}),
    )
    .to_string();
    let local = hook(
        "claude-code",
        s.dir.path(),
        ask.clone(),
        &["--approval-mode", "store"],
    );
    let served = s.hook("claude-code", ask, &["--approval-mode", "store"]);
    assert_eq!((served.code, local.code), (2, 2));
    assert!(
        served.stdout.contains("Pending approval apr_"),
        "{}",
        served.stdout
    );
    // Every one of them was answered by the server, not by a fallback.
    assert_eq!(s.calls() - before, 2 * payloads.len() as u64 + 1);
    // An oversize input never reaches the server and is denied as in process.
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    assert_denied_with(
        &s.hook("claude-code", big.clone(), &[]),
        "larger than 1024 KiB",
    );
    assert_denied_with(&s.slim("claude-code", big, &[]), "larger than 1024 KiB");
    // Options cavra-hook does not read itself go to `cavra hook`, which answers as ever.
    let payload = claude_payload(&r, "Bash", json!({"command": "ls"})).to_string();
    let out = s.slim("claude-code", payload.clone(), &["--bogus"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--bogus"), "{}", out.stderr);
    let out = s.slim(
        "claude-code",
        payload.clone(),
        &["--policy=builtin:cavra-baseline"],
    );
    let local = hook(
        "claude-code",
        s.dir.path(),
        payload,
        &["--policy", "builtin:cavra-baseline"],
    );
    assert_eq!((out.code, &out.stdout), (local.code, &local.stdout));
    s.stop();
    assert!(s.status().contains("not running"), "{}", s.status());
}

#[test]
fn the_record_is_stored_before_the_answer_and_policy_edits_apply_next_call() {
    let s = Served::new();
    let r = root(&s.dir);
    s.start();
    let marker = |n: u32| {
        claude_payload(&r, "Bash", json!({"command": format!("echo marker-{n}")})).to_string()
    };
    let out = s.hook("claude-code", marker(1), &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let recorded = store(&s.dir)
        .decisions(&cavra_store::DecisionFilter::default())
        .expect("decisions");
    assert!(
        recorded
            .iter()
            .any(|d| d.record.to_string().contains("echo marker-1")),
        "the served decision is in the store when the client returns"
    );
    // A policy edit decides the very next call.
    let policy = s.dir.path().join(".cavra/policy.yaml");
    let original = std::fs::read_to_string(&policy).expect("policy");
    std::fs::write(
        &policy,
        original.replace(
            "block: [\"terraform apply*\"]",
            "block: [\"terraform apply*\", \"echo *\"]",
        ),
    )
    .expect("write");
    let out = s.hook("claude-code", marker(2), &[]);
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stdout.contains("echo *"), "{}", out.stdout);
    let local = hook("claude-code", s.dir.path(), marker(2), &[]);
    assert_eq!((out.code, &out.stdout), (local.code, &local.stdout));
    // A broken policy is a deny at once, and the fix takes effect at once.
    std::fs::write(&policy, "filesystem: [unclosed\n").expect("write");
    assert_denied_with(&s.hook("claude-code", marker(3), &[]), "cannot be used");
    std::fs::write(&policy, &original).expect("write");
    assert_eq!(s.hook("claude-code", marker(4), &[]).code, 0);
    // The store replaced under the server: it opens the new one.
    std::fs::remove_file(s.dir.path().join(".cavra/cavra.db")).expect("rm db");
    let _ = std::fs::remove_file(s.dir.path().join(".cavra/cavra.db-wal"));
    let _ = std::fs::remove_file(s.dir.path().join(".cavra/cavra.db-shm"));
    assert_eq!(s.hook("claude-code", marker(5), &[]).code, 0);
    let recorded = store(&s.dir)
        .decisions(&cavra_store::DecisionFilter::default())
        .expect("decisions");
    assert!(
        recorded
            .iter()
            .any(|d| d.record.to_string().contains("echo marker-5"))
    );
}

#[test]
fn concurrent_calls_are_all_answered_and_recorded() {
    let s = Served::new();
    let r = root(&s.dir);
    s.start();
    let before = s.calls();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let s = &s;
                let r = &r;
                scope.spawn(move || {
                    let cmd = if i % 2 == 0 {
                        "terraform apply".to_string()
                    } else {
                        format!("echo parallel-{i}")
                    };
                    let out = s.hook(
                        "claude-code",
                        claude_payload(r, "Bash", json!({"command": cmd})).to_string(),
                        &[],
                    );
                    assert_eq!(
                        out.code,
                        if i % 2 == 0 { 2 } else { 0 },
                        "{i}: {}",
                        out.stderr
                    );
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
    });
    assert_eq!(s.calls() - before, 8);
    let recorded = store(&s.dir)
        .decisions(&cavra_store::DecisionFilter::default())
        .expect("decisions");
    for i in [1, 3, 5, 7] {
        assert!(
            recorded
                .iter()
                .any(|d| d.record.to_string().contains(&format!("echo parallel-{i}")))
        );
    }
}

#[test]
fn a_killed_server_or_a_stale_socket_falls_back_in_process() {
    let s = Served::new();
    let r = root(&s.dir);
    let blocked = claude_payload(&r, "Bash", json!({"command": "terraform apply"})).to_string();
    let allowed = claude_payload(&r, "Bash", json!({"command": "echo fine"})).to_string();
    let want_blocked = hook("claude-code", s.dir.path(), blocked.clone(), &[]);
    let want_allowed = hook("claude-code", s.dir.path(), allowed.clone(), &[]);
    s.start();
    let socket = s.socket();
    let pid = s.field("pid").expect("pid");
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(socket.exists(), "a killed server leaves its socket behind");
    for (payload, want) in [(&blocked, &want_blocked), (&allowed, &want_allowed)] {
        let out = s.hook("claude-code", payload.clone(), &[]);
        assert_eq!(
            (out.code, &out.stdout, &out.stderr),
            (want.code, &want.stdout, &want.stderr)
        );
    }
    s.wait_running();
    let pid2 = s.field("pid").expect("pid");
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &pid2])
            .status()
            .expect("kill")
            .success()
    );
    std::thread::sleep(std::time::Duration::from_millis(100));
    for (payload, want) in [(&blocked, &want_blocked), (&allowed, &want_allowed)] {
        let out = s.slim("claude-code", payload.clone(), &[]);
        assert_eq!(
            (out.code, &out.stdout, &out.stderr),
            (want.code, &want.stdout, &want.stderr)
        );
    }
    // The fallback started a fresh server over the stale socket.
    s.wait_running();
    assert_ne!(s.field("pid").expect("pid"), pid);
    s.stop();
    // A stale socket file with nobody listening.
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    assert!(socket.exists());
    let out = s.hook("claude-code", blocked.clone(), &[]);
    assert_eq!(
        (out.code, &out.stdout),
        (want_blocked.code, &want_blocked.stdout)
    );
    s.wait_running();
    s.stop();
}

#[test]
fn a_server_that_hangs_or_breaks_is_a_deny() {
    let s = Served::new();
    let r = root(&s.dir);
    let allowed = claude_payload(&r, "Bash", json!({"command": "echo fine"})).to_string();
    let socket = s.socket();
    // `hook daemon status` only looks (it makes no socket folder): make the folder a server
    // would, private.
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(socket.parent().expect("socket folder"))
            .expect("socket folder");
    }
    // Takes the call and never answers: deny at the client's deadline, never allow.
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let started = std::time::Instant::now();
    let out = s.hook("claude-code", allowed.clone(), &["--deadline-ms", "400"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_denied_with(&out, "no decision within 400 ms");
    assert!(
        out.stderr.contains("cavra hook daemon stop"),
        "{}",
        out.stderr
    );
    let slim = s.slim("claude-code", allowed.clone(), &["--deadline-ms", "400"]);
    assert_eq!(
        (slim.code, &slim.stdout, &slim.stderr),
        (out.code, &out.stdout, &out.stderr)
    );
    // Reads the call and hangs up without an answer (a fresh socket: the old one still
    // holds the call above in its queue).
    drop(listener);
    std::fs::remove_file(&socket).expect("rm socket");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let server = std::thread::spawn(move || {
        for reply in [
            None,
            Some(b"\x05\x00\x00\x00CVH1\x09".to_vec()),
            None,
            Some(b"\x05\x00\x00\x00CVH1\x09".to_vec()),
        ] {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut len = [0u8; 4];
            use std::io::{Read, Write};
            conn.read_exact(&mut len).expect("len");
            let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
            conn.read_exact(&mut body).expect("body");
            if let Some(r) = reply {
                conn.write_all(&r).expect("write");
            }
        }
    });
    assert_denied_with(
        &s.hook("claude-code", allowed.clone(), &[]),
        "broke the connection before answering",
    );
    assert_denied_with(
        &s.hook("claude-code", allowed.clone(), &[]),
        "answered garbage",
    );
    assert_denied_with(
        &s.slim("claude-code", allowed.clone(), &[]),
        "broke the connection before answering",
    );
    assert_denied_with(&s.slim("claude-code", allowed, &[]), "answered garbage");
    server.join().expect("fake server");
}

#[test]
fn the_socket_folder_is_private_and_the_server_stops_by_itself() {
    let s = Served::new();
    s.start();
    let socket = s.socket();
    let folder = socket.parent().expect("folder");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(folder)
        .expect("folder")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "{}", folder.display());
    // `.cavra/` gone: the server exits.
    let pid = s.field("pid").expect("pid");
    std::fs::remove_dir_all(s.dir.path().join(".cavra")).expect("rm .cavra");
    let started = std::time::Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| !st.contains(") Z "))
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the server outlived .cavra/"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!socket.exists());

    // A folder others can open is refused: no server, the hook decides in process.
    let other = Served::new();
    let shared = other.runtime.path().join("cavra");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let payload = claude_payload(
        &root(&other.dir),
        "Bash",
        json!({"command": "terraform apply"}),
    )
    .to_string();
    let out = other.hook("claude-code", payload, &[]);
    assert_eq!(out.code, 2);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(std::fs::read_dir(&shared).expect("read").count(), 0);

    // Idle: the server exits after CAVRA_HOOK_DAEMON_IDLE_SECS without calls.
    let idle = Served::new();
    let payload =
        claude_payload(&root(&idle.dir), "Read", json!({"file_path": "README.md"})).to_string();
    idle.cmd()
        .env("CAVRA_HOOK_DAEMON_IDLE_SECS", "1")
        .args(["hook", "claude-code", "--daemon"])
        .write_stdin(payload)
        .output()
        .expect("hook runs");
    idle.wait_running();
    let started = std::time::Instant::now();
    while idle.status().contains(": running") {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(6),
            "the idle server still runs"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn the_server_exits_when_its_executable_is_replaced() {
    let s = Served::new();
    // A copy of cavra, so that replacing it touches nothing else.
    let bin = tempfile::tempdir().expect("bin dir");
    let exe = bin.path().join("cavra");
    std::fs::copy(assert_cmd::cargo::cargo_bin("cavra"), &exe).expect("copy cavra");
    let payload =
        claude_payload(&root(&s.dir), "Read", json!({"file_path": "README.md"})).to_string();
    let out = support::spawn_copied(
        std::process::Command::new(&exe)
            .args(["hook", "claude-code", "--daemon"])
            .env("XDG_RUNTIME_DIR", s.runtime.path())
            .env("CAVRA_HOOK_DAEMON_IDLE_SECS", "20")
            .env_remove("CAVRA_POLICY")
            .current_dir(s.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    )
    .and_then(|mut c| {
        use std::io::Write;
        c.stdin
            .take()
            .expect("stdin")
            .write_all(payload.as_bytes())?;
        c.wait_with_output()
    })
    .expect("hook runs");
    assert_eq!(out.status.code(), Some(0));
    s.wait_running();
    // An upgrade replaces the file (a new inode under the same path): the server exits and
    // the next call starts the new one.
    let new = bin.path().join("cavra.new");
    std::fs::write(&new, "#!/bin/sh\nexit 1\n").expect("write");
    std::fs::rename(&new, &exe).expect("rename");
    let started = std::time::Instant::now();
    while s.status().contains(": running") {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the server outlived its executable"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// 17.2: an MCP call's arguments are requests too. An allowed filesystem server still cannot
/// read `.env` or write a workflow through its tools, a fetch server cannot reach a blocked
/// address, and an unknown server's path-shaped argument is judged as the read it names.
#[test]
fn mcp_arguments_are_decided_as_the_requests_they_stand_for() {
    let dir = project();
    let r = root(&dir);
    let policy = "metadata: {id: t, version: \"1\", inherits: [cavra-baseline]}\nmcp: {allowed_servers: [filesystem, fetch, acme]}\nfilesystem: {block_read: [\".env\"], block_write: [\".github/workflows/**\"]}\nnetwork: {blocked_domains: [evil.example]}\n";
    std::fs::write(dir.path().join(".cavra/policy.yaml"), policy).expect("policy");
    let out = claude(
        &dir,
        "mcp__filesystem__read_text_file",
        json!({"path": format!("{r}/.env")}),
    );
    assert_eq!(decision_of(&out), "deny", "{}", out.stderr);
    assert!(out.stderr.contains("read of .env"), "{}", out.stderr);
    let out = claude(
        &dir,
        "mcp__filesystem__move_file",
        json!({"source": format!("{r}/x.yml"), "destination": format!("{r}/.github/workflows/x.yml")}),
    );
    assert_eq!(decision_of(&out), "deny", "{}", out.stderr);
    let out = claude(
        &dir,
        "mcp__fetch__fetch",
        json!({"url": "https://evil.example/exfil"}),
    );
    assert_eq!(decision_of(&out), "deny", "{}", out.stderr);
    let out = claude(
        &dir,
        "mcp__acme__summarise",
        json!({"file": format!("{r}/.env")}),
    );
    assert_eq!(decision_of(&out), "deny", "{}", out.stderr);
    // The ordinary use of the same tools is allowed.
    let out = claude(
        &dir,
        "mcp__filesystem__read_text_file",
        json!({"path": format!("{r}/README.md")}),
    );
    assert_ne!(decision_of(&out), "deny", "{} {}", out.stdout, out.stderr);
}

//! The built-in guards (`cavra.protected`, `cavra.self_approval`) decide the same through every
//! entry point: `cavra evaluate`, the agent hook, the MCP governor (`cavra mcp serve`), the API
//! service (`cavra serve`, also as the hook's `--server`) and the CI gate (`cavra ci check`).

mod support;

use assert_cmd::cargo::cargo_bin;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use support::{cavra, git};

/// The actions checked, as the hook's tools give them, and the rule that must decide.
fn cases() -> Vec<(
    &'static str,
    Value,
    &'static str,
    &'static str,
    &'static str,
)> {
    vec![
        (
            "Write",
            json!({"file_path": ".claude/settings.json", "content": "{}"}),
            "write_file",
            ".claude/settings.json",
            "cavra.protected",
        ),
        (
            "Bash",
            json!({"command": "cavra approval approve apr_1 --reason ok"}),
            "execute_command",
            "cavra approval approve apr_1 --reason ok",
            "cavra.self_approval",
        ),
        (
            "Bash",
            json!({"command": "rm -rf .git"}),
            "execute_command",
            "rm -rf .git",
            "cavra.protected",
        ),
    ]
}

/// A repository whose policy is the baseline, as the service's default.
fn project() -> tempfile::TempDir {
    support::project("metadata: {id: local, version: '1', inherits: [cavra-baseline]}\n")
}

fn hook(dir: &Path, env: &[(&str, &str)], tool: &str, input: &Value) -> (i32, String) {
    let payload = json!({
        "session_id": "sess-guards", "cwd": dir, "hook_event_name": "PreToolUse",
        "tool_name": tool, "tool_input": input, "tool_use_id": "toolu_guards",
    });
    let out = support::hook(dir, "claude-code", &payload, &[], env);
    (out.code, out.stdout)
}

/// The rule ids of the local store's recorded decisions, newest last.
fn recorded_rules(dir: &Path) -> Vec<String> {
    let out = cavra(dir)
        .args(["evidence", "export", "--format", "jsonl", "--output", "-"])
        .output()
        .expect("export");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rules = Vec::new();
    for line in text.lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            collect_rules(&v, &mut rules);
        }
    }
    if rules.is_empty()
        && let Ok(v) = serde_json::from_str::<Value>(&text)
    {
        collect_rules(&v, &mut rules);
    }
    rules
}

fn collect_rules(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_rules(i, out)),
        Value::Object(o) => {
            if let Some(r) = o.get("rule_id").and_then(Value::as_str)
                && o.contains_key("decision")
            {
                out.push(r.to_string());
            } else {
                o.values().for_each(|i| collect_rules(i, out));
            }
        }
        _ => {}
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cavra mcp serve`: calls `evaluate_action` for each case and returns the rule ids.
fn mcp_rules(dir: &Path) -> Vec<(String, String)> {
    let mut child = cavra(dir)
        .args(["mcp", "serve"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("mcp serve");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let _guard = Killed(child);
    let mut ask = |message: Value| {
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .expect("write");
        stdin.flush().expect("flush");
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read");
        serde_json::from_str::<Value>(&line).expect("json answer")
    };
    ask(
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}),
    );
    let mut out = Vec::new();
    for (i, (_, _, action, target, _)) in cases().into_iter().enumerate() {
        let answer = ask(
            json!({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call", "params": {
            "name": "evaluate_action", "arguments": {"action": action, "target": target}}}),
        );
        let result = &answer["result"];
        let body = if result["structuredContent"].is_object() {
            result["structuredContent"].clone()
        } else {
            serde_json::from_str(result["content"][0]["text"].as_str().unwrap_or("null"))
                .unwrap_or(Value::Null)
        };
        out.push((
            body["decision"].as_str().unwrap_or("?").to_string(),
            body["rule_id"].as_str().unwrap_or("?").to_string(),
        ));
    }
    out
}

fn start_service(db: &str) -> (Killed, String) {
    let mut child = Command::new(cargo_bin("cavra"))
        .env("CAVRA_DATABASE_URL", db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let stderr = child.stderr.take().expect("stderr");
    let guard = Killed(child);
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line).expect("line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (guard, url)
}

fn service_token(db: &str, args: &[&str]) -> String {
    let out = Command::new(cargo_bin("cavra"))
        .env("CAVRA_DATABASE_URL", db)
        .args(["token", "create", "--json"])
        .args(args)
        .output()
        .expect("token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    v["token"].as_str().expect("token").to_string()
}

#[test]
fn the_guards_decide_alike_in_every_entry_point() {
    let dir = project();
    let root = dir.path().to_string_lossy().into_owned();

    // `cavra evaluate`.
    for (_, _, action, target, rule) in cases() {
        let out = cavra(dir.path())
            .args([
                "evaluate",
                action,
                target,
                "--json",
                "--repo-root",
                &root,
                "--cwd",
                &root,
            ])
            .output()
            .expect("evaluate");
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(
            (v["decision"].as_str(), v["rule_id"].as_str()),
            (Some("block"), Some(rule)),
            "evaluate {target}: {v}"
        );
        assert_eq!(out.status.code(), Some(4), "evaluate {target}");
    }

    // The hook, in process; each decision is recorded with the guard's rule.
    for (tool, input, _, target, _) in cases() {
        let (code, out) = hook(dir.path(), &[], tool, &input);
        assert!(out.contains("\"deny\""), "hook {target}: {code} {out}");
    }
    let rules = recorded_rules(dir.path());
    let expected: Vec<String> = cases().iter().map(|c| c.4.to_string()).collect();
    assert!(
        rules.ends_with(&expected),
        "hook records {rules:?}, expected to end with {expected:?}"
    );

    // The MCP governor.
    let mcp = mcp_rules(dir.path());
    let wanted: Vec<(String, String)> = cases()
        .iter()
        .map(|c| ("block".to_string(), c.4.to_string()))
        .collect();
    assert_eq!(mcp, wanted, "MCP evaluate_action");

    // The service, asked by the hook (`--server`): the service's record and the hook's agree.
    let sdir = tempfile::tempdir().expect("tmp");
    let db = format!("sqlite://{}", sdir.path().join("s.db").display());
    let ok = Command::new(cargo_bin("cavra"))
        .env("CAVRA_DATABASE_URL", &db)
        .args(["tenant", "create", "acme"])
        .status()
        .expect("tenant")
        .success();
    assert!(ok);
    let agent = service_token(
        &db,
        &["--tenant", "acme", "--role", "agent", "--subject", "bot"],
    );
    let auditor = service_token(&db, &["--tenant", "acme", "--role", "auditor"]);
    let (_service, url) = start_service(&db);
    let served = project();
    let env = [
        ("CAVRA_SERVER", url.as_str()),
        ("CAVRA_TOKEN", agent.as_str()),
        ("CAVRA_SERVER_FALLBACK", "deny"),
    ];
    for (tool, input, _, target, _) in cases() {
        let (code, out) = hook(served.path(), &env, tool, &input);
        assert!(
            out.contains("\"deny\""),
            "hook --server {target}: {code} {out}"
        );
    }
    let mut service_rules = http_get_rules(&url, &auditor);
    service_rules.sort();
    let mut local = recorded_rules(served.path());
    local.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(service_rules, want, "the service's records");
    assert_eq!(local, want, "the hook's records of the service's decisions");
    // The very same decisions: one id, decision and rule each, on both sides.
    let served_decisions = decided(&http_get(&url, &auditor, "/v1/decisions"));
    let out = cavra(served.path())
        .args(["decision", "list", "--json"])
        .output()
        .expect("decision list");
    let local_decisions = decided(&serde_json::from_slice(&out.stdout).unwrap_or(Value::Null));
    assert_eq!(
        served_decisions.len(),
        cases().len(),
        "{served_decisions:?}"
    );
    assert_eq!(
        local_decisions, served_decisions,
        "the hook with --server records the service's own decisions"
    );

    // The CI gate: a change to an agent's hook settings is the guard's block.
    git(dir.path(), &["add", ".cavra/policy.yaml"]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    git(dir.path(), &["checkout", "-q", "-b", "agent"]);
    std::fs::create_dir_all(dir.path().join(".claude")).expect("mkdir");
    std::fs::write(dir.path().join(".claude/settings.json"), "{}\n").expect("write");
    git(dir.path(), &["add", ".claude/settings.json"]);
    git(dir.path(), &["commit", "-q", "-m", "settings"]);
    let out = cavra(dir.path())
        .args([
            "ci", "check", "--base", "main", "--head", "HEAD", "--format", "json",
        ])
        .output()
        .expect("ci check");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let findings = v["findings"].as_array().cloned().unwrap_or_default();
    assert!(
        findings.iter().any(|f| f["path"] == ".claude/settings.json"
            && f["rule"] == "cavra.protected"
            && f["kind"] == "policy_block"),
        "ci check: {v} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0));
}

/// Every (decision id, decision, rule id) in a value, sorted, each once.
fn decided(v: &Value) -> Vec<(String, String, String)> {
    fn walk(v: &Value, out: &mut Vec<(String, String, String)>) {
        match v {
            Value::Object(m) => {
                if let (Some(id), Some(d), Some(r)) = (
                    m.get("decision_id").and_then(Value::as_str),
                    m.get("decision").and_then(Value::as_str),
                    m.get("rule_id").and_then(Value::as_str),
                ) {
                    out.push((id.to_string(), d.to_string(), r.to_string()));
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out.sort();
    out.dedup();
    out
}

/// `GET /v1/decisions` over a plain socket: the rule ids the service recorded.
fn http_get_rules(base: &str, token: &str) -> Vec<String> {
    let mut rules = Vec::new();
    collect_rules(&http_get(base, token, "/v1/decisions"), &mut rules);
    rules
}

/// A GET of the service over a plain socket, its JSON body.
fn http_get(base: &str, token: &str, path: &str) -> Value {
    use std::io::Read;
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    // A chunked body: the JSON between the first chunk size line and the end.
    let start = body.find(['[', '{']).unwrap_or(0);
    let end = body.rfind([']', '}']).map(|i| i + 1).unwrap_or(body.len());
    serde_json::from_str(&body[start..end]).unwrap_or(Value::Null)
}

/// One policy loader for every entry point that records: a pack that requires signatures is
/// refused unsigned by the hook and by the MCP governor alike (the MCP governor did not check
/// signatures before it loaded its policy through the runtime).
#[test]
fn an_unsigned_pack_that_requires_signatures_is_refused_by_the_hook_and_mcp_alike() {
    let dir = project();
    std::fs::write(
        dir.path().join(".cavra/policy.yaml"),
        "metadata: {id: local, version: '1', inherits: [cavra-baseline], require_signature: true}\n",
    )
    .expect("policy");
    let (code, out) = hook(dir.path(), &[], "Bash", &json!({"command": "ls"}));
    assert!(out.contains("\"deny\""), "hook: {code} {out}");
    assert!(out.contains("trust root"), "hook: {out}");

    let mcp = cavra(dir.path())
        .args(["mcp", "serve"])
        .stdin(Stdio::null())
        .output()
        .expect("mcp serve");
    let stderr = String::from_utf8_lossy(&mcp.stderr);
    assert_ne!(mcp.status.code(), Some(0), "mcp serve: {stderr}");
    assert!(
        stderr.contains("signed policies are required") && stderr.contains("trust root"),
        "mcp serve: {stderr}"
    );
}

//! `cavra mcp serve` and `cavra mcp proxy` driven by real MCP clients and servers from outside
//! the project (the official Python SDK, `tests/mcp/requirements.txt`), and by raw JSON-RPC for
//! what no well-behaved client sends.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod support;
use support::{cavra_bin, cavra_text as cavra};

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mcp")
}

/// python3 with the `mcp` SDK, or None (with a loud message) when python3 is absent. A
/// python3 without the SDK is a failure: CI installs tests/mcp/requirements.txt.
fn python() -> Option<String> {
    let py = std::env::var("CAVRA_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&py).arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => {
            eprintln!(
                "\n\n*** SKIPPED: {py} is not installed, so the MCP tests with the Python SDK did not run ***\n\n"
            );
            return None;
        }
    }
    let sdk = Command::new(&py)
        .args(["-c", "import mcp"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        sdk,
        "the Python MCP SDK is missing: {py} -m pip install -r tests/mcp/requirements.txt"
    );
    Some(py)
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join(".git")).expect(".git");
    dir
}

fn run_client(py: &str, args: &[&str], cwd: &Path) -> Value {
    run_client_env(py, args, cwd, None)
}

fn run_client_env(py: &str, args: &[&str], cwd: &Path, env: Option<(&str, &str)>) -> Value {
    let mut cmd = Command::new(py);
    cmd.args(args)
        .current_dir(cwd)
        .env("CAVRA_NO_CACHE", "1")
        .env_remove("CAVRA_POLICY")
        .env_remove("UPSTREAM_URL");
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?} failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// The bundle the evidence_bundle tool wrote verifies offline against the log key.
fn verify_bundle(dir: &Path, bundle: &str, key_id: &str) {
    let key_pub = dir.join(".cavra/keys/log.pub");
    let trust = dir.join("trust.json");
    let (code, out) = cavra(
        dir,
        &[
            "trust",
            "add",
            "--trust-root",
            trust.to_str().unwrap_or(""),
            "--key-id",
            key_id,
            "--public-key",
            key_pub.to_str().unwrap_or(""),
            "--owner",
            "test",
            "--valid-from",
            "2020-01-01T00:00:00Z",
        ],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = cavra(
        dir,
        &[
            "evidence",
            "verify",
            bundle,
            "--trust-root",
            trust.to_str().unwrap_or(""),
        ],
    );
    assert_eq!(code, 0, "the MCP-written bundle verifies: {out}");
    // One changed byte and it does not.
    let summary = Path::new(bundle).join("manifest.json");
    let mut text = std::fs::read(&summary).expect("manifest");
    if let Some(b) = text.iter_mut().find(|b| b.is_ascii_digit()) {
        *b = if *b == b'9' { b'8' } else { *b + 1 };
    }
    std::fs::write(&summary, text).expect("tamper");
    let (code, _) = cavra(
        dir,
        &[
            "evidence",
            "verify",
            bundle,
            "--trust-root",
            trust.to_str().unwrap_or(""),
        ],
    );
    assert_eq!(code, 1, "a changed bundle fails verification");
}

#[test]
fn python_sdk_client_uses_every_tool_over_stdio_in_both_eras() {
    let Some(py) = python() else { return };
    let script = scripts().join("serve_client.py");
    for version in ["2025-06-18", "2025-11-25", "2026-07-28", "auto"] {
        let dir = project();
        let seen = run_client(
            &py,
            &[
                script.to_str().unwrap_or(""),
                version,
                "stdio",
                cavra_bin().to_str().unwrap_or(""),
                dir.path().to_str().unwrap_or(""),
            ],
            dir.path(),
        );
        let expected = if version == "auto" {
            "2026-07-28"
        } else {
            version
        };
        assert_eq!(seen["protocol_version"], expected);
        // What the tools reported is in the store.
        let (code, out) = cavra(dir.path(), &["decision", "list", "--json"]);
        assert_eq!(code, 0, "{out}");
        let decisions: Value = serde_json::from_str(&out).expect("decisions JSON");
        let n = decisions.as_array().map(Vec::len).unwrap_or(0);
        assert!(n >= 4, "{version}: {n} decisions recorded");
        let (code, out) = cavra(
            dir.path(),
            &["approval", "list", "--state", "pending", "--json"],
        );
        assert_eq!(code, 0);
        assert!(
            out.contains(seen["approval_id"].as_str().unwrap_or("?")),
            "{out}"
        );
        if version == "2026-07-28" {
            verify_bundle(
                dir.path(),
                seen["bundle"].as_str().unwrap_or(""),
                seen["signed_by"].as_str().unwrap_or(""),
            );
        }
    }
}

/// A raw JSON-RPC session with `cavra mcp serve` over stdio.
struct Raw {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Raw {
    fn start(dir: &Path) -> Raw {
        let mut child = Command::new(cavra_bin())
            .args(["mcp", "serve"])
            .current_dir(dir)
            .env("CAVRA_NO_CACHE", "1")
            .env_remove("CAVRA_POLICY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("serve starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Raw {
            child,
            stdin,
            stdout,
        }
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).expect("write");
        self.stdin.write_all(b"\n").expect("write");
        self.stdin.flush().expect("flush");
    }

    fn recv(&mut self) -> Value {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("answer is not JSON ({e}): {line:?}"))
    }

    fn ask(&mut self, message: Value) -> Value {
        self.send_bytes(message.to_string().as_bytes());
        self.recv()
    }
}

#[test]
fn malformed_unknown_and_oversized_messages_get_clear_errors_and_serving_goes_on() {
    let dir = project();
    let mut raw = Raw::start(dir.path());
    let init = raw.ask(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}));
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    // A version cavra lacks is answered with its newest handshake version.
    let init = raw.ask(json!({"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}));
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");

    raw.send_bytes(b"{this is not json");
    assert_eq!(raw.recv()["error"]["code"], -32700);
    raw.send_bytes(b"[{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}]");
    let batch = raw.recv();
    assert_eq!(batch["error"]["code"], -32600);
    assert!(
        batch["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("batch")
    );
    let unknown = raw.ask(json!({"jsonrpc": "2.0", "id": 4, "method": "resources/list"}));
    assert_eq!(
        (unknown["id"].clone(), unknown["error"]["code"].clone()),
        (json!(4), json!(-32601))
    );
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"params\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(5 * 1024 * 1024)
    );
    raw.send_bytes(big.as_bytes());
    let over = raw.recv();
    assert_eq!(over["error"]["code"], -32600);
    assert!(
        over["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("larger than the limit")
    );
    let modern = raw.ask(
        json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list", "params": {
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2099-01-01"}}}),
    );
    assert_eq!(modern["error"]["code"], -32022);
    assert_eq!(modern["error"]["data"]["supported"], json!(["2026-07-28"]));
    let bad_args = raw.ask(json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "evaluate_action", "arguments": {"action": "read_file", "target": ".env", "mode": "break_glass"}}}));
    assert_eq!(
        bad_args["result"]["isError"], true,
        "an agent cannot choose the mode"
    );
    // Still serving.
    let ping = raw.ask(json!({"jsonrpc": "2.0", "id": 8, "method": "ping"}));
    assert_eq!(ping["result"], json!({}));
    drop(raw.stdin);
    let status = raw.child.wait().expect("exits");
    assert!(
        status.success(),
        "serve exits cleanly at the end of its input"
    );
}

const PROXY_POLICY: &str = r#"
metadata: {id: proxy-test, version: "1"}
mcp:
  block_unknown_servers: true
rules:
  - id: no-shell-over-mcp
    action: mcp_tool_call
    servers: ["*"]
    tools: ["run_command"]
    decision: block
    reason: shell through MCP is not allowed
"#;

/// A repository with the proxy policy and `files` registered (write_note is not among its
/// allowed tools, so it needs approval).
fn proxy_project() -> tempfile::TempDir {
    let dir = project();
    std::fs::create_dir(dir.path().join(".cavra")).expect(".cavra");
    std::fs::write(dir.path().join(".cavra/policy.yaml"), PROXY_POLICY).expect("policy");
    let (code, out) = cavra(
        dir.path(),
        &[
            "registry",
            "mcp",
            "add",
            "files",
            "--trust",
            "trusted",
            "--approval",
            "approved",
            "--tool",
            "add",
            "--tool",
            "read_file",
            "--tool",
            "run_command",
            "--tool",
            "crash",
            "--tool",
            "hang",
        ],
    );
    assert_eq!(code, 0, "{out}");
    dir
}

fn upstream_calls(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["tool"].as_str().map(str::to_string))
        .collect()
}

fn proxy_run(py: &str, dir: &Path, mode: &str, log: &Path, scenario: &str) -> Value {
    proxy_run_env(py, dir, mode, log, scenario, None)
}

fn proxy_run_env(
    py: &str,
    dir: &Path,
    mode: &str,
    log: &Path,
    scenario: &str,
    upstream_url: Option<&str>,
) -> Value {
    let script = scripts().join("proxy_client.py");
    run_client_env(
        py,
        &[
            script.to_str().unwrap_or(""),
            mode,
            cavra_bin().to_str().unwrap_or(""),
            dir.to_str().unwrap_or(""),
            log.to_str().unwrap_or(""),
            scenario,
        ],
        dir,
        upstream_url.map(|u| ("UPSTREAM_URL", u)),
    )
}

fn export(dir: &Path) -> Vec<Value> {
    let out = dir.join("export.jsonl");
    let _ = std::fs::remove_file(&out);
    let (code, text) = cavra(
        dir,
        &[
            "evidence",
            "export",
            "--format",
            "jsonl",
            "--output",
            out.to_str().unwrap_or(""),
        ],
    );
    assert_eq!(code, 0, "{text}");
    std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn proxy_filters_decides_approves_and_records_in_front_of_a_python_sdk_server() {
    let Some(py) = python() else { return };
    for mode in ["legacy", "2026-07-28"] {
        let dir = proxy_project();
        let log = dir.path().join("upstream.log");
        let seen = proxy_run(&py, dir.path(), mode, &log, "main");
        let expected = if mode == "legacy" { "2025-11-25" } else { mode };
        assert_eq!(seen["protocol_version"], expected);
        // The blocked call and the calls waiting for approval never reached the upstream.
        assert_eq!(
            upstream_calls(&log),
            ["add", "write_note", "read_file"],
            "{mode}"
        );

        let entries = export(dir.path());
        let decisions: Vec<&Value> = entries.iter().filter(|e| e["kind"] == "decision").collect();
        let rule_of = |tool: &str| -> Vec<String> {
            decisions
                .iter()
                .filter(|e| e["body"]["record"]["target"] == format!("files/{tool}"))
                .map(|e| e["body"]["rule_id"].as_str().unwrap_or("").to_string())
                .collect()
        };
        assert_eq!(rule_of("run_command"), ["no-shell-over-mcp"]);
        assert_eq!(
            rule_of("write_note"),
            [
                "mcp.registry.tool_not_allowed",
                "mcp.registry.tool_not_allowed",
                "mcp.registry.tool_not_allowed"
            ]
        );
        let outcomes: Vec<&Value> = entries.iter().filter(|e| e["kind"] == "outcome").collect();
        assert_eq!(outcomes.len(), 3, "one outcome per forwarded call");
        let read = outcomes
            .iter()
            .find(|o| {
                o["body"]["result"]
                    .to_string()
                    .contains("contents of notes.txt")
            })
            .expect("the read_file result is recorded");
        assert!(
            read["body"]["result"].to_string().contains("[REDACTED:"),
            "{read}"
        );
        // The secret the upstream returned is nowhere in the store.
        for f in std::fs::read_dir(dir.path().join(".cavra"))
            .expect(".cavra")
            .flatten()
        {
            if f.path().is_file() {
                let bytes = std::fs::read(f.path()).unwrap_or_default();
                let needle = b"A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "secret in {}",
                    f.path().display()
                );
            }
        }
        let (code, out) = cavra(dir.path(), &["approval", "list", "--json"]);
        assert_eq!(code, 0);
        assert!(
            out.contains("consumed"),
            "the approval was used once: {out}"
        );
        // The proxied session bundles and verifies offline, results included.
        let bundle = dir.path().join("bundle");
        let session = format!("proxy-main-{mode}");
        let (code, out) = cavra(
            dir.path(),
            &[
                "evidence",
                "bundle",
                "--session",
                &session,
                "--json",
                "--output",
                bundle.to_str().unwrap_or(""),
            ],
        );
        assert_eq!(code, 0, "{out}");
        let entries = std::fs::read_to_string(bundle.join("entries.jsonl")).unwrap_or_default();
        assert!(
            entries.contains("contents of notes.txt"),
            "results are in the bundle"
        );
        let checkpoint =
            std::fs::read_to_string(bundle.join("checkpoint.dsse.json")).unwrap_or_default();
        let log_id = serde_json::from_str::<Value>(&checkpoint)
            .ok()
            .and_then(|v| find_log_key(&v))
            .expect("the checkpoint names the log key");
        let key = dir.path().join(".cavra/keys/log.pub");
        let trust = dir.path().join("trust.json");
        let (code, out) = cavra(
            dir.path(),
            &[
                "trust",
                "add",
                "--trust-root",
                trust.to_str().unwrap_or(""),
                "--key-id",
                &log_id,
                "--public-key",
                key.to_str().unwrap_or(""),
                "--owner",
                "test",
                "--valid-from",
                "2020-01-01T00:00:00Z",
            ],
        );
        assert_eq!(code, 0, "{out}");
        let (code, out) = cavra(
            dir.path(),
            &[
                "evidence",
                "verify",
                bundle.to_str().unwrap_or(""),
                "--trust-root",
                trust.to_str().unwrap_or(""),
                "--allow-unsigned",
            ],
        );
        assert_eq!(code, 0, "{out}");
    }
}

fn find_log_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.starts_with("log-") => Some(s.clone()),
        Value::Object(o) => o.values().find_map(find_log_key),
        Value::Array(a) => a.iter().find_map(find_log_key),
        _ => None,
    }
}

#[test]
fn proxy_detects_a_changed_tool_description_and_survives_crashing_and_hanging_upstreams() {
    let Some(py) = python() else { return };
    let dir = proxy_project();
    let log = dir.path().join("upstream.log");
    // First sight pins every tool.
    let seen = proxy_run(&py, dir.path(), "legacy", &log, "hang");
    assert!(
        seen["tools"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("add")))
    );
    assert_eq!(
        upstream_calls(&log),
        ["hang", "add"],
        "served on after a hang"
    );
    let hang_outcome = export(dir.path())
        .into_iter()
        .filter(|e| e["kind"] == "outcome")
        .find(|e| e["body"]["result"].to_string().contains("did not answer"));
    assert!(
        hang_outcome.is_some(),
        "the hung call is recorded as failed"
    );

    // The same server now describes `add` differently: hidden and refused, and recorded.
    std::fs::remove_file(&log).ok();
    let seen = proxy_run(&py, dir.path(), "2026-07-28", &log, "changed");
    assert!(
        !seen["tools"]
            .as_array()
            .is_some_and(|t| t.contains(&json!("add")))
    );
    assert!(
        upstream_calls(&log).is_empty(),
        "{:?}",
        upstream_calls(&log)
    );
    let changed: Vec<Value> = export(dir.path())
        .into_iter()
        .filter(|e| e["kind"] == "decision" && e["body"]["rule_id"] == "mcp.tool.changed")
        .collect();
    assert!(
        changed
            .iter()
            .any(|e| e["body"]["record"]["mcp"]["event"] == "tool_changed"),
        "the change itself is recorded"
    );
    assert!(changed.iter().any(|e| e["body"]["decision"] == "block"));
    // A person accepts the new description: it is pinned afresh and allowed again.
    let (code, out) = cavra(dir.path(), &["registry", "mcp", "unpin", "files", "add"]);
    assert_eq!(code, 0, "{out}");

    // An upstream that dies mid-call: the agent gets an error naming it, the proxy exits.
    std::fs::remove_file(&log).ok();
    proxy_run(&py, dir.path(), "legacy", &log, "crash");
    assert_eq!(upstream_calls(&log), ["crash"]);
    let crashed = export(dir.path())
        .into_iter()
        .filter(|e| e["kind"] == "outcome")
        .any(|e| {
            e["body"]["success"] == false && e["body"]["result"].to_string().contains("went away")
        });
    assert!(crashed, "the crashed call is recorded");
}

/// `cavra mcp serve --http` on a free loopback port; killed when dropped.
struct HttpServe {
    child: std::process::Child,
    url: String,
}

impl Drop for HttpServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_http(dir: &Path) -> HttpServe {
    let mut child = Command::new(cavra_bin())
        .args(["mcp", "serve", "--http", "127.0.0.1:0"])
        .current_dir(dir)
        .env("CAVRA_NO_CACHE", "1")
        .env_remove("CAVRA_POLICY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve --http starts");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    err.read_line(&mut line).expect("the listening line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    HttpServe { child, url }
}

#[test]
fn python_sdk_client_uses_every_tool_over_streamable_http_in_both_eras() {
    let Some(py) = python() else { return };
    let script = scripts().join("serve_client.py");
    let dir = project();
    let server = serve_http(dir.path());
    for version in ["2025-06-18", "2025-11-25", "2026-07-28", "auto"] {
        let seen = run_client(
            &py,
            &[script.to_str().unwrap_or(""), version, "http", &server.url],
            dir.path(),
        );
        let expected = if version == "auto" {
            "2026-07-28"
        } else {
            version
        };
        assert_eq!(seen["protocol_version"], expected);
    }
    let (code, out) = cavra(dir.path(), &["decision", "list", "--json"]);
    assert_eq!(code, 0, "{out}");
    let n = serde_json::from_str::<Value>(&out)
        .ok()
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(0);
    assert!(n >= 16, "every client's decisions are recorded: {n}");
}

/// The Python SDK upstream over streamable HTTP on a free loopback port; killed when dropped.
struct HttpUpstream {
    child: std::process::Child,
    url: String,
}

impl Drop for HttpUpstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_upstream(py: &str, log: &Path) -> HttpUpstream {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new(py)
        .arg(scripts().join("upstream_server.py"))
        .env("UPSTREAM_LOG", log)
        .env("UPSTREAM_HTTP_PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("upstream starts");
    // Wait until it listens (a readiness wait, bounded; nothing is asserted about time).
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    HttpUpstream {
        child,
        url: format!("http://127.0.0.1:{port}/mcp"),
    }
}

#[test]
fn proxy_in_front_of_an_http_upstream_in_both_eras() {
    let Some(py) = python() else { return };
    let dir = proxy_project();
    let log = dir.path().join("upstream.log");
    let upstream = http_upstream(&py, &log);
    for mode in ["legacy", "2026-07-28"] {
        std::fs::remove_file(&log).ok();
        let seen = proxy_run_env(&py, dir.path(), mode, &log, "main", Some(&upstream.url));
        assert!(
            !seen["tools"]
                .as_array()
                .is_some_and(|t| t.contains(&json!("run_command")))
        );
        assert_eq!(
            upstream_calls(&log),
            ["add", "write_note", "read_file"],
            "{mode}"
        );
    }
    drop(upstream);
    // The upstream gone: the agent is told it cannot be reached, and the proxy ends cleanly.
    let mut child = Command::new(cavra_bin())
        .args(["mcp", "proxy", "--server-name", "files", "--upstream-url"])
        .arg(format!("http://127.0.0.1:{}/mcp", 1))
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("proxy starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    writeln!(stdin, "{}", json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})).expect("write");
    writeln!(stdin, "not json").expect("write");
    let mut line = String::new();
    stdout.read_line(&mut line).expect("answer");
    let first: Value = serde_json::from_str(&line).expect("JSON");
    line.clear();
    stdout.read_line(&mut line).expect("answer");
    let second: Value = serde_json::from_str(&line).expect("JSON");
    let answers = [first, second];
    assert!(
        answers.iter().any(|a| a["error"]["code"] == -32700),
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|a| a["id"] == 1
            && a["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("could not be reached")),
        "{answers:?}"
    );
    drop(stdin);
    assert!(child.wait().expect("exits").success());
}

#[test]
fn proxy_answers_bad_agent_messages_and_keeps_serving() {
    let Some(py) = python() else { return };
    let dir = project();
    std::fs::create_dir(dir.path().join(".cavra")).expect(".cavra");
    std::fs::write(
        dir.path().join(".cavra/policy.yaml"),
        "metadata: {id: p, version: \"1\"}\nmcp:\n  block_unknown_servers: true\n  allowed_servers: [echo]\n",
    )
    .expect("policy");
    let mut child = Command::new(cavra_bin())
        .args(["mcp", "proxy", "--server-name", "echo", "--"])
        .arg(&py)
        .arg(scripts().join("echo_server.py"))
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("proxy starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut ask = |line: &str| -> Value {
        writeln!(stdin, "{line}").expect("write");
        stdin.flush().expect("flush");
        let mut answer = String::new();
        stdout.read_line(&mut answer).expect("read");
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("not JSON ({e}): {answer:?}"))
    };
    let init = ask(&json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}).to_string());
    assert_eq!(init["result"]["serverInfo"]["name"], "echo");
    assert_eq!(ask("{broken")["error"]["code"], -32700);
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"p\":\"{}\"}}",
        "x".repeat(5 << 20)
    );
    assert_eq!(ask(&big)["error"]["code"], -32600);
    let nameless = ask(
        &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"arguments": {}}})
            .to_string(),
    );
    assert_eq!(nameless["error"]["code"], -32602);
    // Unknown methods go to the upstream, which answers them.
    let unknown = ask(&json!({"jsonrpc": "2.0", "id": 4, "method": "resources/list"}).to_string());
    assert_eq!(
        (unknown["id"].clone(), unknown["error"]["code"].clone()),
        (json!(4), json!(-32601))
    );
    let call = ask(&json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 3}}}).to_string());
    assert_eq!(
        call["result"]["structuredContent"]["result"], 5,
        "still serving"
    );
    drop(stdin);
    assert!(
        child.wait().expect("exits").success(),
        "the agent ending the session ends the proxy cleanly"
    );
    let (_, out) = cavra(dir.path(), &["decision", "list", "--json"]);
    assert!(
        out.contains("mcp.call.invalid"),
        "the nameless call is recorded: {out}"
    );
}

/// node with the TypeScript MCP client installed, or None (loudly) when node is absent.
fn node() -> Option<String> {
    match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => {
            eprintln!(
                "\n\n*** SKIPPED: node is not installed, so the MCP tests with the TypeScript SDK did not run ***\n\n"
            );
            return None;
        }
    }
    assert!(
        scripts()
            .join("node/node_modules/@modelcontextprotocol/client")
            .is_dir(),
        "the TypeScript MCP client is missing: npm ci --prefix tests/mcp/node"
    );
    Some("node".into())
}

#[test]
fn typescript_sdk_client_over_stdio_and_http_in_both_eras() {
    let Some(node) = node() else { return };
    let script = scripts().join("node/serve_client.mjs");
    let dir = project();
    let server = serve_http(dir.path());
    for mode in ["legacy", "2026-07-28"] {
        for transport in ["stdio", "http"] {
            let mut args = vec![
                script.to_string_lossy().into_owned(),
                mode.into(),
                transport.into(),
            ];
            if transport == "stdio" {
                args.push(cavra_bin().to_string_lossy().into_owned());
                args.push(dir.path().to_string_lossy().into_owned());
            } else {
                args.push(server.url.clone());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let seen = run_client(&node, &args, dir.path());
            let expected = if mode == "legacy" { "2025-11-25" } else { mode };
            assert_eq!(seen["protocol_version"], expected, "{transport}");
            assert_eq!(seen["decision"], "block");
        }
    }
}

/// One raw session with `cavra mcp proxy` in front of echo_server.py: the tools listed, and
/// the answer to one call of `add`.
fn echo_session(py: &str, dir: &Path, variant: Option<&str>) -> (Vec<String>, Value) {
    let mut cmd = Command::new(cavra_bin());
    cmd.args(["mcp", "proxy", "--server-name", "echo", "--"])
        .arg(py)
        .arg(scripts().join("echo_server.py"))
        .current_dir(dir)
        .env("CAVRA_NO_CACHE", "1")
        .env_remove("CAVRA_POLICY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(v) = variant {
        cmd.env("ECHO_VARIANT", v);
    }
    let mut child = cmd.spawn().expect("proxy starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut ask = |msg: Value| -> Value {
        writeln!(stdin, "{msg}").expect("write");
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
    };
    ask(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}),
    );
    let tools: Vec<String> =
        ask(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))["result"]["tools"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
    let call = ask(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 1}}}),
    );
    drop(stdin);
    let _ = child.wait();
    (tools, call)
}

#[test]
fn the_policy_says_whether_a_changed_tool_is_blocked_or_only_recorded() {
    let Some(py) = python() else { return };
    for (setting, blocked) in [("warn", false), ("block", true)] {
        let dir = project();
        std::fs::create_dir(dir.path().join(".cavra")).expect(".cavra");
        std::fs::write(
            dir.path().join(".cavra/policy.yaml"),
            format!("metadata: {{id: p, version: \"1\"}}\nmcp:\n  block_unknown_servers: true\n  allowed_servers: [echo]\n  on_tool_change: {setting}\n"),
        )
        .expect("policy");
        let (tools, call) = echo_session(&py, dir.path(), None);
        assert_eq!(tools, ["add"]);
        assert_eq!(call["result"]["structuredContent"]["result"], 2);
        let (tools, call) = echo_session(&py, dir.path(), Some("changed"));
        let (_, out) = cavra(dir.path(), &["decision", "list", "--json"]);
        let decisions: Value = serde_json::from_str(&out).expect("JSON");
        let changed: Vec<&Value> = decisions
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|d| d["rule_id"] == "mcp.tool.changed")
                    .collect()
            })
            .unwrap_or_default();
        if blocked {
            assert!(tools.is_empty(), "{tools:?}");
            assert_eq!(call["result"]["isError"], true, "{call}");
            assert!(changed.iter().any(|d| d["decision"] == "block"));
        } else {
            assert_eq!(tools, ["add"]);
            assert_eq!(call["result"]["structuredContent"]["result"], 2, "{call}");
            assert!(changed.iter().any(|d| d["decision"] == "warn"), "{out}");
        }
    }
}

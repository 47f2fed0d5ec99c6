//! `cavra mcp serve` and `cavra mcp proxy` driven by real MCP clients and servers from outside
//! the project (the official Python SDK, `tests/mcp/requirements.txt`), and by raw JSON-RPC for
//! what no well-behaved client sends.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn cavra_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cavra"))
}

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

fn run_py(py: &str, args: &[&str], cwd: &Path) -> Value {
    let out = Command::new(py)
        .args(args)
        .current_dir(cwd)
        .env("CAVRA_NO_CACHE", "1")
        .env_remove("CAVRA_POLICY")
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?} failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn cavra(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(cavra_bin())
        .args(args)
        .current_dir(dir)
        .env("CAVRA_NO_CACHE", "1")
        .env_remove("CAVRA_POLICY")
        .output()
        .expect("cavra runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
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
        let seen = run_py(
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

//! Real Claude Code, governed by cavra, end to end.
//!
//! Claude Code (`@anthropic-ai/claude-code`, pinned in `tests/agents/node/package-lock.json`
//! and installed by `scripts/test` with `npm ci`) runs `claude -p` in a scratch repository
//! set up with `cavra init claude-code`. Its model is a stand-in for the Messages API on
//! loopback that answers each turn with the next scripted tool call (streamed as server-sent
//! events: a `tool_use` block), then a final text. Every other destination is pointed at a
//! closed loopback port, so the test reaches nothing but loopback.
//!
//! Checked three ways: on disk (the allowed write happened, the denied one did not), in
//! cavra's records, and in Claude Code's own result (`permission_denials`), and the model saw
//! cavra's reason in the tool result.

mod support;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use support::agents::claude_binary;

/// One scripted model turn: a tool call, or the final text.
fn turn(step: usize, root: &str) -> Option<(&'static str, Value)> {
    match step {
        0 => Some((
            "Write",
            json!({"file_path": format!("{root}/allowed.txt"), "content": "hello\n"}),
        )),
        1 => Some((
            "Write",
            json!({"file_path": format!("{root}/.github/workflows/ci.yml"), "content": "on: push\n"}),
        )),
        2 => Some(("Read", json!({"file_path": format!("{root}/.env")}))),
        _ => None,
    }
}

fn sse(out: &mut String, event: &str, data: Value) {
    out.push_str(&format!("event: {event}\ndata: {data}\n\n"));
}

/// The streamed answer for a request that already carries `results` tool results.
fn streamed_answer(results: usize, model: &str, root: &str) -> String {
    let mut out = String::new();
    sse(
        &mut out,
        "message_start",
        json!({"type": "message_start", "message": {"id": format!("msg_{results}"), "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}}}),
    );
    let stop = match turn(results, root) {
        Some((name, input)) => {
            sse(
                &mut out,
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": format!("toolu_{results}"), "name": name, "input": {}}}),
            );
            sse(
                &mut out,
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": input.to_string()}}),
            );
            "tool_use"
        }
        None => {
            sse(
                &mut out,
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            );
            sse(
                &mut out,
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "done"}}),
            );
            "end_turn"
        }
    };
    sse(
        &mut out,
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    );
    sse(
        &mut out,
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 1}}),
    );
    sse(&mut out, "message_stop", json!({"type": "message_stop"}));
    out
}

/// Reads one HTTP/1.1 request: (request line, body).
fn read_request(stream: &TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((line.trim_end().to_string(), body))
}

/// The loopback stand-in for the Messages API; keeps every request body it saw.
fn stand_in(root: String) -> (u16, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Some((line, body)) = read_request(&stream) else {
                continue;
            };
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let (content_type, payload) =
                if line.starts_with("POST /v1/messages") && !line.contains("count_tokens") {
                    let results = body["messages"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|m| m["content"].as_array())
                        .flatten()
                        .filter(|c| c["type"] == "tool_result")
                        .count();
                    let model = body["model"].as_str().unwrap_or("claude").to_string();
                    log.lock().expect("log").push(body);
                    ("text/event-stream", streamed_answer(results, &model, &root))
                } else if line.contains("count_tokens") {
                    ("application/json", json!({"input_tokens": 1}).to_string())
                } else {
                    ("application/json", json!({}).to_string())
                };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                payload.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(payload.as_bytes());
        }
    });
    (port, seen)
}

#[test]
fn claude_code_runs_real_tools_through_cavra_hooks() {
    let claude = claude_binary();
    let path = support::path_with_cavra();
    let scratch = tempfile::tempdir().expect("temp dir");
    let repo = scratch.path().join("repo");
    let home = scratch.path().join("home");
    let runtime = scratch.path().join("run");
    for d in [&repo, &home, &runtime] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let root = repo.to_string_lossy().into_owned();
    support::git(&repo, &["init", "-q"]);
    std::fs::write(repo.join(".env"), "SECRET=do-not-read\n").expect(".env");
    let env = |cmd: &mut std::process::Command| {
        support::unset(cmd)
            .current_dir(&repo)
            .env("PATH", &path)
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("CAVRA_HOOK_DAEMON_IDLE_SECS", "10");
    };
    let mut init = std::process::Command::new(support::cavra_bin());
    env(&mut init);
    support::ok(init.args(["init", "claude-code"]));

    let (port, seen) = stand_in(root.clone());
    let mut agent = std::process::Command::new(&claude);
    env(&mut agent);
    let out = agent
        .args([
            "-p",
            "Write allowed.txt, then the CI workflow, then read .env.",
            "--output-format",
            "json",
            "--permission-mode",
            "acceptEdits",
        ])
        .env("ANTHROPIC_BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("ANTHROPIC_API_KEY", "sk-loopback-test")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        // Anything but the stand-in goes to a closed loopback port.
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output()
        .expect("claude runs");
    let mut stop = std::process::Command::new(support::cavra_bin());
    env(&mut stop);
    let _ = stop.args(["hook", "daemon", "stop"]).output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "claude -p failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).expect("claude's JSON result");

    // On disk: the allowed write happened, the denied one did not.
    assert_eq!(
        std::fs::read_to_string(repo.join("allowed.txt")).expect("allowed.txt written"),
        "hello\n"
    );
    assert!(!repo.join(".github/workflows/ci.yml").exists());

    // In Claude Code's own result: the two denials, and the session finished.
    let denied: Vec<(String, String)> = result["permission_denials"]
        .as_array()
        .expect("permission_denials")
        .iter()
        .map(|d| {
            (
                d["tool_name"].as_str().unwrap_or("").to_string(),
                d["tool_input"]["file_path"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        denied,
        [
            (
                "Write".to_string(),
                format!("{root}/.github/workflows/ci.yml")
            ),
            ("Read".to_string(), format!("{root}/.env")),
        ],
        "{result}"
    );
    assert_eq!(result["result"], "done", "{result}");

    // In cavra's records: each call decided, with the session Claude Code reported.
    let mut list = std::process::Command::new(support::cavra_bin());
    env(&mut list);
    let records: Value =
        serde_json::from_str(&support::ok(list.args(["decision", "list", "--json"])))
            .expect("decision list JSON");
    let records = records.as_array().cloned().unwrap_or_default();
    let find = |suffix: &str| {
        records
            .iter()
            .find(|r| {
                r["record"]["target"]
                    .as_str()
                    .is_some_and(|t| t.ends_with(suffix))
            })
            .unwrap_or_else(|| panic!("no record for {suffix}: {records:?}"))
            .clone()
    };
    let session = result["session_id"].as_str().expect("session id");
    for (suffix, decision, rule) in [
        ("/allowed.txt", "allow", "filesystem.write.default"),
        (
            "/.github/workflows/ci.yml",
            "block",
            "filesystem.write.block",
        ),
        ("/.env", "block", "filesystem.read.block"),
    ] {
        let r = find(suffix);
        assert_eq!(
            (r["decision"].as_str(), r["rule_id"].as_str()),
            (Some(decision), Some(rule)),
            "{r}"
        );
        assert_eq!(r["session_id"].as_str(), Some(session), "{r}");
    }

    // The model saw cavra's reason as the tool result of each denied call.
    let bodies = seen.lock().expect("log");
    let last = bodies.last().expect("the stand-in was called").to_string();
    assert!(
        last.contains("cavra block: write of .github/workflows/ci.yml")
            && last.contains("cavra block: read of .env"),
        "{last}"
    );
    assert!(
        !last.contains("do-not-read"),
        "the secret reached the model"
    );
}

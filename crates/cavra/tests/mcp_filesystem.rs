//! Issue 17.2 with the real server: the official MCP filesystem server
//! (`@modelcontextprotocol/server-filesystem`, pinned in tests/agents/node/package-lock.json,
//! installed by scripts/test) behind `cavra mcp proxy`. A `.env` in the project is unreadable
//! through it, an ordinary file is readable; the first call comes before any `tools/list`, so
//! the proxy lists the tools itself to check the tool against its pin; and a tool whose
//! definition changed since it was pinned is refused even when the session never lists tools.
//!
//! The JSON-RPC helper waits for an answer only to requests (a notification has none).

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

mod support;
use support::agents::mcp_filesystem_server as filesystem_server;
use support::{cavra_bin, cavra_text as cavra};

/// A JSON-RPC session with `cavra mcp proxy` over its stdio.
struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Session {
    fn start(dir: &Path, session_id: &str, upstream: &[&str]) -> Session {
        let mut child = Command::new(cavra_bin())
            .args([
                "mcp",
                "proxy",
                "--server-name",
                "filesystem",
                "--session-id",
                session_id,
                "--",
            ])
            .args(upstream)
            .current_dir(dir)
            .env("CAVRA_NO_CACHE", "1")
            .env_remove("CAVRA_POLICY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the proxy starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut s = Session {
            child,
            stdin,
            stdout,
        };
        let init = s.ask(
            1,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "cavra-test", "version": "0"}}),
        );
        assert!(init["result"]["serverInfo"].is_object(), "{init}");
        s.notify("notifications/initialized");
        s
    }

    fn send(&mut self, message: &Value) {
        writeln!(self.stdin, "{message}").expect("write");
        self.stdin.flush().expect("flush");
    }

    /// A notification: sent, and no answer awaited (there is none).
    fn notify(&mut self, method: &str) {
        self.send(&json!({"jsonrpc": "2.0", "method": method}));
    }

    /// A request: sent, then lines read until the answer with its id (the server's own
    /// notifications in between are skipped).
    fn ask(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).expect("read");
            assert!(
                n > 0,
                "the proxy closed its output before answering {method}"
            );
            let v: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
            if v.get("id") == Some(&json!(id)) && v.get("method").is_none() {
                return v;
            }
        }
    }

    fn call(&mut self, id: u64, tool: &str, arguments: Value) -> Value {
        self.ask(
            id,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        )
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text_of(answer: &Value) -> String {
    answer["result"]["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join(".git")).expect(".git");
    std::fs::write(
        dir.path().join(".env"),
        "API_TOKEN=s3cr3t-value-from-dotenv\n",
    )
    .expect(".env");
    std::fs::write(dir.path().join("notes.txt"), "ordinary notes\n").expect("notes");
    let (code, out) = cavra(
        dir.path(),
        &[
            "registry",
            "mcp",
            "add",
            "filesystem",
            "--trust",
            "trusted",
            "--approval",
            "approved",
            "--tool",
            "read_text_file",
            "--tool",
            "list_directory",
        ],
    );
    assert_eq!(code, 0, "{out}");
    dir
}

#[test]
fn dotenv_is_unreadable_through_the_official_filesystem_server_and_notes_are_readable() {
    let server = filesystem_server();
    let dir = project();
    let root = dir.path().canonicalize().expect("root");
    let mut s = Session::start(
        &root,
        "fs-read",
        &[
            "node",
            server.to_str().expect("path"),
            root.to_str().expect("root"),
        ],
    );
    // Before any tools/list: the proxy lists the tools itself and checks the pin.
    let secret = s.call(2, "read_text_file", json!({"path": root.join(".env")}));
    assert_eq!(secret["result"]["isError"], true, "{secret}");
    assert!(!secret.to_string().contains("s3cr3t"), "{secret}");
    assert!(text_of(&secret).contains(".env"), "{secret}");
    let notes = s.call(3, "read_text_file", json!({"path": root.join("notes.txt")}));
    assert_ne!(notes["result"]["isError"], true, "{notes}");
    assert!(text_of(&notes).contains("ordinary notes"), "{notes}");
    let listed = s.ask(4, "tools/list", json!({}));
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"read_text_file"), "{names:?}");
    drop(s);

    let (code, out) = cavra(&root, &["decision", "list", "--json"]);
    assert_eq!(code, 0, "{out}");
    let decisions: Value = serde_json::from_str(&out).expect("json");
    let list = decisions.as_array().cloned().unwrap_or_default();
    let blocked_read = list.iter().any(|d| {
        let r = &d["record"];
        r["action_type"] == "read_file"
            && r["target"].as_str().is_some_and(|t| t.ends_with(".env"))
            && r["decision"] == "block"
    });
    assert!(blocked_read, "the .env read is recorded as blocked: {out}");
    assert!(!out.contains("s3cr3t"), "{out}");
}

#[test]
fn a_changed_tool_is_refused_even_when_the_session_never_lists_tools() {
    let server = filesystem_server();
    let dir = project();
    let root = dir.path().canonicalize().expect("root");
    // A first session pins the tools it sees (it lists them itself before its call).
    let mut s = Session::start(
        &root,
        "fs-pin-1",
        &[
            "node",
            server.to_str().expect("path"),
            root.to_str().expect("root"),
        ],
    );
    let first = s.call(2, "read_text_file", json!({"path": root.join("notes.txt")}));
    assert_ne!(first["result"]["isError"], true, "{first}");
    drop(s);
    // The pinned definition changes, as it would had the server changed it since.
    let db = root.join(".cavra/cavra.db");
    let changed = rusqlite_update(
        &db,
        "UPDATE mcp_tool_pins SET digest = 'sha256:0000' WHERE server = 'filesystem' AND tool = 'read_text_file'",
    );
    assert_eq!(changed, 1, "the first session pinned read_text_file");
    let mut s = Session::start(
        &root,
        "fs-pin-2",
        &[
            "node",
            server.to_str().expect("path"),
            root.to_str().expect("root"),
        ],
    );
    let refused = s.call(2, "read_text_file", json!({"path": root.join("notes.txt")}));
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    assert!(text_of(&refused).contains("changed"), "{refused}");
    assert!(!refused.to_string().contains("ordinary notes"), "{refused}");
}

/// Runs one statement on the project's store with python3's sqlite3 module (this crate's tests
/// have no SQLite dependency of their own).
fn rusqlite_update(db: &Path, sql: &str) -> i64 {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); n=c.execute(sys.argv[2]).rowcount; c.commit(); print(n)",
        ])
        .arg(db)
        .arg(sql)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a row count")
}

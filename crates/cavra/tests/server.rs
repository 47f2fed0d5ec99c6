//! The real `cavra` binary as service and client: tenant and token bootstrap, `cavra serve` on
//! loopback, `cavra evaluate --server`, `cavra approval list|approve --server`, and
//! `cavra healthcheck` against it.

use std::process::Command;

use assert_cmd::cargo::cargo_bin;

mod support;

use support::service::{Serve, cli as cavra, token};

/// `cavra serve` on `db`, and its address.
fn start_serve(db: &str) -> (Serve, String) {
    let mut serve = support::service::serve::<&str>(db, &[]);
    serve.keep_reading();
    let url = serve.url.clone();
    (serve, url)
}

#[test]
fn the_binary_serves_and_the_cli_is_its_client() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let out = cavra(&db)
        .args(["tenant", "create", "acme"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refused = cavra(&db)
        .args(["token", "create", "--tenant", "nope", "--role", "agent"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "no such tenant");
    let agent = token(
        &db,
        &["--tenant", "acme", "--role", "agent", "--subject", "bot"],
    );
    let approver = token(
        &db,
        &[
            "--tenant",
            "acme",
            "--role",
            "approver",
            "--subject",
            "carol",
            "--group",
            "Cloud Security",
        ],
    );
    let list = cavra(&db)
        .args(["token", "list", "--json"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        !listed.contains(&agent) && listed.contains("\"bot\""),
        "secrets never listed: {listed}"
    );

    let (_guard, url) = start_serve(&db);

    let eval = |token: &str, args: &[&str]| {
        let mut c = Command::new(cargo_bin("cavra"));
        c.env("CAVRA_TOKEN", token)
            .arg("evaluate")
            .args(args)
            .args(["--server", &url]);
        c.output().unwrap()
    };
    let blocked = eval(&agent, &["read_file", ".env"]);
    assert_eq!(
        blocked.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&blocked.stderr)
    );
    let asked = eval(
        &agent,
        &["execute_command", "terraform import a b", "--json"],
    );
    assert_eq!(asked.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&asked.stdout).unwrap();
    let id = v["approval"]["id"].as_str().unwrap().to_string();
    let bad = eval(
        "cavra_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &["read_file", "x"],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("401"));

    let mut list = Command::new(cargo_bin("cavra"));
    let out = list
        .env("CAVRA_TOKEN", &approver)
        .args(["approval", "list", "--state", "pending", "--server", &url])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
    let out = Command::new(cargo_bin("cavra"))
        .env("CAVRA_TOKEN", &approver)
        .args([
            "approval", "approve", &id, "--reason", "fine", "--server", &url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let retry = eval(&agent, &["execute_command", "terraform import a b"]);
    assert_eq!(retry.status.code(), Some(0), "approved once");
    let again = eval(&agent, &["execute_command", "terraform import a b"]);
    assert_eq!(again.status.code(), Some(3), "and only once");
}

fn hook(
    project: &std::path::Path,
    env: &[(&str, &str)],
    tool: &str,
    input: serde_json::Value,
) -> (i32, String, String) {
    hook_by("cavra", &["hook", "claude-code"], project, env, tool, input)
}

/// One PreToolUse call through `bin args…` (`cavra hook claude-code`, `cavra-hook claude-code`).
fn hook_by(
    bin: &str,
    args: &[&str],
    project: &std::path::Path,
    env: &[(&str, &str)],
    tool: &str,
    input: serde_json::Value,
) -> (i32, String, String) {
    let payload = serde_json::json!({
        "session_id": "sess-srv", "transcript_path": "/tmp/t.jsonl", "cwd": project,
        "permission_mode": "default", "hook_event_name": "PreToolUse",
        "tool_name": tool, "tool_input": input, "tool_use_id": "toolu_srv",
    });
    let mut c = assert_cmd::Command::cargo_bin(bin).unwrap();
    c.env_remove("CAVRA_SERVER")
        .env_remove("CAVRA_TOKEN")
        .env_remove("CAVRA_SERVER_FALLBACK")
        .env_remove("CAVRA_POLICY");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c
        .args(args)
        .current_dir(project)
        .write_stdin(payload.to_string())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_hook_asks_the_service_and_falls_back_as_configured() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    assert!(
        cavra(&db)
            .args(["tenant", "create", "acme"])
            .status()
            .unwrap()
            .success()
    );
    let agent = token(
        &db,
        &[
            "--tenant",
            "acme",
            "--role",
            "agent",
            "--subject",
            "hook-bot",
        ],
    );
    let auditor = token(&db, &["--tenant", "acme", "--role", "auditor"]);
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join(".git")).unwrap();
    // The local policy, used only when the service cannot be reached.
    std::fs::create_dir(project.path().join(".cavra")).unwrap();
    std::fs::write(
        project.path().join(".cavra/policy.yaml"),
        "metadata:\n  id: local\n  title: L\n  description: d\n  version: '1'\n  inherits: [cavra-baseline]\n",
    )
    .unwrap();
    let (_serve, url) = start_serve(&db);
    let env = [
        ("CAVRA_SERVER", url.as_str()),
        ("CAVRA_TOKEN", agent.as_str()),
    ];

    let (code, out, err) = hook(
        project.path(),
        &env,
        "Read",
        serde_json::json!({"file_path": ".env"}),
    );
    assert!(
        out.contains("\"deny\"") && out.contains("filesystem.read.block"),
        "{code} {out} {err}"
    );
    let (code, out, err) = hook(
        project.path(),
        &env,
        "Bash",
        serde_json::json!({"command": "terraform plan && terraform apply -auto-approve"}),
    );
    assert!(out.contains("\"deny\""), "{code} {out} {err}");
    let (code, out, err) = hook(
        project.path(),
        &env,
        "Read",
        serde_json::json!({"file_path": "src/main.rs"}),
    );
    assert_eq!(code, 0, "{out} {err}");
    assert!(!out.contains("\"deny\""), "{out}");
    // The service recorded them, for the tenant.
    let listed = Command::new(cargo_bin("cavra"))
        .env("CAVRA_TOKEN", &auditor)
        .args(["approval", "list", "--json", "--server", &url])
        .output()
        .unwrap();
    assert!(listed.status.success(), "the auditor reads the tenant");
    let decisions = reqwest_free_get(&url, &auditor, "/v1/decisions");
    assert_eq!(
        decisions.as_array().map(|a| a.len()),
        Some(3),
        "{decisions}"
    );
    // A refused token is a deny, whatever the fallback.
    let bad = [
        ("CAVRA_SERVER", url.as_str()),
        (
            "CAVRA_TOKEN",
            "cavra_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
    ];
    let (_, out, _) = hook(
        project.path(),
        &bad,
        "Read",
        serde_json::json!({"file_path": "src/main.rs"}),
    );
    assert!(out.contains("\"deny\"") && out.contains("refused"), "{out}");
    // An unreachable service: the local policy decides, or nothing runs.
    let gone = "http://127.0.0.1:9";
    let (code, out, err) = hook(
        project.path(),
        &[("CAVRA_SERVER", gone), ("CAVRA_TOKEN", agent.as_str())],
        "Read",
        serde_json::json!({"file_path": "src/main.rs"}),
    );
    assert_eq!(code, 0, "{out} {err}");
    assert!(
        !out.contains("\"deny\"") && err.contains("local policy"),
        "{out} {err}"
    );
    let (_, out, _) = hook(
        project.path(),
        &[
            ("CAVRA_SERVER", gone),
            ("CAVRA_TOKEN", agent.as_str()),
            ("CAVRA_SERVER_FALLBACK", "deny"),
        ],
        "Read",
        serde_json::json!({"file_path": "src/main.rs"}),
    );
    assert!(
        out.contains("\"deny\"") && out.contains("cannot be reached"),
        "{out}"
    );
}

/// A suspended tenant's agent is denied with the reason through the slim hook client
/// (`cavra-hook --server`), and acts again once reactivated: `cavra tenant entitle` through
/// the service (a platform admin's token) and in the database, `cavra tenant entitlement`.
#[test]
fn a_suspended_tenants_hook_is_denied_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    for t in ["acme", "operator"] {
        assert!(
            cavra(&db)
                .args(["tenant", "create", t])
                .status()
                .unwrap()
                .success()
        );
    }
    let agent = token(&db, &["--tenant", "acme", "--role", "agent"]);
    let platform = token(&db, &["--tenant", "operator", "--role", "admin"]);
    let acme_admin = token(&db, &["--tenant", "acme", "--role", "admin"]);
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join(".git")).unwrap();
    std::fs::create_dir(project.path().join(".cavra")).unwrap();
    std::fs::write(
        project.path().join(".cavra/policy.yaml"),
        "metadata:\n  id: local\n  title: L\n  description: d\n  version: '1'\n  inherits: [cavra-baseline]\n",
    )
    .unwrap();
    let (_serve, url) = start_serve(&db);
    let slim_hook = || {
        hook_by(
            "cavra-hook",
            &["claude-code", "--server", &url],
            project.path(),
            &[("CAVRA_TOKEN", agent.as_str())],
            "Read",
            serde_json::json!({"file_path": "src/main.rs"}),
        )
        .1
    };
    let entitle = |token: &str, args: &[&str]| {
        Command::new(cargo_bin("cavra"))
            .env("CAVRA_TOKEN", token)
            .args(["tenant", "entitle", "acme", "--json", "--server", &url])
            .args(args)
            .output()
            .unwrap()
    };
    let out = slim_hook();
    assert!(!out.contains("\"deny\""), "active: {out}");

    let refused = entitle(&acme_admin, &["--status", "suspended"]);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "a tenant's own admin cannot"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("403"));
    let out = entitle(&platform, &["--status", "suspended", "--limit", "agents=3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["refusal"], "tenant-suspended", "{v}");
    assert_eq!(v["limits"]["agents"], 3, "{v}");
    let out = slim_hook();
    assert!(
        out.contains("\"deny\"") && out.contains("tenant-suspended"),
        "denied with the reason: {out}"
    );

    // The database shows the same; reactivating there keeps the limit.
    let shown = cavra(&db)
        .args(["tenant", "entitlement", "acme"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("suspended") && text.contains("agents=3"),
        "{text}"
    );
    let bad = cavra(&db)
        .args(["tenant", "entitle", "acme", "--feature", "teleport"])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown feature is a usage error"
    );
    let out = entitle(&platform, &["--status", "active"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&v["in_force"], &v["limits"]["agents"]),
        (&serde_json::json!("active"), &serde_json::json!(3))
    );
    let out = slim_hook();
    assert!(!out.contains("\"deny\""), "active again: {out}");
}

/// A GET over a plain TCP socket (the test needs no HTTP client of its own).
fn reqwest_free_get(base: &str, token: &str, path: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    // A chunked body: take the JSON between the first chunk size line and the end.
    let start = body.find(['[', '{']).unwrap_or(0);
    let end = body.rfind([']', '}']).map(|i| i + 1).unwrap_or(body.len());
    serde_json::from_str(&body[start..end]).unwrap_or(serde_json::Value::Null)
}

/// `cavra healthcheck` (the container's probe) says ready only while the service answers
/// `/readyz`, in text and JSON, and not ready (exit 1, with why) once it is gone.
#[test]
fn healthcheck_follows_the_services_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let (serve, url) = start_serve(&db);
    let readyz = format!("{url}/readyz");
    let probe = |args: &[&str]| {
        let out = Command::new(cargo_bin("cavra"))
            .env_remove("CAVRA_HEALTHCHECK_URL")
            .arg("healthcheck")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = probe(&["--url", &readyz]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.trim(), format!("ready: {readyz}"));
    let (code, stdout, _) = probe(&["--url", &readyz, "--json"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["ready"], true);
    assert_eq!(v["answer"]["status"], "ready");
    assert_eq!(v["answer"]["database"], "sqlite");
    // The URL also comes from the environment, as a container's HEALTHCHECK sets nothing else.
    let out = Command::new(cargo_bin("cavra"))
        .env("CAVRA_HEALTHCHECK_URL", &readyz)
        .arg("healthcheck")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));

    drop(serve);
    let (code, stdout, stderr) = probe(&["--url", &readyz, "--timeout-seconds", "2"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stderr.contains("not ready") && stderr.contains("cannot be reached"),
        "{stderr}"
    );
    let (code, stdout, _) = probe(&["--url", &readyz, "--json"]);
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["ready"], false);
    assert!(v["reason"].as_str().unwrap().contains(&readyz), "{v}");
    let (code, _, stderr) = probe(&["--url", "127.0.0.1:7700/readyz"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("not an http"), "{stderr}");
    let (code, _, _) = probe(&["--timeout-seconds", "0"]);
    assert_eq!(code, Some(2), "a usage error");
}

//! Connectors through the real binaries: `cavra serve` with connectors configured, a decision
//! that blocks delivered to an OCSF receiver on loopback (written here, checking what it
//! gets), `cavra connector list|test|deliveries|dead-letters|retry` as an admin, the dead
//! letters of a failing connector as blockers of that tenant's posture, and a configuration
//! holding an inline secret refused with the field named.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use serde_json::Value;

mod support;

use support::service::{Serve, cli as cavra, token};

/// `cavra serve --config CONFIG` on `db`, and its address.
fn start_serve(db: &str, config: &std::path::Path) -> (Serve, String) {
    let mut serve =
        support::service::serve(db, &[std::ffi::OsStr::new("--config"), config.as_os_str()]);
    serve.keep_reading();
    let url = serve.url.clone();
    (serve, url)
}

/// An OCSF receiver on loopback: `/ocsf` accepts API Activity objects carrying a cavra
/// envelope, `/fail` answers 500. Returns its base URL and what `/ocsf` accepted.
fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    use axum::routing::post;
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let store = got.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new()
                .route(
                    "/ocsf",
                    post(move |body: axum::body::Bytes| {
                        let store = store.clone();
                        async move {
                            let Ok(o) = serde_json::from_slice::<Value>(&body) else {
                                return axum::http::StatusCode::BAD_REQUEST;
                            };
                            if o["class_uid"] != 6003
                                || o["unmapped"]["cavra"]["format"] != "cavra-event/v1"
                            {
                                return axum::http::StatusCode::BAD_REQUEST;
                            }
                            store.lock().unwrap().push(o);
                            axum::http::StatusCode::OK
                        }
                    }),
                )
                .route(
                    "/fail",
                    post(|| async { axum::http::StatusCode::INTERNAL_SERVER_ERROR }),
                );
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    (format!("http://{addr}"), got)
}

fn connector(url: &str, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(cargo_bin("cavra"))
        .env("CAVRA_TOKEN", token)
        .env_remove("CAVRA_SERVER")
        .arg("connector")
        .args(args)
        .args(["--server", url])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn get(url: &str, token: &str, path: &str) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{url}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

#[test]
fn the_service_delivers_and_the_cli_shows_every_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    assert!(
        cavra(&db)
            .args(["tenant", "create", "acme"])
            .status()
            .unwrap()
            .success()
    );
    let agent = token(&db, &["--tenant", "acme", "--role", "agent"]);
    let admin = token(
        &db,
        &["--tenant", "acme", "--role", "admin", "--subject", "ops"],
    );
    let (base, got) = receiver();
    let config = dir.path().join("cavra-server.yaml");
    std::fs::write(
        &config,
        format!(
            "connectors:
  - name: lake
    tenant: acme
    ocsf_https: {{url: \"{base}/ocsf\"}}
  - name: broken
    tenant: acme
    events: [\"decision.*\"]
    retry: {{max_attempts: 1}}
    ocsf_https: {{url: \"{base}/fail\"}}
"
        ),
    )
    .unwrap();
    let (_serve, url) = start_serve(&db, &config);

    let blocked = Command::new(cargo_bin("cavra"))
        .env("CAVRA_TOKEN", &agent)
        .args(["evaluate", "read_file", ".env", "--server", &url])
        .output()
        .unwrap();
    assert_eq!(blocked.status.code(), Some(4));

    // The worker delivers in the background: wait for the lake's delivery.
    let deadline = Instant::now() + Duration::from_secs(30);
    let delivered = loop {
        let (code, out, err) = connector(
            &url,
            &admin,
            &["deliveries", "--json", "--destination", "lake"],
        );
        assert_eq!(code, 0, "{err}");
        let list: Value = serde_json::from_str(&out).unwrap();
        if list
            .as_array()
            .is_some_and(|l| l.iter().any(|d| d["state"] == "delivered"))
        {
            break list;
        }
        assert!(Instant::now() < deadline, "not delivered: {list}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let block = delivered
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event_type"] == "decision.block")
        .unwrap_or_else(|| panic!("{delivered}"));
    let event_id = block["event_id"].as_str().unwrap().to_string();
    let env = got.lock().unwrap()[0]["unmapped"]["cavra"].clone();
    assert_eq!(env["id"], event_id.as_str());
    assert_eq!(env["tenant"], "acme");
    // Signed with the service's log key, which /v1/evidence/head publishes.
    let head = get(&url, &admin, "/v1/evidence/head");
    let key =
        cavra_evidence::keys::public_key_from_pem(head["public_key"].as_str().unwrap()).unwrap();
    cavra_connectors::event::verify_envelope(&env, &key).unwrap();

    // The attempts of that event, as evidence entries.
    let (code, out, _) = connector(
        &url,
        &admin,
        &["deliveries", "--event", &event_id, "--json"],
    );
    assert_eq!(code, 0);
    let detail: Value = serde_json::from_str(&out).unwrap();
    let attempts = detail["attempts"].as_array().unwrap();
    assert!(
        attempts.iter().any(
            |a| a["attempt"]["destination"] == "lake" && a["attempt"]["outcome"] == "delivered"
        )
    );
    assert!(attempts.iter().any(
        |a| a["attempt"]["destination"] == "broken" && a["attempt"]["outcome"] == "dead_letter"
    ));

    // A test event, signed, followed to its delivery record.
    let (code, out, err) = connector(&url, &admin, &["test", "lake", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let test: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(test["deliveries"][0]["state"], "delivered");
    assert_eq!(
        test["attempts"][0]["attempt"]["event_type"],
        "connector.test"
    );
    let sent = got
        .lock()
        .unwrap()
        .iter()
        .find(|o| o["unmapped"]["cavra"]["type"] == "connector.test")
        .cloned()
        .expect("the test event reached the receiver");
    cavra_connectors::event::verify_envelope(&sent["unmapped"]["cavra"], &key).unwrap();
    let (code, out, _) = connector(&url, &admin, &["test", "broken"]);
    assert_eq!(code, 1, "a failing connector's test fails: {out}");
    assert!(out.contains("dead_letter"), "{out}");

    // Dead letters: listed, and blockers of this tenant's posture.
    let (code, out, _) = connector(&url, &admin, &["dead-letters", "--json"]);
    assert_eq!(code, 0);
    let dead: Value = serde_json::from_str(&out).unwrap();
    assert!(
        dead.as_array()
            .unwrap()
            .iter()
            .all(|d| d["destination"] == "broken")
    );
    assert!(dead.as_array().unwrap().len() >= 2);
    let posture = get(&url, &admin, "/v1/posture");
    assert!(posture["dead_letters"].as_u64().unwrap() >= 2);
    assert!(
        posture["blockers"][0]
            .as_str()
            .unwrap()
            .contains("connector broken"),
        "{posture}"
    );
    // The AISPM posture finds them in the evidence log: the last attempt of each delivery.
    let out = Command::new(cargo_bin("cavra"))
        .env("CAVRA_TOKEN", &admin)
        .args(["aispm", "posture", "--json", "--server", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let aispm: Value = serde_json::from_slice(&out.stdout).unwrap();
    let broken = &aispm["connectors"]["destinations"]["broken"];
    assert!(broken["dead_letters"].as_u64().unwrap() >= 2, "{aispm}");
    assert!(
        aispm["factors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "connector_health" && f["value"].as_f64().unwrap() < 1.0),
        "{aispm}"
    );
    let (code, out, _) = connector(
        &url,
        &admin,
        &["retry", "--destination", "broken", "--json"],
    );
    assert_eq!(code, 0);
    let retried: Value = serde_json::from_str(&out).unwrap();
    assert!(retried["retried"].as_u64().unwrap() >= 2, "{retried}");

    // The listing shows kinds and destinations; only admins see it.
    let (code, out, _) = connector(&url, &admin, &["list", "--json"]);
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["name"], "lake");
    assert_eq!(list[0]["kind"], "ocsf_https");
    assert_eq!(list[0]["destination"], format!("{base}/ocsf"));
    let (code, _, err) = connector(&url, &agent, &["list"]);
    assert_eq!(code, 1);
    assert!(err.contains("403"), "{err}");
}

#[test]
fn an_inline_secret_in_the_configuration_is_refused_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let config = dir.path().join("cavra-server.yaml");
    let secret = "5f0c2d7e-0000-4a4a-9b9b-abcdefabcdef";
    std::fs::write(
        &config,
        format!(
            "connectors:
  - name: siem
    tenant: acme
    splunk_hec: {{url: \"https://splunk.internal:8088\", token: \"{secret}\"}}
"
        ),
    )
    .unwrap();
    let out = cavra(&db)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("connectors[0] (siem).splunk_hec.token"),
        "{err}"
    );
    assert!(err.contains("inline secret"), "{err}");
    assert!(!err.contains(secret), "the secret is not echoed: {err}");
}

/// `cavra <args>` with `token` and no caller settings; exit code, stdout, stderr.
fn cli(token: &str, dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(cargo_bin("cavra"))
        .env("CAVRA_TOKEN", token)
        .env_remove("CAVRA_SERVER")
        .env_remove("CAVRA_TRUST_ROOT")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A signed release record sent with `--server` is checked against the service's trust root,
/// kept in the tenant's log and delivered as `release.recorded`; `cavra trust status --server`
/// compares the service's trust root with the one in use.
#[test]
fn a_release_record_is_delivered_and_the_service_trust_root_compared() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = format!("sqlite://{}", d.join("s.db").display());
    assert!(
        cavra(&db)
            .args(["tenant", "create", "acme"])
            .status()
            .unwrap()
            .success()
    );
    let admin = token(
        &db,
        &["--tenant", "acme", "--role", "admin", "--subject", "ops"],
    );
    let agent = token(&db, &["--tenant", "acme", "--role", "agent"]);
    let p = |x: &str| d.join(x).display().to_string();
    let run_ok = |args: &[&str]| {
        let (code, out, err) = cli(&admin, d, args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        out
    };
    run_ok(&[
        "keys",
        "generate",
        "--key-id",
        "release-2026",
        "--output",
        &p("keys"),
    ]);
    run_ok(&[
        "trust",
        "add",
        "--trust-root",
        &p("trust.json"),
        "--key-id",
        "release-2026",
        "--owner",
        "release",
        "--valid-from",
        "2020-01-01T00:00:00Z",
        "--public-key",
        &p("keys/release-2026.pub"),
    ]);
    let (base, got) = receiver();
    let config = d.join("cavra-server.yaml");
    std::fs::write(
        &config,
        format!(
            "trust_root: \"{}\"
connectors:
  - name: lake
    tenant: acme
    events: [\"release.*\"]
    ocsf_https: {{url: \"{base}/ocsf\"}}
",
            p("trust.json")
        ),
    )
    .unwrap();
    let (_serve, url) = start_serve(&db, &config);

    let repo = d.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    for args in [
        &["init", "-q", "-b", "main"][..],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e.invalid",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "one",
        ][..],
    ] {
        assert!(
            Command::new("git")
                .args(args)
                .current_dir(&repo)
                .status()
                .unwrap()
                .success()
        );
    }
    std::fs::write(d.join("cavra.tar.gz"), b"artefact").unwrap();
    let record = |version: &str, who: &str| {
        let tok = if who == "admin" { &admin } else { &agent };
        cli(
            tok,
            &repo,
            &[
                "release",
                "record",
                "--version",
                version,
                "--artifact",
                &p("cavra.tar.gz"),
                "--sign-key",
                &p("keys/release-2026.key"),
                "--trust-root",
                &p("trust.json"),
                "--server",
                &url,
                "--json",
            ],
        )
    };
    // Only admins record releases.
    let (code, _, err) = record("0.9.0", "agent");
    assert_eq!(code, 1);
    assert!(err.contains("403"), "{err}");
    let (code, out, err) = record("1.0.0", "admin");
    assert_eq!(code, 0, "{out}{err}");
    let sent: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sent["service"]["event_type"], "release.recorded");

    let deadline = Instant::now() + Duration::from_secs(30);
    let env = loop {
        if let Some(o) = got
            .lock()
            .unwrap()
            .iter()
            .find(|o| o["unmapped"]["cavra"]["type"] == "release.recorded")
        {
            break o["unmapped"]["cavra"].clone();
        }
        assert!(Instant::now() < deadline, "release.recorded not delivered");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(env["data"]["version"], "1.0.0");
    assert_eq!(env["data"]["artifacts"][0]["name"], "cavra.tar.gz");
    assert_eq!(env["data"]["signed_by"], "release-2026");
    assert_eq!(env["subject"], "1.0.0");

    // A record the service's trust root does not vouch for is refused (422) and kept nowhere.
    run_ok(&[
        "keys",
        "generate",
        "--key-id",
        "intruder",
        "--output",
        &p("keys"),
    ]);
    run_ok(&[
        "trust",
        "add",
        "--trust-root",
        &p("other.json"),
        "--key-id",
        "intruder",
        "--owner",
        "x",
        "--valid-from",
        "2020-01-01T00:00:00Z",
        "--public-key",
        &p("keys/intruder.pub"),
    ]);
    let (code, _, err) = cli(
        &admin,
        &repo,
        &[
            "release",
            "record",
            "--version",
            "6.6.6",
            "--artifact",
            &p("cavra.tar.gz"),
            "--sign-key",
            &p("keys/intruder.key"),
            "--trust-root",
            &p("other.json"),
            "--server",
            &url,
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("422") || err.contains("does not verify"),
        "{err}"
    );

    // The service reports its trust root: in sync with the file it was started with, drift
    // against another.
    run_ok(&[
        "trust",
        "status",
        "--trust-root",
        &p("trust.json"),
        "--server",
        &url,
    ]);
    let (code, out, err) = cli(
        &admin,
        d,
        &[
            "trust",
            "status",
            "--trust-root",
            &p("other.json"),
            "--server",
            &url,
            "--json",
        ],
    );
    assert_eq!(code, 3, "{out}{err}");
    let status: Value = serde_json::from_str(&out).unwrap();
    let kinds: Vec<&str> = status["status"]["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"missing_in_use") && kinds.contains(&"missing_there"),
        "{status}"
    );
}

/// A POST with a bearer token; returns the status and the JSON body.
fn post(url: &str, token: &str, path: &str, body: Value) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("{url}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    })
}

/// Break glass notifies (issue 16): breaking glass on a pending approval reaches the
/// connector routed for it, signed, naming who broke it and why, while a connector routed
/// only for other events gets nothing. The service's stderr is closed after its first line,
/// as a supervisor that stops reading would: the loud log line of a break glass must not
/// take the request down.
#[test]
fn break_glass_is_delivered_to_the_connector_routed_for_it() {
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
        &["--tenant", "acme", "--role", "agent", "--subject", "bot"],
    );
    let breaker = token(
        &db,
        &[
            "--tenant",
            "acme",
            "--role",
            "approver",
            "--subject",
            "oncall",
            "--group",
            "Break Glass",
        ],
    );
    let (base, got) = receiver();
    let config = dir.path().join("cavra-server.yaml");
    std::fs::write(
        &config,
        format!(
            "connectors:
  - name: pager
    tenant: acme
    events: [\"approval.break_glass\"]
    ocsf_https: {{url: \"{base}/ocsf\"}}
  - name: quiet
    tenant: acme
    events: [\"release.*\"]
    ocsf_https: {{url: \"{base}/fail\"}}
"
        ),
    )
    .unwrap();
    let (_serve, url) = start_serve(&db, &config);

    let (status, decided) = post(
        &url,
        &agent,
        "/v1/decisions",
        serde_json::json!({"request": {"action": "execute_command", "target": "make deploy-prod",
            "session_id": "s-bg", "agent_id": "claude-code"}}),
    );
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["decision"], "require_approval", "{decided}");
    let id = decided["approval"]["id"].as_str().unwrap().to_string();

    let (status, broken) = post(
        &url,
        &breaker,
        &format!("/v1/approvals/{id}/break-glass"),
        serde_json::json!({"reason": "INC-7 production down", "minutes": 5}),
    );
    assert_eq!(status, 200, "{broken}");
    assert_eq!(broken["state"], "break_glass");

    let deadline = Instant::now() + Duration::from_secs(30);
    let event = loop {
        let found = got
            .lock()
            .unwrap()
            .iter()
            .map(|o| o["unmapped"]["cavra"].clone())
            .find(|e| e["type"] == "approval.break_glass");
        if let Some(e) = found {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "break glass never reached the connector routed for it"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(event["subject"], id.as_str(), "{event}");
    assert_eq!(event["tenant"], "acme");
    let text = event["data"].to_string();
    assert!(text.contains("oncall"), "who broke glass: {event}");
    assert!(text.contains("INC-7 production down"), "why: {event}");
    let head = get(&url, &breaker, "/v1/evidence/head");
    let key =
        cavra_evidence::keys::public_key_from_pem(head["public_key"].as_str().unwrap()).unwrap();
    cavra_connectors::event::verify_envelope(&event, &key).unwrap();
    // Only what the pager is routed for reached it; the quiet connector has no deliveries.
    assert!(
        got.lock()
            .unwrap()
            .iter()
            .all(|o| o["unmapped"]["cavra"]["type"] == "approval.break_glass")
    );
    let admin = token(
        &db,
        &["--tenant", "acme", "--role", "admin", "--subject", "ops"],
    );
    let (code, out, err) = connector(
        &url,
        &admin,
        &["deliveries", "--json", "--destination", "quiet"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        serde_json::json!([])
    );
}

/// A POST of a raw body with `headers` and no cavra credential (a request Slack signs);
/// returns the status and the JSON body.
fn post_signed(url: &str, path: &str, headers: &[(&str, String)], body: String) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new()
            .post(format!("{url}{path}"))
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    })
}

/// Issue 20's round trip through the real binaries: `cavra evaluate --server` asks for
/// approval (exit 3), `cavra serve` posts the request to a Slack stand-in, an approver's
/// press (signed as Slack signs it) comes back and is granted, the message is updated, and
/// the agent's retry is allowed once (exit 0, then 3 again). The evidence entries of the
/// approval tell the story in order.
#[test]
fn a_slack_press_approves_and_the_agents_retry_is_allowed_once() {
    use cavra_connectors::slack::testing::{StandIn, signed_press};
    const SECRET: &str = "slack-signing-secret-for-the-round-trip";
    const BOT: &str = "xoxb-round-trip";
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
        &["--tenant", "acme", "--role", "agent", "--subject", "bot"],
    );
    let auditor = token(&db, &["--tenant", "acme", "--role", "auditor"]);
    let slack = StandIn::start(BOT);
    std::fs::write(dir.path().join("signing"), SECRET).unwrap();
    std::fs::write(dir.path().join("bot"), BOT).unwrap();
    let config = dir.path().join("serve.yaml");
    std::fs::write(
        &config,
        format!(
            "connectors:\n  - name: chat\n    tenant: acme\n    events: [approval.requested]\n    slack:\n      api_url: {}\n      bot_token: file:{}\n      channel: C0APPROVALS\n      signing_secret: file:{}\n      approvers:\n        U0CAROL: {{subject: carol, groups: [Cloud Security]}}\n",
            slack.api_url(),
            dir.path().join("bot").display(),
            dir.path().join("signing").display()
        ),
    )
    .unwrap();
    let (_serve, url) = start_serve(&db, &config);
    let evaluate = || {
        Command::new(cargo_bin("cavra"))
            .env("CAVRA_TOKEN", &agent)
            .env_remove("CAVRA_SERVER")
            .args([
                "evaluate",
                "execute_command",
                "terraform import a b",
                "--json",
            ])
            .args(["--server", &url])
            .output()
            .unwrap()
    };
    let asked = evaluate();
    assert_eq!(
        asked.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&asked.stderr)
    );
    let v: Value = serde_json::from_slice(&asked.stdout).unwrap();
    let id = v["approval"]["id"].as_str().unwrap().to_string();

    let posted = slack.wait_for(1, |c| {
        c.method == "chat.postMessage" && c.body.to_string().contains(&id)
    });
    assert_eq!(posted.len(), 1, "{:?}", slack.calls());
    assert_eq!(posted[0].refused, None);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (headers, body) = signed_press(
        SECRET,
        now,
        "acme",
        &id,
        "U0CAROL",
        true,
        &slack.response_url("rt"),
    );
    let (status, answer) = post_signed(&url, "/v1/integrations/slack/interactions", &headers, body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "approved", "{answer}");
    let updated = slack.wait_for(1, |c| c.method == "chat.update");
    assert_eq!(updated.len(), 1, "{:?}", slack.calls());
    assert!(updated[0].body.to_string().contains("approved"));

    let retry = evaluate();
    assert_eq!(
        retry.status.code(),
        Some(0),
        "approved once: {}",
        String::from_utf8_lossy(&retry.stdout)
    );
    let again = evaluate();
    assert_eq!(again.status.code(), Some(3), "and only once");

    // The approval's entries, oldest first: asked, approved (by carol, the Slack user in its
    // reason), the press that approved it, the grant used by the retry.
    let entries = get(&url, &auditor, &format!("/v1/evidence/entries?ref_id={id}"));
    let story: Vec<String> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let b = &e["entry"]["body"];
            format!(
                "{} {}",
                e["kind"].as_str().unwrap_or(""),
                b["state"].as_str().or(b["outcome"].as_str()).unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        story,
        [
            "approval pending",
            "approval approved",
            "chat_interaction approved",
            "approval consumed"
        ],
        "{entries}"
    );
}

//! Readiness and AISPM review packets against a running `cavra serve`: made from the service
//! (`--server`), verified offline and against the live configuration; a pack assignment made
//! after the packet makes it stale, and the gate exits 4 while blockers remain.

use std::path::Path;
use std::process::{Command, Output};

mod support;

use support::ok;
use support::service::{Serve, cli};

/// The test bed's service configuration next to the database: the gate does not ask for
/// recorded tenant and runtime validations (cavra-server's tests/tenant_validation.rs and
/// tests/tenant_validation.rs here prove those).
fn test_bed(db: &str) -> std::path::PathBuf {
    let dir = Path::new(db.trim_start_matches("sqlite://"))
        .parent()
        .expect("the database's folder")
        .to_path_buf();
    let config = dir.join("cavra-server.yaml");
    if !config.exists() {
        std::fs::write(&config, "readiness:\n  require_validations: false\n").expect("config");
    }
    config
}

fn cavra(db: &str) -> Command {
    let mut c = cli(db);
    c.env("CAVRA_SERVER_CONFIG", test_bed(db));
    c
}

/// `cavra serve` on `db`, and its address.
fn start_serve(db: &str) -> (Serve, String) {
    let config = test_bed(db);
    let mut serve =
        support::service::serve(db, &[std::ffi::OsStr::new("--config"), config.as_os_str()]);
    serve.keep_reading();
    let url = serve.url.clone();
    (serve, url)
}

fn run(c: &mut Command) -> Output {
    c.output().expect("runs")
}

/// A request with a JSON body over a plain TCP socket; the status code.
fn send(base: &str, token: &str, method: &str, path: &str, body: &str) -> u16 {
    support::service::request(base, token, method, path, body).0
}

fn verify(
    db: &str,
    what: &[&str],
    file: &Path,
    trust: &Path,
    extra: &[&str],
) -> (i32, serde_json::Value) {
    let out = run(cavra(db)
        .args(what)
        .arg(file)
        .arg("--trust-root")
        .arg(trust)
        .arg("--json")
        .args(extra));
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn packets_from_the_service_verify_until_its_configuration_changes() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    ok(cavra(&db).args(["tenant", "create", "acme"]));
    let out = ok(cavra(&db).args([
        "token", "create", "--tenant", "acme", "--role", "admin", "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let token = v["token"].as_str().expect("token").to_string();
    let keys = dir.path().join("keys");
    ok(cavra(&db)
        .args(["keys", "generate", "--key-id", "ops", "--output"])
        .arg(&keys));
    let trust = dir.path().join("trust.json");
    ok(cavra(&db)
        .args(["trust", "add", "--trust-root"])
        .arg(&trust)
        .args([
            "--key-id",
            "ops",
            "--owner",
            "ops",
            "--valid-from",
            "2020-01-01T00:00:00Z",
            "--public-key",
        ])
        .arg(keys.join("ops.pub")));
    let (_serve, url) = start_serve(&db);
    let key = keys.join("ops.key");

    let readiness = dir.path().join("readiness.json");
    let review = dir.path().join("review.json");
    ok(cavra(&db)
        .env("CAVRA_TOKEN", &token)
        .args(["readiness", "--server", &url, "--packet"])
        .arg(&readiness)
        .arg("--sign-key")
        .arg(&key));
    ok(cavra(&db)
        .env("CAVRA_TOKEN", &token)
        .args([
            "aispm", "packet", "create", "--server", &url, "--period", "7d", "--output",
        ])
        .arg(&review)
        .arg("--sign-key")
        .arg(&key));
    let body: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&review).expect("review")).expect("json");
    assert_eq!(
        body["payloadType"], "application/vnd.cavra.packet+json",
        "{body}"
    );
    // The review carries the posture day by day over the period's days, today's included.
    let envelope: cavra_evidence::dsse::Envelope =
        serde_json::from_value(body.clone()).expect("envelope");
    let packet: serde_json::Value =
        serde_json::from_slice(&envelope.payload_bytes().expect("payload")).expect("packet");
    let trend = &packet["review"]["trend"];
    assert_eq!(trend["days"].as_array().map(Vec::len), Some(8), "{packet}");
    assert_eq!(trend["format"], "cavra-aispm-trend/v1", "{packet}");

    let live = ["--server", url.as_str()];
    let (code, v) = verify(&db, &["readiness", "verify"], &readiness, &trust, &[]);
    assert_eq!((code, &v["verified"]), (0, &serde_json::json!(true)), "{v}");
    let mut c = cavra(&db);
    c.env("CAVRA_TOKEN", &token);
    let out = run(c
        .args(["readiness", "verify"])
        .arg(&readiness)
        .arg("--trust-root")
        .arg(&trust)
        .args(live));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (code, v) = verify(
        &db,
        &["aispm", "packet", "verify"],
        &review,
        &trust,
        &["--max-age", "1h"],
    );
    assert_eq!(code, 0, "{v}");
    // A review packet is not a readiness packet.
    let (code, v) = verify(&db, &["readiness", "verify"], &review, &trust, &[]);
    assert_eq!((code, v["reason"].as_str()), (1, Some("invalid")), "{v}");

    // A pack assigned after the packets: against the live service they are stale.
    let st = send(
        &url,
        &token,
        "PUT",
        "/v1/policy-assignments",
        r#"{"pack": "cavra-baseline"}"#,
    );
    assert_eq!(st, 200);
    for (what, file) in [
        (&["readiness", "verify"][..], &readiness),
        (&["aispm", "packet", "verify"][..], &review),
    ] {
        let out = run(cavra(&db)
            .env("CAVRA_TOKEN", &token)
            .args(what)
            .arg(file)
            .arg("--trust-root")
            .arg(&trust)
            .args(live)
            .arg("--json"));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(out.status.code(), Some(1), "{v}");
        assert_eq!(v["reason"], "stale", "{v}");
        assert!(
            v["detail"]
                .as_str()
                .is_some_and(|d| d.contains("tenant/acme/packs")),
            "{v}"
        );
    }
    // Offline, without the live digests, the same packet still verifies.
    let (code, _) = verify(&db, &["readiness", "verify"], &readiness, &trust, &[]);
    assert_eq!(code, 0);
}

#[test]
fn the_gate_exits_4_while_blockers_remain_and_its_packet_says_blockers_open() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("s.db");
    let db = format!("sqlite://{}", path.display());
    ok(cavra(&db).args(["tenant", "create", "acme"]));
    let admin = {
        let out = ok(cavra(&db).args([
            "token", "create", "--tenant", "acme", "--role", "admin", "--json",
        ]));
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        v["token"].as_str().expect("token").to_string()
    };
    let (serve, url) = start_serve(&db);
    // Two agents registered; none ever decides: hook coverage 0 % under the 90 % floor.
    for name in ["claude-code", "codex"] {
        let body = format!(r#"{{"kind": "{name}", "owner": "platform"}}"#);
        assert_eq!(
            send(
                &url,
                &admin,
                "PUT",
                &format!("/v1/registry/agents/{name}"),
                &body
            ),
            200
        );
    }
    drop(serve);
    let keys = dir.path().join("keys");
    ok(cavra(&db)
        .args(["keys", "generate", "--key-id", "ops", "--output"])
        .arg(&keys));
    let trust = dir.path().join("trust.json");
    ok(cavra(&db)
        .args(["trust", "add", "--trust-root"])
        .arg(&trust)
        .args([
            "--key-id",
            "ops",
            "--owner",
            "ops",
            "--valid-from",
            "2020-01-01T00:00:00Z",
            "--public-key",
        ])
        .arg(keys.join("ops.pub")));
    let packet = dir.path().join("readiness.json");
    let out = run(cavra(&db)
        .args(["readiness", "--tenant", "acme", "--packet"])
        .arg(&packet)
        .arg("--sign-key")
        .arg(keys.join("ops.key")));
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("BLOCKER hook_coverage.floor [acme]"),
        "{text}"
    );
    let (code, v) = verify(&db, &["readiness", "verify"], &packet, &trust, &[]);
    assert_eq!(
        (code, v["reason"].as_str()),
        (1, Some("blockers_open")),
        "{v}"
    );
    // --packet without a key is a usage error.
    let out = run(cavra(&db).args(["readiness", "--packet"]).arg(&packet));
    assert_eq!(out.status.code(), Some(2));
}

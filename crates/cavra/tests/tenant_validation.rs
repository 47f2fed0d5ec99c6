//! `cavra validate tenants` through the real binaries: two `cavra serve` replicas on one
//! PostgreSQL database (when `CAVRA_TEST_POSTGRES_URL` is set; else one service on SQLite),
//! two probe tenants with a report recipient and a failing connector each, the validator run
//! against the second replica; its signed reports verify offline (`validate verify`),
//! a tampered one does not, and the gate of the database no longer finds
//! `tenants.isolation_validation` while `runtime.validation` stays; `cavra readiness
//! --replica` compares both replicas' trust roots (`trust_root.drift`).

mod support;

use std::path::Path;

use serde_json::Value;
use support::ok;
use support::service::{Serve, cli as cavra};

/// A fresh PostgreSQL schema's URL, when the test database is configured.
fn postgres() -> Option<String> {
    let base = std::env::var("CAVRA_TEST_POSTGRES_URL")
        .ok()
        .filter(|v| !v.is_empty())?;
    let name = format!("cavra_tv_{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
            ))
            .await
            .expect("schema");
    });
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{name}"))
}

/// A recipient on loopback that accepts everything.
fn recipient() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            let app = axum::Router::new().fallback(|| async { "ok" });
            let _ = axum::serve(listener, app).await;
        });
    });
    format!("http://{}", rx.recv().expect("address"))
}

/// `cavra serve` on `db` with `config`, signing with the key the replicas share; its address.
fn start_serve(db: &str, config: &Path) -> (Serve, String) {
    // Replicas on PostgreSQL sign checkpoints with one key.
    let log_key = config.with_file_name("keys").join("log.key");
    let mut serve = support::service::serve(
        db,
        &[
            Path::new("--config"),
            config,
            Path::new("--signing-key"),
            &log_key,
        ],
    );
    serve.keep_reading();
    let url = serve.url.clone();
    (serve, url)
}

/// Writes tenant `t`'s probe credential file: one token per role.
fn credentials(db: &str, dir: &Path, t: &str) -> std::path::PathBuf {
    let mut creds = serde_json::Map::new();
    for role in ["agent", "admin", "auditor"] {
        let subject = format!("probe-{role}-{t}");
        let token =
            support::service::token(db, &["--tenant", t, "--role", role, "--subject", &subject]);
        creds.insert(role.into(), Value::String(token));
    }
    let path = dir.join(format!("{t}.cred.json"));
    std::fs::write(&path, Value::Object(creds).to_string()).expect("creds");
    path
}

#[test]
fn the_live_validator_proves_two_replicas_and_its_reports_verify() {
    let dir = tempfile::tempdir().expect("dir");
    let p = |n: &str| dir.path().join(n);
    let pg = postgres();
    let db = pg
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", p("s.db").display()));
    ok(cavra(&db).args(["db", "migrate"]));
    for t in ["acme", "beta"] {
        ok(cavra(&db).args(["tenant", "create", t]));
    }
    ok(cavra(&db)
        .args(["keys", "generate", "--key-id", "ops", "--output"])
        .arg(p("keys")));
    ok(cavra(&db)
        .args(["keys", "generate", "--key-id", "log", "--output"])
        .arg(p("keys")));
    ok(cavra(&db)
        .args([
            "trust",
            "add",
            "--key-id",
            "ops",
            "--owner",
            "ops",
            "--trust-root",
        ])
        .arg(p("trust.json"))
        .arg("--public-key")
        .arg(p("keys/ops.pub")));
    let base = recipient();
    let mut config = format!(
        "trust_root: \"{}\"\nconnectors:\n",
        p("trust.json").display()
    );
    for t in ["acme", "beta"] {
        config.push_str(&format!(
            "  - name: {t}-lake\n    tenant: {t}\n    ocsf_https: {{url: \"{base}/{t}\"}}\n  - name: {t}-broken\n    tenant: {t}\n    retry: {{max_attempts: 1}}\n    ocsf_https: {{url: \"http://127.0.0.1:9/{t}\"}}\n"
        ));
    }
    std::fs::write(p("cavra-server.yaml"), &config).expect("config");
    let (a, b) = (
        credentials(&db, dir.path(), "acme"),
        credentials(&db, dir.path(), "beta"),
    );
    let (_one, first) = start_serve(&db, &p("cavra-server.yaml"));
    let replicas = if pg.is_some() {
        Some(start_serve(&db, &p("cavra-server.yaml")))
    } else {
        None
    };
    let target = replicas.as_ref().map_or(first.clone(), |r| r.1.clone());

    let out = cavra(&db)
        .args(["validate", "tenants", "--server", &target, "--probe-a"])
        .arg(&a)
        .arg("--probe-b")
        .arg(&b)
        .arg("--sign-key")
        .arg(p("keys/ops.key"))
        .arg("--output")
        .arg(p("reports"))
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "cavra validate tenants against {target} ({}):\n{text}",
        if pg.is_some() {
            "the second of two PostgreSQL replicas"
        } else {
            "SQLite"
        }
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("recorded in the tenant's log"), "{text}");

    let verify = |file: &Path| {
        cavra(&db)
            .args(["validate", "verify"])
            .arg(file)
            .arg("--trust-root")
            .arg(p("trust.json"))
            .output()
            .expect("runs")
    };
    for t in ["acme", "beta"] {
        let v = verify(&p(&format!("reports/{t}.json")));
        assert_eq!(
            v.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&v.stderr)
        );
    }
    let text = std::fs::read_to_string(p("reports/acme.json")).expect("report");
    let mut env: Value = serde_json::from_str(&text).expect("json");
    let mut payload: Vec<char> = env["payload"].as_str().expect("payload").chars().collect();
    let mid = payload.len() / 2;
    payload[mid] = if payload[mid] == 'A' { 'B' } else { 'A' };
    env["payload"] = Value::String(payload.into_iter().collect());
    std::fs::write(p("tampered.json"), env.to_string()).expect("write");
    assert_eq!(
        verify(&p("tampered.json")).status.code(),
        Some(1),
        "tampered"
    );

    // The gate: the isolation validations are recorded, the runtime ones are not.
    let admin = ok(cavra(&db).args([
        "token", "create", "--json", "--tenant", "acme", "--role", "admin",
    ]));
    let admin: Value = serde_json::from_str(&admin).expect("json");
    let mut gate = cavra(&db);
    gate.env("CAVRA_TOKEN", admin["token"].as_str().expect("token"))
        .args(["readiness", "--json", "--config"])
        .arg(p("cavra-server.yaml"))
        .args(["--replica", &first])
        .args(["--replica", &target]);
    let out = gate.output().expect("runs");
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    let of = |v: &str| {
        r["blockers"]
            .as_array()
            .expect("blockers")
            .iter()
            .filter(|b| b["validator"] == v)
            .count()
    };
    assert_eq!(of("tenants.isolation_validation"), 0, "{r}");
    assert_eq!(of("runtime.validation"), 2, "{r}");
    assert_eq!(of("trust_root.drift"), 0, "{r}");
    assert!(
        r["validators"]
            .as_array()
            .is_some_and(|v| v.contains(&Value::from("trust_root.drift"))),
        "{r}"
    );
}

//! The operating review chain end to end, as an operator runs it against the real
//! `cavra serve`: a release archive and its release record, then `cavra review publication`,
//! `activation` (two first tenants), `report` (from the service's figures), `send` (through
//! the tenant's SMTP connector to the SMTP test server, and refused to another tenant's), a
//! `drill` compromising the release key, the `closeout` bundle and the `status` summary —
//! each record verified offline with `cavra review verify`, and a tampered one refused.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use cavra_connectors::smtp::testing::{Mode, Pki, attachment, smtp_server};
use serde_json::{Value, json};
use support::ok;
use support::service::cli;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// (exit code, stdout, stderr).
fn out(c: &mut Command) -> (i32, String, String) {
    let o = support::outcome(c);
    (o.code, o.stdout, o.stderr)
}

/// A request over a plain socket: the status and the JSON body.
fn http(base: &str, token: &str, method: &str, path: &str, body: &Value) -> (u16, Value) {
    support::service::request(base, token, method, path, &body.to_string())
}

fn token(db: &str, tenant: &str, role: &str) -> String {
    support::service::token(db, &["--tenant", tenant, "--role", role])
}

/// `cavra review verify FILE --json`: the exit code and the answer.
fn verify(db: &str, path: &Path, trust: &Path, extra: &[&str]) -> (i32, Value) {
    let (code, stdout, _) = out(cli(db)
        .args([
            "review",
            "verify",
            s(path),
            "--trust-root",
            s(trust),
            "--json",
        ])
        .args(extra));
    (code, serde_json::from_str(&stdout).unwrap_or(Value::Null))
}

fn trust_add(db: &str, trust: &Path, keys: &Path, id: &str) {
    ok(cli(db).args([
        "trust",
        "add",
        "--trust-root",
        s(trust),
        "--key-id",
        id,
        "--owner",
        "ops",
        "--valid-from",
        "2020-01-01T00:00:00Z",
        "--public-key",
        s(&keys.join(format!("{id}.pub"))),
    ]));
}

/// A release archive of stand-in binaries and its release record, signed with `release`.
fn release(db: &str, dir: &Path, key: &Path, trust: &Path) -> (PathBuf, PathBuf) {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).expect("repo");
    support::git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("a"), "a").expect("file");
    support::git(&repo, &["add", "-A"]);
    support::git(&repo, &["commit", "-q", "-m", "a"]);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    for b in ["cavra", "cavra-hook"] {
        std::fs::write(bin.join(b), format!("stand-in {b}")).expect("bin");
    }
    let metadata = dir.join("metadata.json");
    std::fs::write(
        &metadata,
        json!({"packages": [{"id": "c", "name": "cavra", "version": "0.1.0", "source": null, "license": "Apache-2.0"}],
               "resolve": {"nodes": [{"id": "c", "deps": []}]}})
        .to_string(),
    )
    .expect("metadata");
    std::fs::write(dir.join("Cargo.lock"), "version = 4\n").expect("lock");
    let built: Value = serde_json::from_str(&ok(cli(db).args([
        "release",
        "archive",
        "--version",
        "0.1.0",
        "--target",
        "x86_64-unknown-linux-gnu",
        "--binary",
        s(&bin.join("cavra")),
        "--binary",
        s(&bin.join("cavra-hook")),
        "--metadata",
        s(&metadata),
        "--lock",
        s(&dir.join("Cargo.lock")),
        "--source-date-epoch",
        "1780000000",
        "--sign-key",
        s(key),
        "--trust-root",
        s(trust),
        "--output",
        s(&dir.join("dist")),
        "--json",
    ])))
    .expect("json");
    let archive = PathBuf::from(built["archive"].as_str().expect("archive"));
    ok(cli(db).current_dir(&repo).args([
        "release",
        "record",
        "--version",
        "0.1.0",
        "--artifact",
        s(&archive),
        "--sign-key",
        s(key),
        "--trust-root",
        s(trust),
    ]));
    (archive, repo.join(".cavra/releases/0.1.0.release.json"))
}

#[test]
fn the_operating_review_chain_against_the_real_service() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    let pki = Pki::new();
    let (smtp, port) = rt.block_on(smtp_server(&pki, Mode::Starttls, None));

    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let db = format!("sqlite://{}", dir.join("s.db").display());
    // Each tenant's report recipients; the connectors listen to an event no test makes.
    let mail = |name: &str, tenant: &str, to: &str| {
        format!(
            "  - name: {name}\n    tenant: {tenant}\n    events: [\"release.rolled_back\"]\n    timeout_ms: 5000\n    smtp:\n      host: localhost\n      port: {port}\n      tls: starttls\n      ca_file: {}\n      from: \"cavra <cavra@cavra.example>\"\n      to: [{to}]\n      allowed_recipients: [\"@{tenant}.example\"]\n",
            pki.ca_file.display()
        )
    };
    let config = dir.join("cavra-server.yaml");
    std::fs::write(
        &config,
        format!(
            "readiness:\n  require_validations: false\nconnectors:\n{}{}",
            mail("acme-mail", "acme", "sec@acme.example"),
            mail("beta-mail", "beta", "soc@beta.example")
        ),
    )
    .expect("config");
    for t in ["acme", "beta"] {
        ok(cli(&db).args(["tenant", "create", t]));
    }
    let agent = token(&db, "acme", "agent");
    let acme = token(&db, "acme", "auditor");
    let beta = token(&db, "beta", "auditor");
    let token_file = |t: &str, v: &str| {
        let p = dir.join(format!("{t}.token"));
        std::fs::write(&p, v).expect("token file");
        p
    };
    let (acme_file, beta_file) = (token_file("acme", &acme), token_file("beta", &beta));

    let keys = dir.join("keys");
    for id in ["ops", "release"] {
        ok(cli(&db).args(["keys", "generate", "--key-id", id, "--output", s(&keys)]));
    }
    let trust = dir.join("trust.json");
    trust_add(&db, &trust, &keys, "ops");
    trust_add(&db, &trust, &keys, "release");
    let ops = keys.join("ops.key");
    let (archive, release_record) = release(&db, dir, &keys.join("release.key"), &trust);

    let mut serve =
        support::service::serve(&db, &[std::ffi::OsStr::new("--config"), config.as_os_str()]);
    serve.keep_reading();
    let url = serve.url.clone();
    let mut outcomes = std::collections::BTreeMap::<String, u64>::new();
    for (i, cmd) in ["ls", "rm -rf /", "make deploy-prod", "git status"]
        .iter()
        .enumerate()
    {
        let (status, d) = http(
            &url,
            &agent,
            "POST",
            "/v1/decisions",
            &json!({"request": {"action": "execute_command", "target": cmd,
                "session_id": format!("s-{i}"), "agent_id": "claude-code"}}),
        );
        assert_eq!(status, 200, "{d}");
        *outcomes
            .entry(d["decision"].as_str().expect("decision").to_string())
            .or_default() += 1;
    }
    let records = dir.join("records");
    let review = |args: &[&str]| {
        let mut c = cli(&db);
        c.arg("review").args(args).args(["--sign-key", s(&ops)]);
        c
    };

    // 1. Publication: the archive is the released one.
    let publication = records.join("publication.json");
    let stdout = ok(&mut review(&[
        "publication",
        "--release-record",
        s(&release_record),
        "--artifact",
        s(&archive),
        "--trust-root",
        s(&trust),
        "--output",
        s(&publication),
    ]));
    assert!(stdout.starts_with("publication PASSED"), "{stdout}");
    let (code, v) = verify(&db, &publication, &trust, &["--step", "publication"]);
    assert_eq!((code, &v["verified"]), (0, &json!(true)), "{v}");

    // 2. Activation for the first tenants, through the service with each tenant's token.
    let activation = records.join("activation.json");
    let stdout = ok(&mut review(&[
        "activation",
        "--server",
        &url,
        "--token-file",
        s(&acme_file),
        "--token-file",
        s(&beta_file),
        "--output",
        s(&activation),
        "--json",
    ]));
    let w: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(w["passed"], true, "{w}");
    assert_eq!(verify(&db, &activation, &trust, &[]).0, 0);

    // 3. The report of the last two days, from the service's figures.
    let report_dir = records.join("report");
    let stdout = ok(review(&[
        "report",
        "--server",
        &url,
        "--period",
        "2d",
        "--output",
        s(&report_dir),
    ])
    .env("CAVRA_TOKEN", &acme));
    assert!(stdout.starts_with("report PASSED"), "{stdout}");
    let figures: Value = serde_json::from_str(
        &std::fs::read_to_string(report_dir.join("report.json")).expect("json"),
    )
    .expect("figures");
    assert_eq!(figures["tenant"], "acme");
    assert_eq!(figures["posture"]["decisions"]["total"], 4, "{figures}");
    assert_eq!(
        figures["posture"]["decisions"]["by_decision"],
        json!(outcomes)
    );
    assert_eq!(figures["days"].as_array().map(Vec::len), Some(2));
    let ruled: u64 = figures["top_rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["decisions"].as_u64())
        .sum();
    assert_eq!(ruled, 4, "every decision counted under its rule: {figures}");
    let html = std::fs::read_to_string(report_dir.join("report.html")).expect("html");
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(!html.contains("<script"));
    let md = std::fs::read_to_string(report_dir.join("report.md")).expect("md");
    for (outcome, n) in &outcomes {
        assert!(md.contains(&format!("| {outcome} | {n} |")), "{md}");
    }
    let report_record = report_dir.join("report.record.json");
    assert_eq!(
        verify(&db, &report_record, &trust, &["--max-age", "1h"]).0,
        0
    );

    // The report goes to acme's recipients, never through beta's connector.
    let send = |connector: Option<&str>| {
        let mut c = cli(&db);
        c.args([
            "review",
            "send",
            "--config",
            s(&config),
            "--tenant",
            "acme",
            "--subject",
            "Operating review acme",
            "--text",
            s(&report_dir.join("report.md")),
            "--attach",
            s(&report_dir.join("report.html")),
            "--attach",
            s(&report_record),
        ]);
        if let Some(name) = connector {
            c.args(["--connector", name]);
        }
        out(&mut c)
    };
    let (code, stdout, stderr) = send(None);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{stdout}");
    assert_eq!(mails[0].to, ["sec@acme.example"]);
    assert_eq!(
        attachment(&mails[0].data, "report.html").expect("the page"),
        html.as_bytes()
    );
    let (code, _, stderr) = send(Some("beta-mail"));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not tenant acme's"), "{stderr}");
    assert_eq!(smtp.mails().len(), 1, "nothing went to beta's recipients");

    // A record changed after signing is refused by name.
    let tampered = dir.join("tampered.json");
    let text = std::fs::read_to_string(&activation).expect("record");
    let mut env: Value = serde_json::from_str(&text).expect("envelope");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut payload: Value = serde_json::from_slice(
        &b64.decode(env["payload"].as_str().expect("p"))
            .expect("b64"),
    )
    .expect("payload");
    payload["record"]["tenants"] = json!(["acme"]);
    env["payload"] = json!(b64.encode(payload.to_string()));
    std::fs::write(&tampered, env.to_string()).expect("write");
    let (code, v) = verify(&db, &tampered, &trust, &[]);
    assert_eq!((code, v["reason"].as_str()), (1, Some("tampered")), "{v}");

    // 4. The drill: the release key is compromised.
    let drill_dir = dir.join("drill");
    let stdout = ok(&mut review(&[
        "drill",
        "--trust-root",
        s(&trust),
        "--compromised",
        "release",
        "--new-key-id",
        "release-2027",
        "--new-key-dir",
        s(&dir.join("new-keys")),
        "--output",
        s(&drill_dir),
        s(&release_record),
        s(&publication),
    ]));
    assert!(stdout.starts_with("drill PASSED"), "{stdout}");
    let rotated = drill_dir.join("trust-root.json");
    ok(cli(&db).args([
        "release",
        "verify",
        s(&drill_dir.join("resigned/0.1.0.release.json")),
        "--trust-root",
        s(&rotated),
        "--artifact",
        s(&archive),
    ]));
    let (code, _, stderr) = out(cli(&db).args([
        "release",
        "verify",
        s(&release_record),
        "--trust-root",
        s(&rotated),
    ]));
    assert_ne!(code, 0, "the revoked key's record is refused: {stderr}");
    std::fs::copy(
        drill_dir.join("drill.record.json"),
        records.join("drill.json"),
    )
    .expect("copy");

    // 5. The closeout of the period's records, and 6. the status.
    let closeout = dir.join("closeout");
    let stdout = ok(&mut review(&[
        "closeout",
        s(&records),
        "--trust-root",
        s(&trust),
        "--output",
        s(&closeout),
    ]));
    assert!(stdout.starts_with("closeout PASSED"), "{stdout}");
    let (code, v) = verify(&db, &closeout, &trust, &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["contents"].as_array().map(Vec::len), Some(7), "{v}");
    std::fs::write(closeout.join("report/report.md"), "# edited\n").expect("edit");
    let (code, v) = verify(&db, &closeout, &trust, &[]);
    assert_eq!((code, v["reason"].as_str()), (1, Some("tampered")), "{v}");
    std::fs::write(
        closeout.join("report/report.md"),
        std::fs::read(report_dir.join("report.md")).expect("md"),
    )
    .expect("restore");

    let status = dir.join("status.json");
    let stdout = ok(&mut review(&[
        "status",
        s(&records),
        s(&closeout),
        "--trust-root",
        s(&trust),
        "--output",
        s(&status),
    ]));
    assert!(stdout.starts_with("status PASSED"), "{stdout}");
    let summary = std::fs::read_to_string(dir.join("status.md")).expect("summary");
    for step in ["publication", "activation", "report", "drill", "closeout"] {
        assert!(
            summary.contains(&format!("| {step} | passed |")),
            "{summary}"
        );
    }
    assert_eq!(verify(&db, &status, &trust, &["--step", "status"]).0, 0);
}

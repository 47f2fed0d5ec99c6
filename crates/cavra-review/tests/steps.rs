//! Each step of the operating review chain on its own, offline: the record it signs verifies
//! with the one packet verifier, and a tampered, unsigned, untrusted or stale record fails
//! with its named reason. The report's pages and the mail to the tenant's recipients are in
//! tests/report.rs and tests/mail.rs; the whole chain against `cavra serve` is
//! crates/cavra/tests/review.rs.

use std::path::{Path, PathBuf};

use cavra_evidence::trust::{KeyRecord, TrustRoot};
use cavra_review::verify::{self, Checks, Outcome};
use cavra_review::{Step, Written};
use cavra_runtime::keyfiles::{self, LogSigner};

/// A folder with keys `ops` and `release`, both in one trust root valid since 2020.
struct Bed {
    dir: tempfile::TempDir,
    trust: PathBuf,
}

impl Bed {
    fn new() -> Bed {
        let dir = tempfile::tempdir().expect("tmp");
        let mut root = TrustRoot::default();
        for id in ["ops", "release", "stranger"] {
            let g = keyfiles::generate(&dir.path().join("keys"), id).expect("key");
            if id == "stranger" {
                continue;
            }
            let vk = keyfiles::read_public(&g.public_key).expect("pub");
            let from = time::OffsetDateTime::from_unix_timestamp(1_577_836_800).expect("2020");
            root.add(KeyRecord::new(id, "ops", &vk, from, None).expect("record"))
                .expect("add");
        }
        let trust = dir.path().join("trust.json");
        cavra_runtime::trust_file::write(&trust, &root).expect("trust");
        Bed { dir, trust }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn signer(&self, id: &str) -> LogSigner {
        keyfiles::signer(&self.path(&format!("keys/{id}.key")), None).expect("signer")
    }

    fn verify(&self, path: &Path) -> Outcome {
        verify::path(path, &self.trust, &Checks::default()).expect("readable")
    }
}

fn git(dir: &Path, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .status()
        .expect("git")
        .success();
    assert!(ok, "git {args:?}");
}

/// A release record of `artifact` made by `cavra_release`, as `cavra release record` does.
fn release(bed: &Bed, artifact: &Path) -> PathBuf {
    let repo = bed.path("repo");
    std::fs::create_dir_all(&repo).expect("repo");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("a"), "a").expect("file");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "a"]);
    let trust = cavra_runtime::trust_file::read(&bed.trust).expect("trust");
    let inputs = cavra_release::record::ReleaseInputs {
        version: "1.0.0",
        artifacts: &[artifact.to_path_buf()],
        repo: &repo,
        from: None,
        to: "HEAD",
        attestations: &[],
        require_checks: false,
        signed_at: &cavra_server::now_text(),
    };
    let signed = cavra_release::record::record_release(&inputs, &trust, &bed.signer("release"))
        .expect("release record");
    let path = bed.path("1.0.0.release.json");
    std::fs::write(&path, signed.to_file_text()).expect("write");
    path
}

fn publication(bed: &Bed, record: &Path, artifacts: &[PathBuf], out: &str) -> Written {
    let inputs = cavra_review::publication::Inputs {
        release_record: record,
        artifacts,
        trust_root: &bed.trust,
    };
    cavra_review::publication::run(&inputs, &bed.signer("ops"), &bed.path(out)).expect("runs")
}

/// Rewrites one field of a signed record's payload without re-signing it.
fn tamper(path: &Path, to: &Path) {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut env: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    let payload = b64
        .decode(env["payload"].as_str().expect("payload"))
        .expect("base64");
    let mut p: serde_json::Value = serde_json::from_slice(&payload).expect("payload json");
    p["record"]["passed"] = serde_json::json!(true);
    p["record"]["problems"] = serde_json::json!([]);
    p["record"]["body"]["note"] = serde_json::json!("changed after signing");
    env["payload"] = serde_json::json!(b64.encode(serde_json::to_vec(&p).expect("bytes")));
    std::fs::write(to, env.to_string()).expect("write");
}

#[test]
fn publication_passes_for_the_released_artefact_and_fails_for_a_changed_one() {
    let bed = Bed::new();
    let art = bed.path("cavra-1.0.0.tar");
    std::fs::write(&art, "the released bytes").expect("artefact");
    let record = release(&bed, &art);

    let w = publication(
        &bed,
        &record,
        std::slice::from_ref(&art),
        "publication.json",
    );
    assert!(w.passed, "{:?}", w.problems);
    assert_eq!(w.exit_code(), 0);
    let o = bed.verify(&w.record);
    assert!(o.verified, "{}", o.detail);
    assert_eq!(o.step, Some(Step::Publication));

    // The published file is not the released one: recorded as failed, verifies as blockers_open.
    let changed = bed.path("other/cavra-1.0.0.tar");
    std::fs::create_dir_all(changed.parent().expect("dir")).expect("dir");
    std::fs::write(&changed, "other bytes").expect("artefact");
    let w = publication(&bed, &record, &[changed], "publication-bad.json");
    assert!(!w.passed);
    assert_eq!(w.exit_code(), 4);
    assert!(
        w.problems.iter().any(|p| p.contains("digest mismatch")),
        "{:?}",
        w.problems
    );
    let o = bed.verify(&w.record);
    assert_eq!(
        o.reason.map(|r| r.as_str()),
        Some("blockers_open"),
        "{}",
        o.detail
    );
    assert_eq!(o.exit_code(), 1);

    // An unsigned release record: the publication fails, naming it.
    let text = std::fs::read_to_string(&record).expect("record");
    let env = cavra_evidence::dsse::Envelope::from_json(&text).expect("env");
    let mut unsigned = env.clone();
    unsigned.signatures.clear();
    let bare = bed.path("unsigned.release.json");
    std::fs::write(&bare, unsigned.to_json()).expect("write");
    let w = publication(&bed, &bare, &[art], "publication-unsigned.json");
    assert!(!w.passed);
    assert!(
        w.problems.iter().any(|p| p.starts_with("release record:")),
        "{:?}",
        w.problems
    );
}

#[test]
fn a_record_fails_by_name_when_tampered_unsigned_untrusted_stale_or_of_another_step() {
    let bed = Bed::new();
    let art = bed.path("cavra.tar");
    std::fs::write(&art, "bytes").expect("artefact");
    let record = release(&bed, &art);
    let w = publication(&bed, &record, &[art], "publication.json");
    assert!(bed.verify(&w.record).verified);

    let reason = |p: &Path, checks: &Checks| {
        let o = verify::path(p, &bed.trust, checks).expect("readable");
        o.reason
            .map(|r| r.as_str().to_string())
            .unwrap_or_else(|| "verified".into())
    };
    let any = Checks::default();

    let tampered = bed.path("tampered.json");
    tamper(&w.record, &tampered);
    assert_eq!(reason(&tampered, &any), "tampered");

    let text = std::fs::read_to_string(&w.record).expect("read");
    let mut env = cavra_evidence::dsse::Envelope::from_json(&text).expect("env");
    env.signatures.clear();
    let unsigned = bed.path("unsigned.json");
    std::fs::write(&unsigned, env.to_json()).expect("write");
    assert_eq!(reason(&unsigned, &any), "unsigned");

    let record = cavra_review::Record::new(Step::Report, vec![], serde_json::json!({}));
    let text = cavra_review::sign_record(&bed.signer("stranger"), None, &record).expect("sign");
    let untrusted = bed.path("untrusted.json");
    std::fs::write(&untrusted, text).expect("write");
    assert_eq!(reason(&untrusted, &any), "untrusted_key");

    let old = bed.path("old.json");
    {
        // Signed "two days ago": a packet's time is what the signature covers.
        let mut p = cavra_server::packet::Packet::review_record(
            "ops",
            None,
            serde_json::to_value(&record).expect("value"),
        );
        p.signed_at =
            cavra_server::format_time(time::OffsetDateTime::now_utc() - time::Duration::days(2));
        std::fs::write(&old, p.sign(&bed.signer("ops").key).expect("sign")).expect("write");
    }
    let day = Checks {
        max_age: Some(time::Duration::days(1)),
        step: None,
    };
    assert_eq!(reason(&old, &any), "verified");
    assert_eq!(reason(&old, &day), "stale");

    let drill_only = Checks {
        max_age: None,
        step: Some(Step::Drill),
    };
    assert_eq!(reason(&w.record, &drill_only), "invalid");
    let garbage = bed.path("garbage.json");
    std::fs::write(&garbage, "{not json").expect("write");
    assert_eq!(reason(&garbage, &any), "invalid");
}

#[test]
fn activation_records_the_gate_and_verifies_only_without_blockers() {
    let bed = Bed::new();
    let db = format!("sqlite://{}", bed.path("s.db").display());
    let open = |yaml: &str| {
        let mut c = cavra_server::ServerConfig::from_yaml(yaml, "test").expect("config");
        c.database_url = db.clone();
        c
    };
    let strict = open("{}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let d = cavra_server::admin::open(&strict).await.expect("db");
        for t in ["acme", "beta"] {
            cavra_server::admin::create_tenant(&d, t, None)
                .await
                .expect("tenant");
        }
    });
    let tenants = vec!["acme".to_string(), "beta".to_string()];
    // A fresh deployment has no validation recorded: blockers for both tenants.
    let source = cavra_review::activation::Source::Database {
        config: &strict,
        tenants: &tenants,
    };
    let w = cavra_review::activation::run(&source, &bed.signer("ops"), &bed.path("act.json"))
        .expect("runs");
    assert!(!w.passed);
    assert!(
        w.problems
            .iter()
            .any(|p| p.contains("tenants.isolation_validation (acme)")),
        "{:?}",
        w.problems
    );
    assert!(
        w.problems.iter().any(|p| p.contains("(beta)")),
        "{:?}",
        w.problems
    );
    let o = bed.verify(&w.record);
    assert_eq!(
        o.reason.map(|r| r.as_str()),
        Some("blockers_open"),
        "{}",
        o.detail
    );

    let bed_config = open("readiness:\n  require_validations: false\n");
    let source = cavra_review::activation::Source::Database {
        config: &bed_config,
        tenants: &tenants,
    };
    let w = cavra_review::activation::run(&source, &bed.signer("ops"), &bed.path("act2.json"))
        .expect("runs");
    assert!(w.passed, "{:?}", w.problems);
    let o = bed.verify(&w.record);
    assert!(o.verified, "{}", o.detail);
    let v = verify::record(
        &std::fs::read_to_string(&w.record).expect("read"),
        &cavra_runtime::trust_file::read(&bed.trust).expect("trust"),
        &Checks::default(),
    )
    .expect("verifies");
    assert_eq!(v.record.tenants, tenants);
}

/// Records of `n` steps signed by `key`, as files in `dir`.
fn records(bed: &Bed, key: &str, dir: &str) -> Vec<PathBuf> {
    let folder = bed.path(dir);
    std::fs::create_dir_all(&folder).expect("dir");
    [Step::Publication, Step::Activation, Step::Report]
        .iter()
        .map(|s| {
            let r = cavra_review::Record::new(*s, vec![], serde_json::json!({"n": 1}));
            let path = folder.join(format!("{}.json", s.as_str()));
            std::fs::write(
                &path,
                cavra_review::sign_record(&bed.signer(key), None, &r).expect("sign"),
            )
            .expect("write");
            path
        })
        .collect()
}

#[test]
fn the_drill_revokes_rotates_resigns_and_reverifies() {
    let bed = Bed::new();
    let mut past = records(&bed, "release", "past");
    let art = bed.path("cavra.tar");
    std::fs::write(&art, "bytes").expect("artefact");
    // The release record (in-toto, `cavra release record`) the compromised key signed.
    past.push(release(&bed, &art));
    let mut given = past.clone();
    given.extend(records(&bed, "ops", "other"));
    let out = bed.path("drill");
    let inputs = cavra_review::drill::Inputs {
        trust_root: &bed.trust,
        compromised: "release",
        new_key_id: "release-2027",
        owner: "release",
        records: &given[..5],
        key_dir: &bed.path("new-keys"),
        output: &out,
    };
    let before = std::fs::read(&bed.trust).expect("trust");
    let w = cavra_review::drill::run(&inputs, &bed.signer("ops")).expect("drill");
    assert!(w.passed, "{:?}", w.problems);
    assert_eq!(
        std::fs::read(&bed.trust).expect("trust"),
        before,
        "the trust root in use is read only"
    );
    // The drill's record verifies under the trust root in use.
    assert!(bed.verify(&w.record).verified);

    let rotated = out.join("trust-root.json");
    let check = |p: &Path| verify::path(p, &rotated, &Checks::default()).expect("readable");
    for p in &past[..3] {
        let old = check(p);
        assert_eq!(
            old.reason.map(|r| r.as_str()),
            Some("untrusted_key"),
            "{}",
            old.detail
        );
        let again = check(&out.join("resigned").join(p.file_name().expect("name")));
        assert!(again.verified, "{}", again.detail);
        assert_eq!(again.key_id.as_deref(), Some("release-2027"));
    }
    // Signed by a key that was not revoked: still good after the rotation, not re-signed.
    assert!(check(&given[4]).verified);
    let rotated_root = cavra_runtime::trust_file::read(&rotated).expect("rotated");
    let old = std::fs::read_to_string(&past[3]).expect("release record");
    let e = cavra_release::record::verify(&old, &rotated_root, &[]).expect_err("revoked");
    assert!(e.to_string().contains("revoked"), "{e}");
    let again =
        std::fs::read_to_string(out.join("resigned/1.0.0.release.json")).expect("re-signed");
    let v = cavra_release::record::verify(&again, &rotated_root, std::slice::from_ref(&art))
        .expect("verifies");
    assert_eq!(v.signed_by, "release-2027");
    let v = verify::record(
        &std::fs::read_to_string(&w.record).expect("read"),
        &cavra_runtime::trust_file::read(&bed.trust).expect("trust"),
        &Checks::default(),
    )
    .expect("verifies");
    assert_eq!(v.record.body["resigned"], 4);
    assert_eq!(
        v.record.body["records"][3]["after_revocation"],
        "untrusted_key"
    );
    assert_eq!(
        v.record.body["records"][0]["after_revocation"],
        "untrusted_key"
    );

    // The drill is recorded by another key than the one it revokes.
    let inputs = cavra_review::drill::Inputs {
        output: &bed.path("drill2"),
        key_dir: &bed.path("new-keys2"),
        ..inputs
    };
    let e = cavra_review::drill::run(&inputs, &bed.signer("release")).expect_err("refused");
    assert!(e.to_string().contains("another key"), "{e}");
}

#[test]
fn a_closeout_bundle_verifies_whole_and_fails_on_a_changed_extra_or_missing_file() {
    let bed = Bed::new();
    let recs = records(&bed, "ops", "period");
    std::fs::write(bed.path("period/report.md"), "# report\n").expect("md");
    let trust = cavra_runtime::trust_file::read(&bed.trust).expect("trust");
    let out = bed.path("closeout");
    let w = cavra_review::closeout::run(&[bed.path("period")], &trust, &bed.signer("ops"), &out)
        .expect("closeout");
    assert!(w.passed, "{:?}", w.problems);
    let o = bed.verify(&out);
    assert!(o.verified, "{}", o.detail);
    assert_eq!(o.contents.len(), 4, "{:?}", o.contents);

    let reason = |dir: &Path| bed.verify(dir).reason.map(|r| r.as_str().to_string());
    let copy = |name: &str| {
        let to = bed.path(name);
        std::fs::create_dir_all(&to).expect("dir");
        for e in std::fs::read_dir(&out).expect("read") {
            let p = e.expect("entry").path();
            std::fs::copy(&p, to.join(p.file_name().expect("n"))).expect("copy");
        }
        to
    };
    let changed = copy("changed");
    std::fs::write(changed.join("report.md"), "# a different report\n").expect("write");
    assert_eq!(reason(&changed).as_deref(), Some("tampered"));
    let extra = copy("extra");
    std::fs::write(extra.join("smuggled.json"), "{}").expect("write");
    assert_eq!(reason(&extra).as_deref(), Some("tampered"));
    let missing = copy("missing");
    std::fs::remove_file(missing.join("report.json")).expect("rm");
    assert_eq!(reason(&missing).as_deref(), Some("tampered"));
    let unsigned = copy("no-manifest");
    std::fs::remove_file(unsigned.join(cavra_review::closeout::MANIFEST)).expect("rm");
    assert_eq!(reason(&unsigned).as_deref(), Some("unsigned"));
    // A record in the bundle re-signed by an untrusted key with the manifest's digest kept
    // cannot happen without changing the bytes: that is the digest check above. A record that
    // did not verify at closeout is a problem of the closeout itself.
    let bad = bed.path("bad");
    std::fs::create_dir_all(&bad).expect("dir");
    tamper(&recs[0], &bad.join("publication.json"));
    let w = cavra_review::closeout::run(
        &[bad],
        &trust,
        &bed.signer("ops"),
        &bed.path("closeout-bad"),
    )
    .expect("closeout");
    assert!(!w.passed);
    assert!(w.problems[0].contains("tampered"), "{:?}", w.problems);
}

#[test]
fn the_status_names_each_step_passed_failed_or_missing() {
    let bed = Bed::new();
    let dir = bed.path("recs");
    records(&bed, "ops", "recs");
    let failed = cavra_review::Record::new(
        Step::Drill,
        vec!["nothing re-signed".into()],
        serde_json::json!({}),
    );
    std::fs::write(
        dir.join("drill.json"),
        cavra_review::sign_record(&bed.signer("ops"), None, &failed).expect("sign"),
    )
    .expect("write");
    let stranger = cavra_review::Record::new(Step::Closeout, vec![], serde_json::json!({}));
    std::fs::write(
        dir.join("closeout.json"),
        cavra_review::sign_record(&bed.signer("stranger"), None, &stranger).expect("sign"),
    )
    .expect("write");
    let trust = cavra_runtime::trust_file::read(&bed.trust).expect("trust");
    let found = cavra_review::status::states(std::slice::from_ref(&dir), &trust).expect("states");
    let (states, unverified) = (found.steps, found.unverified);
    let state = |s: Step| {
        states
            .iter()
            .find(|x| x.step == s)
            .map(|x| x.state.as_str())
    };
    assert_eq!(state(Step::Publication), Some("passed"));
    assert_eq!(state(Step::Report), Some("passed"));
    assert_eq!(state(Step::Drill), Some("failed"));
    assert_eq!(state(Step::Closeout), Some("missing"));
    assert_eq!(unverified.len(), 1, "{unverified:?}");
    assert!(unverified[0].ends_with("untrusted_key"), "{unverified:?}");

    let out = bed.path("status.json");
    let w = cavra_review::status::run(&[dir], &trust, &bed.signer("ops"), &out).expect("status");
    assert!(!w.passed);
    assert_eq!(w.exit_code(), 4);
    let md = std::fs::read_to_string(bed.path("status.md")).expect("md");
    assert!(md.contains("| drill | failed |"), "{md}");
    assert!(md.contains("| closeout | missing |"), "{md}");
    assert!(md.contains("nothing re-signed"), "{md}");
    assert_eq!(
        bed.verify(&out).reason.map(|r| r.as_str()),
        Some("blockers_open")
    );
}

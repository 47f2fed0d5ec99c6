//! Release and rollback records on a real git repository: what they bind, that they verify
//! offline, and that tampered, unsigned or untrusted records and changed artefacts fail.

mod support;

use cavra_release::record::{self, Record};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        std::fs::write(repo.join(name), format!("{i}\n")).unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", name]);
        if *name == "a" {
            git(&repo, &["tag", "v1"]);
        }
    }
    repo
}

fn artefact(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn a_release_record_binds_artefacts_to_commits_and_verifies_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let k = key(dir, "release-2026");
    let trust = trust_root(&dir.join("trust.json"), &[&k]);
    let repo = repo(dir);
    let tar = artefact(dir, "cavra.tar.gz", "archive bytes");
    let sbom = artefact(dir, "sbom.cdx.json", "{}");
    let inputs = record::ReleaseInputs {
        version: "2.0.0",
        artifacts: &[tar.clone(), sbom.clone()],
        repo: &repo,
        from: Some("v1"),
        to: "HEAD",
        attestations: &[],
        require_checks: false,
        signed_at: "2026-06-01T00:00:00Z",
    };
    let signed = record::record_release(&inputs, &trust, &k.signer).unwrap();
    let text = signed.to_file_text();
    let v = record::verify(&text, &trust, &[tar.clone(), sbom.clone()]).unwrap();
    assert_eq!(v.signed_by, "release-2026");
    assert_eq!(v.artifacts_checked, ["cavra.tar.gz", "sbom.cdx.json"]);
    let Record::Release(p) = &v.record else {
        panic!("a release")
    };
    assert_eq!(p.version, "2.0.0");
    assert_eq!(p.commit, git(&repo, &["rev-parse", "HEAD"]));
    assert_eq!(p.commits.len(), 2, "the commits after v1");
    assert_eq!(
        p.unchecked.len(),
        2,
        "no attestation: every commit unchecked"
    );

    // --require-checks refuses a release with unchecked commits, naming them.
    let strict = record::ReleaseInputs {
        require_checks: true,
        ..inputs
    };
    let err = record::record_release(&strict, &trust, &k.signer).unwrap_err();
    assert!(err.to_string().contains("no passing CI check"), "{err}");

    // An attestation that does not verify is refused, naming the file.
    let forged = artefact(dir, "attestation.json", &text);
    let with_bad = record::ReleaseInputs {
        attestations: &[forged],
        require_checks: false,
        ..strict
    };
    let err = record::record_release(&with_bad, &trust, &k.signer).unwrap_err();
    assert!(err.to_string().contains("attestation.json"), "{err}");

    // A changed artefact.
    std::fs::write(&tar, "other bytes").unwrap();
    let err = record::verify(&text, &trust, std::slice::from_ref(&tar)).unwrap_err();
    assert!(
        err.to_string()
            .contains("artefact cavra.tar.gz: digest mismatch"),
        "{err}"
    );
    let stranger = artefact(dir, "unknown.bin", "x");
    let err = record::verify(&text, &trust, &[stranger]).unwrap_err();
    assert!(err.to_string().contains("not named by the record"), "{err}");

    // A tampered record: the payload edited.
    let mut env: serde_json::Value = serde_json::from_str(&text).unwrap();
    let payload = env["payload"].as_str().unwrap().to_string();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let stmt = String::from_utf8(b64.decode(&payload).unwrap()).unwrap();
    env["payload"] = serde_json::json!(b64.encode(stmt.replace("2.0.0", "2.0.1")));
    let err = record::verify(&env.to_string(), &trust, &[]).unwrap_err();
    assert!(err.to_string().contains("signature"), "{err}");

    // Unsigned.
    let mut unsigned: serde_json::Value = serde_json::from_str(&text).unwrap();
    unsigned["signatures"] = serde_json::json!([]);
    let err = record::verify(&unsigned.to_string(), &trust, &[]).unwrap_err();
    assert!(err.to_string().contains("missing signature"), "{err}");

    // Signed by a key the verifier does not trust.
    let other = key(dir, "other");
    let other_trust = trust_root(&dir.join("other.json"), &[&other]);
    let err = record::verify(&text, &other_trust, &[]).unwrap_err();
    assert!(err.to_string().contains("untrusted key"), "{err}");

    // Not a record at all.
    assert!(record::verify("{}", &trust, &[]).is_err());
}

#[test]
fn a_rollback_names_both_releases_and_the_reason_redacted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let k = key(dir, "release-2026");
    let trust = trust_root(&dir.join("trust.json"), &[&k]);
    let repo = repo(dir);
    let records = dir.join("records");
    std::fs::create_dir_all(&records).unwrap();
    for (version, to, content) in [("1.0.0", "v1", "old"), ("1.1.0", "HEAD", "new")] {
        let art = artefact(dir, "cavra.tar.gz", content);
        let signed = record::record_release(
            &record::ReleaseInputs {
                version,
                artifacts: &[art],
                repo: &repo,
                from: None,
                to,
                attestations: &[],
                require_checks: false,
                signed_at: "2026-06-01T00:00:00Z",
            },
            &trust,
            &k.signer,
        )
        .unwrap();
        std::fs::write(
            records.join(record::record_file_name(version)),
            signed.to_file_text(),
        )
        .unwrap();
    }
    let rollback = |from: &str, to: &str, reason: &str| {
        record::record_rollback(
            &record::RollbackInputs {
                from,
                to,
                reason,
                actor: "alice",
                from_record: &records.join(record::record_file_name(from)),
                to_record: &records.join(record::record_file_name(to)),
                signed_at: "2026-06-02T00:00:00Z",
            },
            &trust,
            &k.signer,
        )
    };
    let signed = rollback(
        "1.1.0",
        "1.0.0",
        "error rate up; password=hunter2 was in the log",
    )
    .unwrap();
    let v = record::verify(&signed.to_file_text(), &trust, &[]).unwrap();
    let Record::Rollback(p) = &v.record else {
        panic!("a rollback")
    };
    assert_eq!(
        (p.from.as_str(), p.to.as_str(), p.actor.as_str()),
        ("1.1.0", "1.0.0", "alice")
    );
    assert!(!p.reason.contains("hunter2"), "{}", p.reason);
    assert!(p.reason.contains("error rate up"), "{}", p.reason);
    // The subjects: both release records and the artefact rolled back to.
    let names: Vec<&str> = v.subjects.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "release-record/1.1.0",
            "release-record/1.0.0",
            "cavra.tar.gz"
        ]
    );
    let old = artefact(dir, "cavra.tar.gz", "old");
    record::verify(&signed.to_file_text(), &trust, &[old]).unwrap();

    // A release with no record, a tampered record, no reason: refused.
    assert!(
        rollback("1.1.0", "0.9.0", "x")
            .unwrap_err()
            .to_string()
            .contains("0.9.0")
    );
    let path = records.join(record::record_file_name("1.0.0"));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"sig\":\"", "\"sig\":\"AAAA", 1)).unwrap();
    let err = rollback("1.1.0", "1.0.0", "x").unwrap_err();
    assert!(err.to_string().contains("1.0.0.release.json"), "{err}");
    std::fs::write(&path, text).unwrap();
    assert!(rollback("1.1.0", "1.0.0", "  ").is_err());
    assert!(rollback("1.1.0", "1.1.0", "x").is_err());
}

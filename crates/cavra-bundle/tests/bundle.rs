//! Bundles written from a real store and verified offline; any change makes verification fail.

use cavra_bundle::{
    BundleOptions, ExportFormat, Selection, VerifyOptions, export_entries, export_to_file,
    verify_bundle, write_bundle,
};
use cavra_evidence::keys;
use cavra_evidence::trust::{KeyRecord, TrustRoot};
use cavra_store::{EntryFilter, LogSigner, NewApproval, NewDecision, Store};
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use time::macros::datetime;

const POLICY: &str = r#"{"metadata":{"id":"test"}}"#;

fn policy_digest() -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(POLICY.as_bytes())))
}

fn signer(seed: u8, id: &str) -> LogSigner {
    LogSigner {
        key_id: id.into(),
        key: keys::from_seed(&[seed; 32]),
    }
}

fn trust_of(keys_: &[(u8, &str)]) -> TrustRoot {
    let mut t = TrustRoot::default();
    for (seed, id) in keys_ {
        t.add(
            KeyRecord::new(
                *id,
                "tests",
                &keys::from_seed(&[*seed; 32]).verifying_key(),
                datetime!(2020-01-01 0:00 UTC),
                None,
            )
            .expect("record"),
        )
        .expect("add");
    }
    t
}

fn trust() -> TrustRoot {
    trust_of(&[(1, "log"), (2, "bundle")])
}

fn decision(i: usize, session: &str, word: &str) -> NewDecision {
    NewDecision {
        decision_id: format!("d{i}"),
        session_id: Some(session.into()),
        agent: Some("claude-code".into()),
        action_type: cavra_store::ActionType::ExecuteCommand.into(),
        decision: word.parse().expect("a decision word"),
        rule_id: "r".into(),
        timestamp: format!("2026-01-02T03:{:02}:00.000Z", i % 60)
            .parse()
            .unwrap(),
        fingerprint: format!("fp{i}"),
        extra: cavra_store::ToolCall {
            cwd: Some("/repo".into()),
            tool_use_id: Some(format!("toolu_{i}")),
            record: serde_json::json!({
                "decision_id": format!("d{i}"),
                "target": format!("terraform apply {i}"),
                "reason": "infrastructure changes need a person",
                "rule_id": "commands.block",
                "policy_digest": policy_digest(),
            }),
        },
    }
}

/// A store with 30 decisions in two sessions, an approval, and a bundle of session s1.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = Store::open_repo(dir.path()).expect("open");
    s.set_log_signer(Box::new(|| Ok(signer(1, "log"))));
    s.checkpoint_every(8);
    s.record_policy(
        &policy_digest(),
        "builtin:test",
        POLICY,
        "2026-01-02T00:00:00.000Z",
    )
    .expect("policy");
    for i in 0..30 {
        let word = ["allow", "block", "require_approval"][i % 3];
        s.record_decision(&decision(i, if i % 2 == 0 { "s1" } else { "s2" }, word))
            .expect("decision");
    }
    s.create_approval(&NewApproval {
        decision_id: "d2".into(),
        fingerprint: "fp2".into(),
        session_id: Some("s1".into()),
        approver_group: "Platform".into(),
        requested_by: "claude-code:s1".into(),
        summary: "terraform apply 2".into(),
        id: cavra_store::new_approval_id(),
        requested_at: cavra_store::Timestamp::at(datetime!(2026-01-02 04:00 UTC)).unwrap(),
        expires_at: cavra_store::Timestamp::at(
            datetime!(2026-01-02 04:00 UTC)
                + time::Duration::try_from(std::time::Duration::from_secs(600)).unwrap(),
        )
        .unwrap(),
    })
    .expect("approval");
    let out = dir.path().join("bundle");
    let log = signer(1, "log");
    let bundle_key = signer(2, "bundle");
    let written = write_bundle(
        &mut s,
        &out,
        BundleOptions {
            selection: Selection {
                session_id: Some("s1".into()),
                ..Default::default()
            },
            sign: Some(&bundle_key),
            log_signer: Some(&log),
            retention_days: 365,
            legal_hold: false,
            created_at: datetime!(2026-01-03 00:00 UTC),
            progress: None,
        },
    )
    .expect("bundle");
    assert_eq!(written.entries, 16); // 15 decisions + 1 approval
    assert_eq!(written.tree_size, 31);
    (dir, out)
}

fn verify(out: &Path) -> cavra_bundle::VerifyReport {
    verify_bundle(out, &trust(), &VerifyOptions::default())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

fn files_of(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read").flatten() {
        if e.file_type().expect("type").is_dir() {
            out.extend(files_of(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out.sort();
    out
}

#[test]
fn a_real_bundle_verifies_and_says_what_it_holds() {
    let (_dir, out) = setup();
    let report = verify(&out);
    assert!(report.ok(), "{:?}", report.failures);
    assert_eq!(report.entries, 16);
    assert_eq!(report.signed_by.as_deref(), Some("bundle"));
    assert_eq!(report.decisions.get("block"), Some(&5));
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary");
    assert!(summary.contains("| block | 5 |"), "{summary}");
    assert!(summary.contains("terraform apply"), "{summary}");
    assert!(
        summary.contains("## Actions routed for approval (5)"),
        "{summary}"
    );
    let names: Vec<String> = files_of(&out)
        .iter()
        .map(|p| {
            p.strip_prefix(&out)
                .expect("inside")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(names.contains(&format!("policies/{}.json", &policy_digest()[7..])));
    let approvals = std::fs::read_to_string(out.join("approvals.jsonl")).expect("approvals");
    assert_eq!(approvals.lines().count(), 1);
    // The checkpoint alone is trusted through the log key as well as the bundle key.
    let only_log = trust_of(&[(1, "log")]);
    let r = verify_bundle(&out, &only_log, &VerifyOptions::default());
    assert!(
        r.failures.iter().any(|f| f.starts_with("untrusted key")),
        "{:?}",
        r.failures
    );
}

#[test]
fn named_failures() {
    let (dir, out) = setup();
    let case = |name: &str, change: &dyn Fn(&Path)| -> Vec<String> {
        let copy = dir.path().join(name);
        copy_dir(&out, &copy);
        change(&copy);
        let r = verify(&copy);
        assert!(!r.ok(), "{name}: verified after the change");
        r.failures
    };
    let f = case("flip", &|d| {
        let p = d.join("entries.jsonl");
        let mut b = std::fs::read(&p).expect("read");
        b[10] ^= 1;
        std::fs::write(&p, b).expect("write");
    });
    assert!(
        f.contains(&"checksum mismatch: entries.jsonl".to_string()),
        "{f:?}"
    );
    let f = case("extra", &|d| {
        std::fs::write(d.join("notes.txt"), "hi").expect("write")
    });
    assert!(
        f.contains(&"unexpected file: notes.txt".to_string()),
        "{f:?}"
    );
    let f = case("missing", &|d| {
        std::fs::remove_file(d.join("summary.md")).expect("rm")
    });
    assert!(f.contains(&"missing file: summary.md".to_string()), "{f:?}");
    let f = case("unsigned", &|d| {
        std::fs::remove_file(d.join("bundle.dsse.json")).expect("rm")
    });
    assert!(
        f.contains(&"missing signature: bundle.dsse.json".to_string()),
        "{f:?}"
    );
    // --allow-unsigned accepts the missing signature but still checks everything else.
    let copy = dir.path().join("unsigned-ok");
    copy_dir(&out, &copy);
    std::fs::remove_file(copy.join("bundle.dsse.json")).expect("rm");
    let r = verify_bundle(
        &copy,
        &trust(),
        &VerifyOptions {
            allow_unsigned: true,
            ..Default::default()
        },
    );
    assert!(r.ok(), "{:?}", r.failures);
    // Revoked bundle key.
    let mut revoked = trust();
    revoked
        .revoke("bundle", "leaked", datetime!(2026-06-01 0:00 UTC))
        .expect("revoke");
    let r = verify_bundle(&out, &revoked, &VerifyOptions::default());
    assert!(
        r.failures.contains(&"key revoked: bundle".to_string()),
        "{:?}",
        r.failures
    );
    // Retired key: the bundle was signed inside its validity, so it still verifies.
    let mut retired = trust();
    retired
        .retire("bundle", "rotated", datetime!(2026-06-01 0:00 UTC))
        .expect("retire");
    let r = verify_bundle(&out, &retired, &VerifyOptions::default());
    assert!(r.ok(), "{:?}", r.failures);
    assert_eq!(r.key_status.as_deref(), Some("retired"));
    // Retired before the bundle was made: refused.
    let mut early = trust();
    early
        .retire("bundle", "rotated", datetime!(2026-01-01 0:00 UTC))
        .expect("retire");
    let r = verify_bundle(&out, &early, &VerifyOptions::default());
    assert!(
        r.failures
            .iter()
            .any(|f| f.starts_with("key not valid at signing time: bundle")),
        "{:?}",
        r.failures
    );
    // Required key id.
    let r = verify_bundle(
        &out,
        &trust(),
        &VerifyOptions {
            key_id: Some("log".into()),
            ..Default::default()
        },
    );
    assert!(!r.ok());
    // Retention minimum.
    let r = verify_bundle(
        &out,
        &trust(),
        &VerifyOptions {
            minimum_retention_days: Some(400),
            ..Default::default()
        },
    );
    assert!(
        r.failures
            .contains(&"retention too short: 365 days, at least 400 required".to_string()),
        "{:?}",
        r.failures
    );
}

/// Rewrites the manifest's hashes after a change, as an attacker without the key would, and
/// re-signs with an untrusted key: the signature check must fail.
fn forge(d: &Path, untrusted_key: bool) {
    let manifest_path = d.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).expect("read")).expect("json");
    for f in manifest["files"].as_array_mut().expect("files") {
        let bytes = std::fs::read(d.join(f["path"].as_str().expect("path"))).expect("file");
        f["sha256"] = hex::encode(Sha256::digest(&bytes)).into();
        f["size"] = bytes.len().into();
    }
    let bytes = format!(
        "{}\n",
        serde_json::to_string_pretty(&manifest).expect("json")
    );
    std::fs::write(&manifest_path, &bytes).expect("write");
    if untrusted_key {
        let env: cavra_evidence::dsse::Envelope = cavra_evidence::dsse::Envelope::from_json(
            &std::fs::read_to_string(d.join("bundle.dsse.json")).expect("sig"),
        )
        .expect("env");
        let mut statement: cavra_evidence::intoto::Statement =
            serde_json::from_slice(&env.payload_bytes().expect("payload")).expect("statement");
        statement.subject = vec![cavra_evidence::intoto::Subject::sha256_of(
            "manifest.json",
            bytes.as_bytes(),
        )];
        let mut forged = cavra_evidence::dsse::Envelope::new(
            cavra_evidence::intoto::PAYLOAD_TYPE,
            &statement.to_canonical_bytes(),
        );
        forged
            .add_signature(&keys::from_seed(&[66; 32]), "bundle")
            .expect("sign");
        std::fs::write(d.join("bundle.dsse.json"), forged.to_json()).expect("write");
    }
}

#[test]
fn reordered_or_resigned_bundles_fail() {
    let (dir, out) = setup();
    // Swap two entry lines and fix the manifest: the signed manifest no longer matches.
    let copy = dir.path().join("reordered");
    copy_dir(&out, &copy);
    let p = copy.join("entries.jsonl");
    let text = std::fs::read_to_string(&p).expect("read");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(1, 2);
    std::fs::write(&p, lines.join("\n") + "\n").expect("write");
    forge(&copy, false);
    let r = verify(&copy);
    assert!(!r.ok());
    assert!(
        r.failures.iter().any(|f| f.contains("reordered")),
        "{:?}",
        r.failures
    );
    // The same, re-signed by an untrusted key claiming the trusted key id.
    forge(&copy, true);
    let r = verify(&copy);
    assert!(
        r.failures.iter().any(|f| f.starts_with("untrusted key")),
        "{:?}",
        r.failures
    );
    // An entry dropped, manifest and signature forged: the signature and the Merkle proof fail.
    let copy = dir.path().join("dropped");
    copy_dir(&out, &copy);
    let p = copy.join("entries.jsonl");
    let text = std::fs::read_to_string(&p).expect("read");
    let kept: Vec<&str> = text.lines().skip(1).collect();
    std::fs::write(&p, kept.join("\n") + "\n").expect("write");
    forge(&copy, true);
    let r = verify(&copy);
    assert!(
        r.failures.iter().any(|f| f.starts_with("merkle proof")),
        "{:?}",
        r.failures
    );
}

#[test]
fn export_formats() {
    let (dir, _) = setup();
    let s = Store::open_repo(dir.path()).expect("open");
    for (format, check) in [
        (ExportFormat::Jsonl, "\"format\":\"cavra-log-entry/v1\""),
        (ExportFormat::SplunkHec, "\"sourcetype\":\"cavra:decision\""),
        (ExportFormat::Ocsf, "\"class_uid\":6003"),
    ] {
        let mut out = Vec::new();
        let n = export_entries(&s, &EntryFilter::default(), format, &mut out).expect("export");
        assert_eq!(n, 31);
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(text.lines().count(), 31);
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).expect("each line is JSON");
        }
        assert!(text.contains(check), "{format:?}");
    }
}

#[test]
fn an_export_file_is_written_whole_and_a_failed_one_names_its_file() {
    let (dir, _) = setup();
    let s = Store::open_repo(dir.path()).expect("open");
    let out = dir.path().join("export.jsonl");
    let n = export_to_file(&s, &EntryFilter::default(), ExportFormat::Jsonl, &out).expect("export");
    assert_eq!(n, 31);
    let mut direct = Vec::new();
    export_entries(
        &s,
        &EntryFilter::default(),
        ExportFormat::Jsonl,
        &mut direct,
    )
    .expect("export");
    assert_eq!(std::fs::read(&out).expect("written"), direct);
    assert!(!out.with_extension("partial").exists());
    let nowhere = dir.path().join("no-such-folder").join("export.jsonl");
    let e = export_to_file(&s, &EntryFilter::default(), ExportFormat::Jsonl, &nowhere)
        .expect_err("no folder");
    assert!(e.to_string().starts_with("writing "), "{e}");
    assert!(e.to_string().contains("export.partial"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Any single byte of any file changed: verification fails.
    #[test]
    fn any_flipped_byte_fails(file_pick in any::<usize>(), byte_pick in any::<usize>(), bit in 0u8..8) {
        let (dir, out) = SETUP.with(|s| s.clone());
        let _keep = dir;
        let files = files_of(&out);
        let target = &files[file_pick % files.len()];
        let copy = tempfile::tempdir().expect("tmp");
        copy_dir(&out, copy.path());
        let rel = target.strip_prefix(&out).expect("inside");
        let p = copy.path().join(rel);
        let mut b = std::fs::read(&p).expect("read");
        let at = byte_pick % b.len();
        b[at] ^= 1 << bit;
        std::fs::write(&p, b).expect("write");
        let r = verify(copy.path());
        prop_assert!(!r.ok(), "flipping byte {at} bit {bit} of {rel:?} went unnoticed");
    }
}

thread_local! {
    static SETUP: (std::sync::Arc<tempfile::TempDir>, PathBuf) = {
        let (dir, out) = setup();
        (std::sync::Arc::new(dir), out)
    };
}

/// The two files the checksums cannot cover — the signature and the manifest it signs — are
/// checked byte by byte: every single-byte change must fail. (Every other file is covered by
/// its checksum in the signed manifest; the property test above flips bytes there.)
#[test]
fn every_byte_of_the_signature_and_manifest_matters() {
    let (dir, out) = setup();
    let copy = dir.path().join("exhaustive");
    copy_dir(&out, &copy);
    for name in ["bundle.dsse.json", "manifest.json"] {
        let original = std::fs::read(out.join(name)).expect("read");
        for at in 0..original.len() {
            for mask in [0x01u8, 0x80] {
                let mut b = original.clone();
                b[at] ^= mask;
                std::fs::write(copy.join(name), &b).expect("write");
                let r = verify(&copy);
                assert!(!r.ok(), "{name}: byte {at} ^ {mask:#x} went unnoticed");
            }
        }
        std::fs::write(copy.join(name), &original).expect("restore");
        assert!(verify(&copy).ok());
    }
}

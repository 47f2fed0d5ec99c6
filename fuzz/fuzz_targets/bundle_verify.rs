//! Fuzzes everything that reads evidence from outside: DSSE envelopes, trust roots,
//! checkpoints, manifests, proofs and whole bundles. Arbitrary bytes must give an error or a
//! verdict — never a panic — and a bundle with any file replaced by other bytes must never
//! verify.
#![no_main]

use cavra_bundle::{verify_bundle, BundleOptions, Selection, VerifyOptions};
use cavra_evidence::checkpoint::Checkpoint;
use cavra_evidence::dsse::Envelope;
use cavra_evidence::keys;
use cavra_evidence::trust::{KeyRecord, TrustRoot};
use cavra_store::{LogSigner, NewDecision, Store};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

const FILES: [&str; 9] = [
    "entries.jsonl",
    "proof.json",
    "checkpoint.dsse.json",
    "approvals.jsonl",
    "summary.md",
    "retention.json",
    "manifest.json",
    "bundle.dsse.json",
    "policies/extra.json",
];

struct Fixture {
    _dir: tempfile::TempDir,
    bundle: PathBuf,
    trust: TrustRoot,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tmp");
        let signer = LogSigner { key_id: "k".into(), key: keys::from_seed(&[7; 32]) };
        let mut trust = TrustRoot::default();
        trust
            .add(KeyRecord::new("k", "fuzz", &signer.key.verifying_key(), time::OffsetDateTime::UNIX_EPOCH, None).expect("record"))
            .expect("add");
        let mut store = Store::open_repo(dir.path()).expect("store");
        for i in 0..5 {
            store
                .record_decision(&NewDecision {
                    decision_id: format!("d{i}"),
                    session_id: Some("s".into()),
                    agent: None,
                    cwd: None,
                    tool_use_id: None,
                    action_type: "execute_command".into(),
                    decision: "block".into(),
                    rule_id: "r".into(),
                    timestamp: "2026-01-01T00:00:00.000Z".into(),
                    fingerprint: format!("f{i}"),
                    record: serde_json::json!({"target": format!("rm -rf {i}")}),
                })
                .expect("record");
        }
        let bundle = dir.path().join("bundle");
        cavra_bundle::write_bundle(
            &mut store,
            &bundle,
            BundleOptions {
                selection: Selection::default(),
                sign: Some(&signer),
                log_signer: Some(&signer),
                retention_days: 30,
                legal_hold: false,
                created_at: time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20000),
                progress: None,
            },
        )
        .expect("bundle");
        Fixture { _dir: dir, bundle, trust }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let f = fixture();
    let text = String::from_utf8_lossy(rest);
    match selector % 4 {
        0 => {
            if let Ok(env) = Envelope::from_json(&text) {
                let _ = f.trust.verify(&env, "application/vnd.in-toto+json", None, &|_| Some("2026-01-01T00:00:00Z".into()));
                let _ = Checkpoint::open(&env, &f.trust);
            }
        }
        1 => {
            let _ = TrustRoot::from_json(&text);
        }
        2 => {
            let _ = Checkpoint::from_payload(rest);
        }
        _ => {
            // Replace one file of a valid bundle with the input: it must not verify (unless the
            // input is exactly the original content).
            let Some((&which, content)) = rest.split_first() else { return };
            let name = FILES[usize::from(which) % FILES.len()];
            let copy = tempfile::tempdir().expect("tmp");
            copy_dir(&f.bundle, copy.path());
            let target = copy.path().join(name);
            let original = std::fs::read(&target).ok();
            if let Some(parent) = target.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            std::fs::write(&target, content).expect("write");
            let report = verify_bundle(copy.path(), &f.trust, &VerifyOptions::default());
            if original.as_deref() != Some(content) {
                assert!(!report.ok(), "{name} replaced by {content:?} still verifies");
            }
        }
    }
});

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read").flatten() {
        let target = to.join(e.file_name());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

//! The evidence log kept by the store: every record becomes a redacted, hashed entry; checkpoints
//! are signed; verification notices any change, removal or untrusted signature.

use cavra_evidence::keys;
use cavra_evidence::merkle::{leaf_hash, root};
use cavra_evidence::trust::{KeyRecord, TrustRoot};
use cavra_store::{EntryFilter, LogSigner, NewApproval, NewDecision, Outcome, Store};
use proptest::prelude::*;
use rusqlite::{Connection, params};
use std::time::Duration;
use time::macros::datetime;

fn decision(i: usize, session: &str) -> NewDecision {
    NewDecision {
        decision_id: format!("d{i}"),
        session_id: Some(session.into()),
        agent: Some("claude-code".into()),
        action_type: cavra_store::ActionType::ExecuteCommand.into(),
        decision: if i.is_multiple_of(3) {
            cavra_store::Decision::Block
        } else {
            cavra_store::Decision::Allow
        },
        rule_id: "commands.allow".into(),
        timestamp: format!("2026-01-02T03:04:{:02}.000Z", i % 60)
            .parse()
            .unwrap(),
        fingerprint: format!("fp{i}"),
        extra: cavra_store::ToolCall {
            cwd: Some("/repo".into()),
            tool_use_id: Some(format!("toolu_{i}")),
            record: serde_json::json!({"decision_id": format!("d{i}"), "target": format!("ls {i}")}),
        },
    }
}

fn signer(seed: u8) -> LogSigner {
    LogSigner {
        key_id: format!("log-{seed}"),
        key: keys::from_seed(&[seed; 32]),
    }
}

fn trust(seed: u8) -> TrustRoot {
    let mut t = TrustRoot::default();
    t.add(
        KeyRecord::new(
            format!("log-{seed}"),
            "tests",
            &keys::from_seed(&[seed; 32]).verifying_key(),
            datetime!(2020-01-01 0:00 UTC),
            None,
        )
        .expect("record"),
    )
    .expect("add");
    t
}

fn store_with_signer(dir: &tempfile::TempDir, every: u64) -> Store {
    let mut s = Store::open_repo(dir.path()).expect("open");
    s.set_log_signer(Box::new(|| Ok(signer(1))));
    s.checkpoint_every(every);
    s
}

fn raw(dir: &tempfile::TempDir) -> Connection {
    Connection::open(dir.path().join(".cavra/cavra.db")).expect("raw open")
}

#[test]
fn every_record_is_an_entry_and_the_log_verifies() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = store_with_signer(&dir, 4);
    for i in 0..10 {
        s.record_decision(&decision(i, "s1")).expect("decision");
    }
    s.record_outcome(&Outcome {
        tool_use_id: Some("toolu_1".into()),
        decision_id: None,
        session_id: Some("s1".into()),
        success: Some(true),
        sha256: Some("ab".repeat(32)),
        path: Some("src/main.rs".into()),
        timestamp: "2026-01-02T03:05:00.000Z".parse().unwrap(),
    })
    .expect("outcome");
    let now = datetime!(2026-01-02 03:05:00 UTC);
    let a = s
        .create_approval(&NewApproval {
            decision_id: "d2".into(),
            fingerprint: "fp2".into(),
            session_id: Some("s1".into()),
            approver_group: "Platform".into(),
            requested_by: "claude-code:s1".into(),
            summary: "write_file iam/role.tf".into(),
            id: cavra_store::new_approval_id(),
            requested_at: cavra_store::Timestamp::at(now).unwrap(),
            expires_at: cavra_store::Timestamp::at(
                now + time::Duration::try_from(Duration::from_secs(600)).unwrap(),
            )
            .unwrap(),
        })
        .expect("approval");
    s.approve(&a.id, "alice", "reviewed", now).expect("approve");
    s.consume_approval("fp2", "claude-code:s1", now)
        .expect("consume");

    let entries = s.log_entries(&EntryFilter::default()).expect("entries");
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.len(), 14);
    assert_eq!(
        &kinds[10..],
        ["outcome", "approval", "approval", "approval"]
    );
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.index, i as u64);
        assert_eq!(leaf_hash(&e.bytes), e.leaf_hash);
        let v: serde_json::Value = serde_json::from_slice(&e.bytes).expect("json");
        // Canonical: re-encoding gives the same bytes.
        assert_eq!(cavra_evidence::canonical::to_canonical_bytes(&v), e.bytes);
        assert_eq!(v["index"], i as u64);
    }
    let (_, size, head) = s.log_state().expect("state");
    assert_eq!(size, 14);
    let leaves: Vec<_> = entries.iter().map(|e| e.leaf_hash).collect();
    assert_eq!(head, root(&leaves));
    assert_eq!(s.leaf_hashes(14).expect("leaves"), leaves);
    // Checkpoints at 4, 8 and 12 entries.
    let cps: Vec<u64> = s
        .checkpoints()
        .expect("cps")
        .iter()
        .map(|c| c.checkpoint.tree_size)
        .collect();
    assert_eq!(cps, [4, 8, 12]);
    let report = s.verify_log(Some(&trust(1))).expect("verify");
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.entries, 14);
    assert_eq!(report.signatures_verified, 3);
    // Session filter.
    let s1 = s
        .log_entries(&EntryFilter {
            session_id: Some("s1".into()),
            ..Default::default()
        })
        .expect("s1");
    assert_eq!(s1.len(), 14);
}

#[test]
fn secrets_never_reach_the_log() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut s = store_with_signer(&dir, 64);
    let token = format!("ghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY2z4A");
    let mut d = decision(1, "s1");
    d.extra.record = serde_json::json!({"target": format!("curl -H 'Authorization: token {token}' https://api.github.com")});
    s.record_decision(&d).expect("decision");
    let e = &s.log_entries(&EntryFilter::default()).expect("entries")[0];
    let text = String::from_utf8_lossy(&e.bytes);
    assert!(!text.contains(&token), "{text}");
    assert!(text.contains("REDACTED"), "{text}");
    let v: serde_json::Value = serde_json::from_slice(&e.bytes).expect("json");
    assert_eq!(v["redactions"][0]["pointer"], "/body/record/target");
    assert!(s.verify_log(Some(&trust(1))).expect("verify").ok());
}

#[test]
fn changes_removals_and_untrusted_checkpoints_are_found() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let mut s = store_with_signer(&dir, 5);
        for i in 0..12 {
            s.record_decision(&decision(i, "s1")).expect("decision");
        }
        assert!(s.verify_log(Some(&trust(1))).expect("verify").ok());
    }
    let check = |what: &str, sql: &str| {
        let copy = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(copy.path().join(".cavra")).expect("dir");
        raw(&dir)
            .execute(
                "VACUUM INTO ?1",
                params![copy.path().join(".cavra/cavra.db").to_string_lossy()],
            )
            .expect("copy");
        raw(&copy).execute_batch(sql).expect(what);
        let s = Store::open_repo(copy.path()).expect("open copy");
        let report = s.verify_log(Some(&trust(1))).expect("verify");
        assert!(!report.ok(), "{what} went unnoticed");
        report.problems.join("; ")
    };
    // The entry's text changed, its stored hash kept: the hash no longer matches.
    let p = check(
        "edit",
        "UPDATE log_entries SET entry = replace(entry, 'ls 3', 'ls 4') WHERE idx = 3",
    );
    assert!(p.contains("entry 3: content does not match"), "{p}");
    // Text and hash both rewritten: the signed checkpoint's tree head no longer matches.
    let p = check(
        "rewrite",
        "UPDATE log_entries SET entry = replace(entry, 'ls 3', 'ls 4') WHERE idx = 3;
         UPDATE log_entries SET leaf_hash = (SELECT leaf_hash FROM log_entries WHERE idx = 4) WHERE idx = 3",
    );
    assert!(p.contains("checkpoint of size 5: tree head differs"), "{p}");
    // The tail cut off (and the state row adjusted to match): the checkpoint of size 10 is gone.
    let p = check(
        "truncate",
        "DELETE FROM log_entries WHERE idx >= 7; UPDATE log_meta SET size = 7",
    );
    assert!(p.contains("beyond the log"), "{p}");
    // An entry removed from the middle.
    let p = check("hole", "DELETE FROM log_entries WHERE idx = 2");
    assert!(p.contains("entry 2 is missing"), "{p}");
    // Two entries swapped.
    let p = check(
        "swap",
        "UPDATE log_entries SET idx = -1 WHERE idx = 1; UPDATE log_entries SET idx = 1 WHERE idx = 2; UPDATE log_entries SET idx = 2 WHERE idx = -1",
    );
    assert!(p.contains("embedded index differs"), "{p}");
    // A checkpoint re-signed by another key: untrusted.
    let forged = {
        let cp = cavra_evidence::checkpoint::Checkpoint::from_payload(
            &cavra_evidence::dsse::Envelope::from_json(
                &raw(&dir)
                    .query_row(
                        "SELECT envelope FROM checkpoints WHERE tree_size = 5",
                        [],
                        |r| r.get::<_, String>(0),
                    )
                    .expect("cp"),
            )
            .expect("env")
            .payload_bytes()
            .expect("payload"),
        )
        .expect("checkpoint");
        cp.sign(&keys::from_seed(&[9; 32])).to_json()
    };
    let p = check(
        "forged checkpoint",
        &format!(
            "UPDATE checkpoints SET envelope = '{}' WHERE tree_size = 5",
            forged.replace('\'', "''")
        ),
    );
    assert!(p.contains("untrusted key"), "{p}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn any_changed_byte_of_any_entry_is_found(n in 1usize..40, pick in any::<usize>(), byte in any::<usize>(), bit in 0u8..8) {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let mut s = store_with_signer(&dir, 8);
            for i in 0..n {
                s.record_decision(&decision(i, "s1")).expect("decision");
            }
        }
        let idx = (pick % n) as i64;
        let conn = raw(&dir);
        let mut bytes: Vec<u8> = conn.query_row("SELECT entry FROM log_entries WHERE idx = ?1", params![idx], |r| r.get(0)).expect("entry");
        let at = byte % bytes.len();
        bytes[at] ^= 1 << bit;
        conn.execute("UPDATE log_entries SET entry = ?2 WHERE idx = ?1", params![idx, bytes]).expect("update");
        drop(conn);
        let s = Store::open_repo(dir.path()).expect("open");
        prop_assert!(!s.verify_log(Some(&trust(1))).expect("verify").ok());
    }
}

//! The store: decisions and sessions, outcomes, and the approval life cycle with a test clock.

use cavra_store::{
    ApprovalRoute, ApprovalState, DecisionFilter, NewApproval, NewDecision, Outcome, Store,
    StoreError,
};
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::datetime;

fn t0() -> OffsetDateTime {
    datetime!(2026-01-02 03:04:05 UTC)
}

fn decision(id: &str, session: &str, decision: &str, fp: &str) -> NewDecision {
    NewDecision {
        decision_id: id.into(),
        session_id: Some(session.into()),
        agent: Some("claude-code".into()),
        action_type: cavra_store::ActionType::ExecuteCommand.into(),
        decision: decision.parse().expect("a decision word"),
        rule_id: "commands.block".into(),
        timestamp: "2026-01-02T03:04:05.000Z".parse().unwrap(),
        fingerprint: fp.into(),
        extra: cavra_store::ToolCall {
            cwd: Some("/repo".into()),
            tool_use_id: Some(format!("toolu_{id}")),
            record: serde_json::json!({"decision_id": id, "decision": decision}),
        },
    }
}

/// An approval asked for at [`t0`], open for `ttl`, with a new id.
fn new_approval(fp: &str, ttl: Duration) -> NewApproval {
    let at = cavra_store::Timestamp::at(t0()).unwrap();
    NewApproval {
        id: cavra_store::new_approval_id(),
        requested_at: at,
        expires_at: at
            .checked_add(time::Duration::try_from(ttl).unwrap())
            .unwrap(),
        decision_id: "d1".into(),
        fingerprint: fp.into(),
        session_id: Some("s1".into()),
        approver_group: "Platform".into(),
        requested_by: "claude-code:s1".into(),
        summary: "write_file iam/role.tf".into(),
    }
}

#[test]
fn decisions_sessions_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open_repo(dir.path()).unwrap();
    assert!(dir.path().join(".cavra/.gitignore").exists());
    assert_eq!(s.schema_version().unwrap(), 4);
    s.record_decision(&decision("d1", "s1", "allow", "fp1"))
        .unwrap();
    s.record_decision(&decision("d2", "s1", "block", "fp2"))
        .unwrap();
    s.record_decision(&decision("d3", "s2", "require_approval", "fp3"))
        .unwrap();
    let all = s.decisions(&DecisionFilter::default()).unwrap();
    assert_eq!(
        all.iter()
            .map(|d| d.decision_id.as_str())
            .collect::<Vec<_>>(),
        ["d3", "d2", "d1"]
    );
    let blocked = s
        .decisions(&DecisionFilter {
            decision: Some(cavra_store::Decision::Block),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].record["decision_id"], "d2");
    // Keyset pagination: what was recorded before a given decision.
    let page = |before: &str| {
        s.decisions(&DecisionFilter {
            before: Some(before.into()),
            limit: Some(1),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|d| d.decision_id)
        .collect::<Vec<_>>()
    };
    assert_eq!(page("d3"), ["d2"]);
    assert_eq!(page("d2"), ["d1"]);
    assert!(page("d1").is_empty());
    assert!(page("unknown").is_empty());
    let s1 = s.session("s1").unwrap().unwrap();
    assert_eq!((s1.decisions, s1.blocked, s1.approvals), (2, 1, 0));
    assert_eq!(s.sessions().unwrap().len(), 2);
    let o = s
        .record_outcome(&Outcome {
            tool_use_id: Some("toolu_d1".into()),
            decision_id: None,
            session_id: Some("s1".into()),
            success: Some(true),
            sha256: Some("sha256:abc".into()),
            path: Some("/repo/a".into()),
            timestamp: "2026-01-02T03:04:06.000Z".parse().unwrap(),
        })
        .unwrap();
    assert_eq!(o.decision_id.as_deref(), Some("d1"));
    assert_eq!(s.session("s1").unwrap().unwrap().outcomes, 1);
    assert_eq!(s.decision("d2").unwrap().unwrap().fingerprint, "fp2");
    assert!(s.decision("nope").unwrap().is_none());
    // Reopening keeps everything and does not migrate twice.
    drop(s);
    let s = Store::open_repo(dir.path()).unwrap();
    assert_eq!(s.decision_count().unwrap(), 3);
    assert_eq!(s.integrity_check().unwrap(), "ok");
}

/// A repository's store lists the decisions whose record names a repository.
#[test]
fn decisions_by_repository() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open_repo(dir.path()).unwrap();
    for (id, repo) in [
        ("d1", Some("acme/app")),
        ("d2", None),
        ("d3", Some("acme/app")),
        ("d4", Some("acme/infra")),
    ] {
        let mut d = decision(id, "s1", "allow", id);
        if let Some(r) = repo {
            d.extra.record["repository"] = serde_json::json!(r);
        }
        s.record_decision(&d).unwrap();
    }
    let in_repo = |r: &str| {
        s.decisions(&DecisionFilter {
            repository: Some(r.into()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|d| d.decision_id)
        .collect::<Vec<_>>()
    };
    assert_eq!(in_repo("acme/app"), ["d3", "d1"]);
    assert_eq!(in_repo("acme/infra"), ["d4"]);
    assert!(in_repo("acme/other").is_empty());
}

#[test]
fn approval_unlocks_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("x.db")).unwrap();
    let a = s
        .create_approval(&new_approval("fp", Duration::from_secs(3600)))
        .unwrap();
    assert_eq!(a.state, ApprovalState::Pending);
    assert!(a.id.starts_with("apr_"));
    // Nothing unlocks while pending.
    assert!(s.consume_approval("fp", "hook", t0()).unwrap().is_none());
    // The requester cannot approve.
    let e = s.approve(&a.id, "claude-code:s1", "ok", t0()).unwrap_err();
    assert!(matches!(e, StoreError::SelfApproval { .. }), "{e}");
    // A reason is required.
    assert!(matches!(
        s.approve(&a.id, "alice", " ", t0()).unwrap_err(),
        StoreError::Empty(_)
    ));
    let a = s
        .approve(
            &a.id,
            "alice",
            "reviewed the role",
            t0() + time::Duration::minutes(1),
        )
        .unwrap();
    assert_eq!(a.state, ApprovalState::Approved);
    assert_eq!(a.decided_by.as_deref(), Some("alice"));
    // Another fingerprint is not unlocked.
    assert!(s.consume_approval("other", "hook", t0()).unwrap().is_none());
    let used = s
        .consume_approval("fp", "hook", t0() + time::Duration::minutes(2))
        .unwrap()
        .unwrap();
    assert_eq!(used.state, ApprovalState::Consumed);
    assert!(
        s.consume_approval("fp", "hook", t0() + time::Duration::minutes(3))
            .unwrap()
            .is_none()
    );
    let stored = s.approval(&a.id).unwrap().unwrap();
    let states: Vec<_> = stored.history.iter().map(|h| h.state).collect();
    assert_eq!(
        states,
        [
            ApprovalState::Pending,
            ApprovalState::Approved,
            ApprovalState::Consumed
        ]
    );
    // A consumed approval cannot be approved again.
    assert!(matches!(
        s.approve(&a.id, "bob", "again", t0()).unwrap_err(),
        StoreError::WrongState { .. }
    ));
}

#[test]
fn denied_and_expired_unlock_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("x.db")).unwrap();
    let d = s
        .create_approval(&new_approval("fp-d", Duration::from_secs(3600)))
        .unwrap();
    s.deny(&d.id, "alice", "no", t0()).unwrap();
    assert!(s.consume_approval("fp-d", "hook", t0()).unwrap().is_none());
    assert_eq!(
        s.open_approval("fp-d", t0()).unwrap().unwrap().state,
        ApprovalState::Denied
    );

    // Approved, then its expiry passes before use.
    let e = s
        .create_approval(&new_approval("fp-e", Duration::from_secs(60)))
        .unwrap();
    s.approve(&e.id, "alice", "ok", t0()).unwrap();
    assert!(
        s.consume_approval("fp-e", "hook", t0() + time::Duration::minutes(2))
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.approval(&e.id).unwrap().unwrap().state,
        ApprovalState::Expired
    );

    // Pending past its expiry: cannot be approved; `expire` marks it.
    let p = s
        .create_approval(&new_approval("fp-p", Duration::from_secs(60)))
        .unwrap();
    let late = t0() + time::Duration::minutes(5);
    assert!(matches!(
        s.approve(&p.id, "alice", "ok", late).unwrap_err(),
        StoreError::Expired(_)
    ));
    assert_eq!(
        s.approval(&p.id).unwrap().unwrap().state,
        ApprovalState::Expired
    );
    let q = s
        .create_approval(&new_approval("fp-q", Duration::from_secs(60)))
        .unwrap();
    assert_eq!(s.expire(late).unwrap(), vec![q.id.clone()]);
    assert_eq!(s.approvals(Some(ApprovalState::Expired)).unwrap().len(), 3);
    assert!(s.approve("apr_missing", "a", "b", t0()).is_err());
}

#[test]
fn state_words_round_trip() {
    for st in ApprovalState::ALL {
        assert_eq!(st.as_str().parse::<ApprovalState>().unwrap(), st);
    }
    assert!(
        "nope"
            .parse::<ApprovalState>()
            .unwrap_err()
            .contains("pending")
    );
}

#[test]
fn the_wal_stays_bounded_across_processes() {
    // Every hook call is a new connection that closes without checkpointing; the log must not
    // grow without bound, and nothing may be lost.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let wal = dir.path().join("x.db-wal");
    let big = "x".repeat(20_000);
    for i in 0..120 {
        let mut s = Store::open(&path).unwrap();
        let mut d = decision(&format!("d{i}"), "s", "allow", "fp");
        d.extra.record = serde_json::json!({ "pad": big });
        s.record_decision(&d).unwrap();
        let size = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        assert!(
            size <= cavra_store::WAL_LIMIT_BYTES + 256 * 1024,
            "WAL grew to {size} bytes"
        );
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.decision_count().unwrap(), 120);
    assert_eq!(s.integrity_check().unwrap(), "ok");
}

#[test]
fn mcp_registry_round_trips_and_pins_keep_the_first_digest() {
    use cavra_engine::{McpServerEntry, ServerApproval, ToolCapability, TrustTier};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = cavra_store::Store::open(&dir.path().join("s.db")).expect("open");
    assert!(store.mcp_registry().expect("registry").is_empty());
    let mut e = McpServerEntry::new("github", TrustTier::Trusted, ServerApproval::Approved);
    e.allowed_tools = vec!["list_*".into()];
    e.capabilities = vec![ToolCapability::Repository];
    e.owner = Some("platform".into());
    store
        .put_mcp_server(&e, Some("alice"), "2026-01-01T00:00:00.000Z")
        .expect("put");
    assert_eq!(store.mcp_server("github").expect("get"), Some(e.clone()));
    e.trust_tier = TrustTier::Blocked;
    store
        .put_mcp_server(&e, Some("bob"), "2026-01-02T00:00:00.000Z")
        .expect("replace");
    let reg = store.mcp_registry().expect("registry");
    assert_eq!(reg.servers.len(), 1);
    assert_eq!(
        reg.server("github").map(|s| s.trust_tier),
        Some(TrustTier::Blocked)
    );
    assert!(store.remove_mcp_server("github").expect("rm"));
    assert!(!store.remove_mcp_server("github").expect("rm again"));

    let at = |t: &str| t.parse::<cavra_store::Timestamp>().expect("time");
    let first = store
        .pin_tool("s", "t", "sha256:aa", at("2026-01-01T00:00:00Z"))
        .expect("pin");
    let again = store
        .pin_tool("s", "t", "sha256:bb", at("2026-01-02T00:00:00Z"))
        .expect("pin again");
    assert_eq!(first, again);
    assert_eq!(again.digest, "sha256:aa");
    assert!(store.unpin_tool("s", "t").expect("unpin"));
    assert_eq!(store.tool_pin("s", "t").expect("pin"), None);

    // Commits without their own fsync, then one sync: nothing changes but durability, and the
    // evidence log still verifies.
    store.set_power_loss_durable(false).expect("normal");
    store
        .record_decision(&cavra_store::NewDecision {
            decision_id: "d-sync".into(),
            session_id: Some("s".into()),
            agent: None,
            action_type: cavra_store::ActionType::McpToolCall.into(),
            decision: cavra_store::Decision::Allow,
            rule_id: "mcp.registry.allowed".into(),
            timestamp: "2026-01-01T00:00:00.000Z".parse().unwrap(),
            fingerprint: "fp".into(),
            extra: cavra_store::ToolCall {
                cwd: None,
                tool_use_id: None,
                record: serde_json::json!({"decision_id": "d-sync"}),
            },
        })
        .expect("record");
    store.sync_durable().expect("sync");
    assert!(store.decision("d-sync").expect("read").is_some());
    assert!(store.verify_log(None).expect("verify").ok());
}

/// A question put to the person at the agent's prompt: recorded, closed by the tool's result,
/// never answered by an approver and never unlocking anything.
#[test]
fn agent_prompt_approvals_record_the_question_and_unlock_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open_repo(dir.path()).unwrap();
    let a = new_approval("fp", Duration::from_secs(600));
    let (asked, created) = s.ask_at_prompt(&a, Some("tu1")).unwrap();
    assert!(created);
    assert_eq!(asked.extra.route, ApprovalRoute::AgentPrompt);
    assert_eq!(asked.state, ApprovalState::Pending);
    // Asked again for the same tool call: the same approval.
    let (again, created) = s.ask_at_prompt(&a, Some("tu1")).unwrap();
    assert!(!created);
    assert_eq!(again.id, asked.id);
    // Approver lookups do not see it: it neither blocks nor unlocks the fingerprint.
    assert_eq!(s.open_approval("fp", t0()).unwrap(), None);
    assert!(matches!(
        s.approve(&asked.id, "bob", "ok", t0()),
        Err(StoreError::AnsweredAtPrompt(_))
    ));
    // Another tool call's result closes nothing.
    assert_eq!(
        s.answered_at_prompt(Some("tu2"), "alice", t0()).unwrap(),
        None
    );
    let closed = s
        .answered_at_prompt(Some("tu1"), "alice", t0())
        .unwrap()
        .unwrap();
    assert_eq!(closed.state, ApprovalState::Consumed);
    assert_eq!(closed.decided_by.as_deref(), Some("alice"));
    let stored = s.approval(&asked.id).unwrap().unwrap();
    assert_eq!(stored, closed);
    assert_eq!(
        stored.history.iter().map(|h| h.state).collect::<Vec<_>>(),
        [
            ApprovalState::Pending,
            ApprovalState::Approved,
            ApprovalState::Consumed
        ]
    );
    assert_eq!(
        s.consume_approval("fp", "claude-code:s1", t0()).unwrap(),
        None
    );
    // Unanswered: closed at expiry as declined or abandoned.
    let (late, _) = s
        .ask_at_prompt(&new_approval("fp", Duration::from_secs(600)), Some("tu3"))
        .unwrap();
    // Another call's result an hour later closes it.
    let later = t0() + time::Duration::hours(1);
    assert_eq!(s.answered_at_prompt(None, "alice", later).unwrap(), None);
    let late = s.approval(&late.id).unwrap().unwrap();
    assert_eq!(late.state, ApprovalState::Expired);
    let reason = late.history.last().and_then(|h| h.reason.clone()).unwrap();
    assert!(reason.contains("declined or abandoned"), "{reason}");
    assert_eq!(
        s.answered_at_prompt(Some("tu3"), "alice", t0()).unwrap(),
        None
    );
}

/// Every file under `dir`, for checking that a read creates nothing.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn read_only_open_reads_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // No store: an error, and no folder or file appears.
    let missing = cavra_store::store_path(dir.path());
    assert!(Store::open_read_only(&missing).is_err());
    assert!(files_under(dir.path()).is_empty());

    let mut s = Store::open_repo(dir.path()).unwrap();
    s.record_decision(&decision("d1", "s1", "block", "fp1"))
        .unwrap();
    drop(s);
    // With the write-ahead log kept between processes, and once it is folded into the file
    // and gone: both read the decision, and neither adds a file.
    for fold in [false, true] {
        if fold {
            let c = rusqlite::Connection::open(&missing).unwrap();
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .unwrap();
            drop(c);
            for side in ["-wal", "-shm"] {
                let mut p = missing.clone().into_os_string();
                p.push(side);
                let _ = std::fs::remove_file(p);
            }
        }
        let before = files_under(dir.path());
        let ro = Store::open_read_only(&missing).unwrap();
        let got = ro.decision("d1").unwrap().expect("recorded decision");
        assert_eq!(got.decision, cavra_store::Decision::Block);
        assert!(ro.verify_log(None).unwrap().ok());
        drop(ro);
        assert_eq!(files_under(dir.path()), before, "fold {fold}");
    }
}

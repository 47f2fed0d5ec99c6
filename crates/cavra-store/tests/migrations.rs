//! One migration history, tested from every released version: a store is created with the
//! schema exactly as each earlier cavra left it (tests/data/schema/vN.sql, the CREATE
//! statements taken from git history), filled with the rows that version wrote, then opened by
//! this cavra. The data must read back through today's API, new writes must work, and the
//! migrated schema must be the one a fresh store gets (a migration edited after its release
//! would make the two differ).

use cavra_store::{
    ActionType, ApprovalRoute, ApprovalState, Decision, DecisionFilter, NewDecision, Store,
};
use rusqlite::{Connection, params};
use std::path::Path;

/// Every released schema older than the current one, with its frozen text.
const RELEASED: &[(i64, &str)] = &[
    (1, include_str!("data/schema/v1.sql")),
    (2, include_str!("data/schema/v2.sql")),
    (3, include_str!("data/schema/v3.sql")),
];

const RECORD: &str = r#"{"decision":"block","decision_id":"d1","target":".env"}"#;
const HISTORY: &str =
    r#"[{"at":"2026-01-02T03:04:05.000Z","state":"pending","actor":"claude-code:s1"}]"#;

/// Creates a store as cavra at `version` left it, holding one session, one decision, its
/// outcome and one pending approval (and, from version 3 on, one MCP tool pin).
fn old_store(path: &Path, version: i64, schema: &str) {
    let conn = Connection::open(path).expect("create");
    conn.execute_batch(schema).expect("old schema");
    conn.pragma_update(None, "user_version", version)
        .expect("version");
    conn.execute(
        "INSERT INTO sessions (id, agent, first_seen, last_seen, cwd, decisions, blocked, approvals, warned, outcomes)
         VALUES ('s1', 'claude-code', '2026-01-02T03:04:05.000Z', '2026-01-02T03:04:06.000Z', '/repo', 1, 1, 0, 0, 1)",
        [],
    )
    .expect("session");
    conn.execute(
        "INSERT INTO decisions (decision_id, session_id, tool_use_id, action_type, decision, rule_id, timestamp, fingerprint, record)
         VALUES ('d1', 's1', 'toolu_1', 'read_file', 'block', 'secrets.read', '2026-01-02T03:04:05.000Z', 'sha256:f1', ?1)",
        params![RECORD],
    )
    .expect("decision");
    conn.execute(
        "INSERT INTO outcomes (tool_use_id, decision_id, session_id, success, sha256, path, timestamp)
         VALUES ('toolu_1', 'd1', 's1', 0, NULL, NULL, '2026-01-02T03:04:06.000Z')",
        [],
    )
    .expect("outcome");
    conn.execute(
        "INSERT INTO approvals (id, decision_id, fingerprint, session_id, approver_group, requested_by, requested_at, expires_at, state, summary, history)
         VALUES ('apr_1', 'd1', 'sha256:f1', 's1', 'Platform', 'claude-code:s1', '2026-01-02T03:04:05.000Z', '2026-01-02T04:04:05.000Z', 'pending', 'read_file .env', ?1)",
        params![HISTORY],
    )
    .expect("approval");
    if version >= 3 {
        conn.execute(
            "INSERT INTO mcp_tool_pins (server, tool, digest, first_seen) VALUES ('files', 'read', 'sha256:t', '2026-01-02T03:04:05.000Z')",
            [],
        )
        .expect("pin");
    }
}

/// The schema of a store file: every table, index and trigger with its SQL, in name order.
fn schema_of(path: &Path) -> Vec<(String, String, Option<String>)> {
    let conn = Connection::open(path).expect("open");
    let mut st = conn
        .prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name")
        .expect("query");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .collect::<rusqlite::Result<_>>()
        .expect("schema")
}

#[test]
fn every_released_schema_migrates_with_its_data() {
    let dir = tempfile::tempdir().expect("tmp");
    let fresh = dir.path().join("fresh.db");
    let current = Store::open(&fresh)
        .expect("fresh")
        .schema_version()
        .expect("v");
    assert_eq!(
        RELEASED.len() as i64 + 1,
        current,
        "a new schema version needs its released predecessor frozen in tests/data/schema"
    );
    let want_schema = schema_of(&fresh);
    for &(version, schema) in RELEASED {
        let path = dir.path().join(format!("v{version}.db"));
        old_store(&path, version, schema);

        let mut store = Store::open(&path).unwrap_or_else(|e| panic!("v{version}: {e}"));
        assert_eq!(store.schema_version().expect("v"), current, "v{version}");

        let decisions = store.decisions(&DecisionFilter::default()).expect("read");
        assert_eq!(decisions.len(), 1, "v{version}");
        let d = &decisions[0];
        assert_eq!(d.decision_id, "d1");
        assert_eq!(d.session_id.as_deref(), Some("s1"));
        assert_eq!(d.extra.tool_use_id.as_deref(), Some("toolu_1"));
        assert_eq!(d.rule_id, "secrets.read");
        assert_eq!(d.decision, Decision::Block);
        assert_eq!(d.action_type, ActionType::ReadFile.into());
        assert_eq!(d.fingerprint, "sha256:f1");
        assert_eq!(d.record["target"], ".env", "v{version}");

        let session = store.session("s1").expect("read").expect("session");
        assert_eq!(
            (session.decisions, session.blocked, session.outcomes),
            (1, 1, 1)
        );
        let outcomes = store.outcomes(Some("s1")).expect("outcomes");
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].success, Some(false));

        let approval = store.approval("apr_1").expect("read").expect("approval");
        assert_eq!(approval.state, ApprovalState::Pending, "v{version}");
        // Approvals from before version 4 were all answered by an approver.
        assert_eq!(approval.extra.route, ApprovalRoute::Approver, "v{version}");
        assert_eq!(approval.extra.tool_use_id, None);
        assert_eq!(approval.history.len(), 1);
        assert_eq!(approval.history[0].actor, "claude-code:s1");

        if version >= 3 {
            let pin = store.tool_pin("files", "read").expect("read").expect("pin");
            assert_eq!(pin.digest, "sha256:t");
        }

        // The migrated store takes new records, and its evidence log holds them.
        let mut next: NewDecision = new_decision("d2");
        next.session_id = Some("s1".into());
        store.record_decision(&next).expect("write after migrating");
        let session = store.session("s1").expect("read").expect("session");
        assert_eq!(session.decisions, 2, "v{version}");
        let report = store.verify_log(None).expect("verify");
        assert!(report.ok(), "v{version}: {report:?}");
        drop(store);

        assert_eq!(schema_of(&path), want_schema, "v{version}");
    }
}

/// A store whose schema is newer than this cavra is refused, not downgraded or overwritten.
#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("newer.db");
    drop(Store::open(&path).expect("create"));
    let conn = Connection::open(&path).expect("open");
    conn.pragma_update(None, "user_version", 99).expect("bump");
    drop(conn);
    let err = Store::open(&path).expect_err("newer schema");
    assert!(err.to_string().contains("99"), "{err}");
}

fn new_decision(id: &str) -> NewDecision {
    NewDecision {
        decision_id: id.into(),
        session_id: None,
        agent: Some("claude-code".into()),
        action_type: ActionType::ExecuteCommand.into(),
        decision: Decision::Allow,
        rule_id: "default".into(),
        timestamp: "2026-01-02T03:05:00.000Z".parse().unwrap(),
        fingerprint: "sha256:f2".into(),
        extra: cavra_store::ToolCall {
            cwd: Some("/repo".into()),
            tool_use_id: Some(format!("toolu_{id}")),
            record: serde_json::json!({"decision_id": id, "decision": "allow"}),
        },
    }
}

/// Times as an older cavra stored them (text, from its own formatter) read back as the same
/// text: through the typed fields' `Display`, through serde (what `--json` and the API
/// print), and in the rows a new write adds next to them.
#[test]
fn times_written_by_an_older_cavra_read_back_as_the_same_text() {
    let dir = tempfile::tempdir().expect("tmp");
    let &(version, schema) = RELEASED.last().expect("a released schema");
    let path = dir.path().join("old.db");
    old_store(&path, version, schema);
    let mut store = Store::open(&path).expect("open");

    let d = &store.decisions(&DecisionFilter::default()).expect("read")[0];
    assert_eq!(d.timestamp.to_string(), "2026-01-02T03:04:05.000Z");
    assert_eq!(
        serde_json::to_value(d).expect("json")["timestamp"],
        "2026-01-02T03:04:05.000Z"
    );

    let a = store.approval("apr_1").expect("read").expect("approval");
    let json = serde_json::to_value(&a).expect("json");
    assert_eq!(json["requested_at"], "2026-01-02T03:04:05.000Z");
    assert_eq!(json["expires_at"], "2026-01-02T04:04:05.000Z");
    assert_eq!(json["decided_at"], serde_json::Value::Null);
    assert_eq!(json["history"][0]["at"], "2026-01-02T03:04:05.000Z");

    // Approving it writes its time in the same form, and what is stored is what is read.
    let at = time::macros::datetime!(2026-01-02 03:30:00.250 UTC);
    let approved = store.approve("apr_1", "alice", "ok", at).expect("approve");
    assert_eq!(
        approved.decided_at.map(|t| t.to_string()).as_deref(),
        Some("2026-01-02T03:30:00.250Z")
    );
    drop(store);
    let conn = Connection::open(&path).expect("open");
    let (requested, expires, decided): (String, String, String) = conn
        .query_row(
            "SELECT requested_at, expires_at, decided_at FROM approvals WHERE id = 'apr_1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("row");
    assert_eq!(
        (requested.as_str(), expires.as_str(), decided.as_str()),
        (
            "2026-01-02T03:04:05.000Z",
            "2026-01-02T04:04:05.000Z",
            "2026-01-02T03:30:00.250Z"
        )
    );
}

/// Every time the repository's store reads as a [`cavra_store::Timestamp`] (an approval's
/// history, a session's first and last decision, an outcome, an MCP tool pin) and every time a
/// filter takes: an older cavra's text reads back, is shown and serialised as the same text,
/// and rewriting the record (approving it) leaves the older bytes as they were.
#[test]
fn every_typed_time_of_an_older_store_reads_and_writes_back_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tmp");
    let &(version, schema) = RELEASED.last().expect("a released schema");
    let path = dir.path().join("old.db");
    old_store(&path, version, schema);
    let mut store = Store::open(&path).expect("open");

    let s = store.session("s1").expect("read").expect("session");
    assert_eq!(
        (s.first_seen.to_string(), s.last_seen.to_string()),
        (
            "2026-01-02T03:04:05.000Z".to_string(),
            "2026-01-02T03:04:06.000Z".to_string()
        )
    );
    let json = serde_json::to_value(&s).expect("json");
    assert_eq!(json["first_seen"], "2026-01-02T03:04:05.000Z");
    assert_eq!(json["last_seen"], "2026-01-02T03:04:06.000Z");
    let o = &store.outcomes(Some("s1")).expect("read")[0];
    assert_eq!(
        serde_json::to_value(o).expect("json")["timestamp"],
        "2026-01-02T03:04:06.000Z"
    );
    let pin = store.tool_pin("files", "read").expect("read").expect("pin");
    assert_eq!(
        serde_json::to_value(&pin).expect("json")["first_seen"],
        "2026-01-02T03:04:05.000Z"
    );

    // The filter's times select as the stored text does: at or after `since`, before `until`.
    let at = |s: &str| Some(s.parse::<cavra_store::Timestamp>().expect("time"));
    let between = |since, until| DecisionFilter {
        since,
        until,
        ..DecisionFilter::default()
    };
    let found = |f: &DecisionFilter| store.decisions(f).expect("read").len();
    assert_eq!(found(&between(at("2026-01-02T03:04:05.000Z"), None)), 1);
    assert_eq!(found(&between(at("2026-01-02T03:04:05.001Z"), None)), 0);
    assert_eq!(found(&between(None, at("2026-01-02T03:04:05.000Z"))), 0);
    assert_eq!(found(&between(None, at("2026-01-02T05:04:05+01:00"))), 1);

    let history_before = serde_json::to_string(
        &store
            .approval("apr_1")
            .expect("read")
            .expect("approval")
            .history,
    )
    .expect("json");
    assert_eq!(history_before, HISTORY);
    let when = time::macros::datetime!(2026-01-02 03:30:00.250 UTC);
    store
        .approve("apr_1", "alice", "ok", when)
        .expect("approve");
    drop(store);
    let conn = Connection::open(&path).expect("open");
    let history: String = conn
        .query_row(
            "SELECT history FROM approvals WHERE id = 'apr_1'",
            [],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(
        history,
        r#"[{"at":"2026-01-02T03:04:05.000Z","state":"pending","actor":"claude-code:s1"},{"at":"2026-01-02T03:30:00.250Z","state":"approved","actor":"alice","reason":"ok"}]"#
    );
}

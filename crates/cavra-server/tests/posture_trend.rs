//! Daily posture snapshots and `GET /v1/posture/trend`, on SQLite and (when
//! `CAVRA_TEST_POSTGRES_URL` is set, as CI does) PostgreSQL: a stored day equals the posture
//! recomputed offline from the tenant's bundle of that day; another tenant's entries on the
//! same days never reach it; a trend is the same whether its days were stored or computed;
//! a stored day is read back rather than recomputed; today is computed live, never stored.

mod common;

use common::Server;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime};

async fn ok(s: &Server, path: &str, token: &str) -> Value {
    let (status, value) = s.call("GET", path, Some(token), None).await;
    assert!(status.is_success(), "GET {path}: {status} {value}");
    value
}

fn day_text(d: Date) -> String {
    cavra_server::aispm::trend::day_text(d)
}

fn at(d: Date, hour: u8) -> String {
    format!("{}T{hour:02}:30:00.000Z", day_text(d))
}

fn decision(n: u64, decision: &str, mode: &str, repo: &str) -> Value {
    json!({"decision_id": format!("d{n}"), "decision": decision, "agent": "claude-code",
           "rule_id": "r1", "record": {"mode": mode, "repository": repo}})
}

/// Seeds tenant `a` on three past days (the middle one empty) and tenant `b`, differently,
/// on the same days, each through the store's appender with the days' times.
async fn seed(s: &Server, today: Date) -> [Date; 3] {
    let days = [
        today - Duration::days(4),
        today - Duration::days(3),
        today - Duration::days(2),
    ];
    let (d0, d2) = (days[0], days[2]);
    let a = vec![
        (
            "decision",
            at(d0, 9),
            decision(1, "allow", "enforce", "org/web"),
        ),
        (
            "decision",
            at(d0, 10),
            decision(2, "block", "audit_only", "org/infra"),
        ),
        (
            "approval",
            at(d0, 10),
            json!({"approval_id": "apr_1", "state": "pending"}),
        ),
        (
            "approval",
            at(d0, 11),
            json!({"approval_id": "apr_1", "state": "approved"}),
        ),
        (
            "delivery",
            at(d0, 12),
            json!({"event_id": "e1", "destination": "siem", "outcome": "dead_letter"}),
        ),
        (
            "decision",
            at(d2, 8),
            decision(3, "allow", "enforce", "org/infra"),
        ),
        (
            "registry",
            at(d2, 9),
            json!({"kind": "mcp_server", "name": "labs",
                   "record": {"trust_tier": "experimental", "approval_state": "approved"}}),
        ),
        // Written late but stamped on day 0: it belongs to day 0's window.
        (
            "decision",
            at(d0, 23),
            decision(4, "warn", "enforce", "org/web"),
        ),
    ];
    let b: Vec<_> = (0..6)
        .map(|i| {
            let d = days[i % 3];
            (
                "decision",
                at(d, 12),
                decision(100 + i as u64, "block", "audit_only", "org/b"),
            )
        })
        .collect();
    for (tenant, entries) in [("a", a), ("b", b)] {
        let bulk = entries
            .into_iter()
            .map(|(k, t, body)| (k.to_string(), None, t, body))
            .collect();
        s.state
            .db
            .append_entries(tenant, bulk)
            .await
            .expect("seed entries");
    }
    days
}

/// The posture recomputed offline from the tenant's bundle of `day`.
async fn offline_day(s: &Server, token: &str, day: Date) -> cavra_aispm::Posture {
    let next = day.next_day().expect("next day");
    let resp = s
        .http
        .get(format!(
            "{}/v1/evidence/bundle?since={}T00:00:00Z&until={}T00:00:00Z",
            s.base,
            day_text(day),
            day_text(next)
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("bundle");
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.bytes().await.expect("bytes");
    let out = tempfile::tempdir().expect("tempdir");
    tar::Archive::new(bytes.as_ref())
        .unpack(out.path())
        .expect("unpack");
    cavra_aispm::posture_from_bundle(&out.path().join("bundle")).expect("bundle posture")
}

async fn trend_checks(s: &Server) {
    let now = OffsetDateTime::now_utc();
    let today = now.date();
    let days = seed(s, today).await;
    let auditor = s.token("a", "auditor", "auditor-a", &[]).await;
    let b_auditor = s.token("b", "auditor", "auditor-b", &[]).await;
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    // Today, live: one decision through the API.
    s.decision(
        &agent,
        json!({"request": {"action": "read_file", "target": ".env", "repository": "org/web",
                           "agent_id": "claude-code", "session_id": "s1"}}),
    )
    .await;

    let first = ok(s, "/v1/posture/trend?days=5", &auditor).await;
    assert_eq!(first["format"], "cavra-aispm-trend/v1");
    assert_eq!(first["tenant"], "a");
    let list = first["days"].as_array().expect("days");
    assert_eq!(list.len(), 5, "{first}");
    assert_eq!(list[0]["day"], day_text(days[0]));
    assert_eq!(list[4]["day"], day_text(today));
    let closed = list.iter().filter(|d| d["closed"] == true).count() as u64;
    // Yesterday is closed unless this runs in the first minutes after midnight UTC.
    assert!(closed == 3 || closed == 4, "{first}");
    assert_eq!(first["from_snapshots"], 0, "{first}");
    assert_eq!(first["computed"], closed, "{first}");
    assert_eq!(first["live"], 5 - closed, "{first}");

    // Tenant a's own figures, day by day: b's entries on the same days are not in them.
    assert_eq!(list[0]["entries"], 6, "{first}");
    assert_eq!(list[0]["decisions"], 3, "{first}");
    assert_eq!(list[0]["block_rate"], json!(1.0 / 3.0), "{first}");
    assert_eq!(list[0]["approvals_requested"], 1);
    assert_eq!(list[0]["dead_letters"], 1);
    assert_eq!(list[0]["repositories"], 2);
    assert_eq!(list[0]["repositories_enforcing"], 1, "latest mode of each");
    assert_eq!(list[1]["entries"], 0, "an empty day: {first}");
    assert_eq!(list[1]["score"], Value::Null);
    assert_eq!(list[2]["entries"], 2);
    assert_eq!(list[2]["mcp_untrusted"], 1);
    assert_eq!(list[4]["closed"], false);
    assert_eq!(list[4]["decisions"], 1, "today's decision, live: {first}");

    // Each stored day is the posture recomputed offline from the tenant's bundle of that day.
    for day in [days[0], days[2]] {
        let stored = cavra_server::aispm::trend::day_posture(&s.state.db, "a", day, now)
            .await
            .expect("day");
        let offline = offline_day(s, &auditor, day).await;
        assert_eq!(
            stored,
            serde_json::to_string(&offline).expect("json"),
            "{day}"
        );
        let b_stored = cavra_server::aispm::trend::day_posture(&s.state.db, "b", day, now)
            .await
            .expect("b day");
        assert_ne!(stored, b_stored);
    }
    let b = ok(s, "/v1/posture/trend?days=5", &b_auditor).await;
    assert_eq!(b["days"][0]["decisions"], 2, "{b}");
    assert_eq!(b["days"][0]["block_rate"], 1.0, "{b}");
    assert_eq!(b["days"][1]["decisions"], 2, "{b}");

    // Again: the closed days come from their snapshots, the figures are the same.
    let second = ok(s, "/v1/posture/trend?days=5", &auditor).await;
    assert_eq!(second["from_snapshots"], closed, "{second}");
    assert_eq!(second["computed"], 0, "{second}");
    assert_eq!(second["days"], first["days"]);
    // since/until select the same days.
    let span = ok(
        s,
        &format!(
            "/v1/posture/trend?since={}&until={}",
            day_text(days[0]),
            day_text(days[2])
        ),
        &auditor,
    )
    .await;
    assert_eq!(span["days"].as_array().map(Vec::len), Some(3));
    assert_eq!(span["days"][0], first["days"][0]);
    assert_eq!(span["days"][2], first["days"][2]);

    // A stored day is read back, not folded again: an entry stamped on day 0 written after its
    // snapshot does not change it until the snapshots are forgotten and computed again.
    s.state
        .db
        .append_entries(
            "a",
            vec![(
                "decision".into(),
                None,
                at(days[0], 13),
                decision(5, "block", "enforce", "org/web"),
            )],
        )
        .await
        .expect("late entry");
    let stale = ok(s, "/v1/posture/trend?days=5", &auditor).await;
    assert_eq!(stale["days"][0]["decisions"], 3, "{stale}");
    assert_eq!(
        s.state.db.delete_posture_days("a").await.expect("forget"),
        closed
    );
    let fresh = ok(s, "/v1/posture/trend?days=5", &auditor).await;
    assert_eq!(fresh["days"][0]["decisions"], 4, "{fresh}");
    assert_eq!(fresh["computed"], closed);
    let rest = |v: &Value| v["days"].as_array().expect("days")[1..].to_vec();
    assert_eq!(rest(&fresh), rest(&first), "the other days alike");

    // Days that cannot be a trend's are 422 problems naming the parameter.
    let tomorrow = day_text(today + Duration::days(1));
    for (bad, word) in [
        ("days=0".to_string(), "days"),
        ("days=401".to_string(), "days"),
        ("since=yesterday".to_string(), "since"),
        ("until=2026-02-30".to_string(), "until"),
        (format!("until={tomorrow}"), "until"),
        (format!("days=3&since={}", day_text(days[0])), "days"),
        (
            format!("since={}&until={}", day_text(days[2]), day_text(days[0])),
            "since",
        ),
        ("since=2000-01-01".to_string(), "400"),
    ] {
        let (st, v) = s
            .call(
                "GET",
                &format!("/v1/posture/trend?{bad}"),
                Some(&auditor),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        assert!(
            v["detail"].as_str().is_some_and(|d| d.contains(word)),
            "{bad}: {v}"
        );
    }
}

#[tokio::test]
async fn daily_snapshots_and_the_trend_on_sqlite() {
    let s = common::sqlite_server().await;
    trend_checks(&s).await;
}

#[tokio::test]
async fn daily_snapshots_and_the_trend_on_postgres() {
    let Some(s) = common::postgres_with(|_| {}).await else {
        return;
    };
    trend_checks(&s).await;
}

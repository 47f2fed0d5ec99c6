//! The connectors' outbox: events written in the same transaction as the record that causes
//! them (a decision, an approval transition, a signed checkpoint), then routed to each
//! destination of the tenant as one delivery row per (event, destination), which delivery
//! workers claim with a lease. Both backends keep the same tables (`connector_events`,
//! `connector_deliveries`); the routing and delivery logic lives in `cavra-connectors`.
//!
//! Times that workers compare (`next_at`, `lease_until`, `created_ms`) are milliseconds since
//! the Unix epoch, as the worker's clock gives them, so that a claim is one index range scan
//! on both backends.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::types::{Approval, Timestamp};

/// Decisions that make an event: the outcomes someone downstream acts on. Allows (and
/// `audit_only`, `allow_with_attestation`) make none, so the decision path of an allowed
/// action pays nothing for the outbox.
const EVENTFUL_DECISIONS: &[&str] = &["block", "require_approval", "warn"];

/// An event to write to the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Its id (`evt_` and a UUIDv7: time first, then random bits), unique in the tenant.
    pub id: String,
    /// Its type (`decision.block`, `approval.approved`, …).
    pub kind: String,
    /// The record it is about (decision, approval id), when any.
    pub ref_id: Option<String>,
    /// Deliver to this destination only (test events), else routed by the tenant's routes.
    pub only_destination: Option<String>,
    /// Never deliver to this destination (a connector failure is not reported to the
    /// connector that failed).
    pub not_destination: Option<String>,
    /// When it happened.
    pub created_at: Timestamp,
    /// What it says, already redacted by the store's rules.
    pub payload: Value,
}

impl NewEvent {
    /// A new event with a fresh id.
    pub fn new(
        kind: impl Into<String>,
        ref_id: Option<String>,
        at: Timestamp,
        payload: Value,
    ) -> Self {
        NewEvent {
            id: new_event_id(),
            kind: kind.into(),
            ref_id,
            only_destination: None,
            not_destination: None,
            created_at: at,
            payload,
        }
    }
}

/// A fresh event id: `evt_` and a UUIDv7 (its time first, then 74 random bits).
///
/// Time-ordered so that each new event's entries in the id indexes (the events' `(tenant,
/// id)`, the deliveries' key, the delivery entries' `ref_id`) go at their right-hand end.
/// With random ids every insert lands on a random leaf page of an index that holds the
/// retention's 30 days of events, and after each PostgreSQL checkpoint the first change to a
/// page writes all of it to the WAL: about 1 KB of WAL per decision with 300,000 events kept
/// (docs/benchmarks.md, "WAL per decision on PostgreSQL"), 29 bytes time-ordered.
pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxEvent {
    /// The tenant.
    pub tenant: String,
    /// Its id.
    pub id: String,
    /// Its type.
    pub kind: String,
    /// The record it is about.
    pub ref_id: Option<String>,
    /// The evidence entry that records its cause, when any.
    pub log_index: Option<u64>,
    /// Deliver to this destination only.
    pub only_destination: Option<String>,
    /// Never deliver to this destination.
    pub not_destination: Option<String>,
    /// When it happened.
    pub created_at: Timestamp,
    /// What it says (redacted).
    pub payload: Value,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not yet delivered; tried again at `next_at`.
    Pending,
    /// The destination acknowledged it.
    Delivered,
    /// Given up after the attempt or age limit: a dead letter.
    Dead,
}

impl DeliveryState {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        }
    }

    /// Reads the stored word.
    pub fn parse(s: &str) -> Option<DeliveryState> {
        match s {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "dead" => Some(DeliveryState::Dead),
            _ => None,
        }
    }
}

/// One event's delivery to one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The tenant.
    pub tenant: String,
    /// The event.
    pub event_id: String,
    /// The event's type.
    pub event_kind: String,
    /// The destination (a connector's name in the tenant).
    pub destination: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When it is due next (ms since the epoch).
    pub next_at_ms: i64,
    /// When it was routed (ms since the epoch): the age limit counts from here.
    pub created_ms: i64,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// The last attempt's status (`200`, `timeout`, `connection refused`, …).
    pub last_status: Option<String>,
    /// The last attempt's error, redacted.
    pub last_error: Option<String>,
}

/// A delivery claimed by a worker, with its event.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    /// The delivery.
    pub delivery: Delivery,
    /// Its event.
    pub event: OutboxEvent,
}

/// What an attempt leaves the delivery as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Acknowledged.
    Delivered,
    /// Failed; due again at this time (ms since the epoch).
    Retry {
        /// When.
        next_at_ms: i64,
    },
    /// Failed for the last time: a dead letter.
    Dead,
}

/// One delivery attempt, as the worker reports it: the delivery row moves (when the worker
/// still holds its lease) and the attempt becomes an entry of the tenant's evidence log,
/// in one transaction.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// The tenant.
    pub tenant: String,
    /// The event.
    pub event_id: String,
    /// The destination.
    pub destination: String,
    /// The worker that holds the lease.
    pub owner: String,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    /// What it leaves the delivery as.
    pub outcome: AttemptOutcome,
    /// When.
    pub at: Timestamp,
    /// The status in a word or code.
    pub status: String,
    /// The error, when it failed (redacted).
    pub error: Option<String>,
    /// The evidence entry's body (the delivery audit record); redacted again as it is
    /// appended.
    pub entry: Value,
    /// An event to write with it (a dead letter's `connector.failure`).
    pub follow_up: Option<NewEvent>,
}

/// What recording an attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptWritten {
    /// The attempt's evidence entry.
    pub log_index: u64,
    /// Whether the delivery row moved (false: the worker's lease had passed to another, and
    /// only the evidence entry was written).
    pub applied: bool,
}

/// The connectors' routing, as the store calls it inside a claim: the destinations (connector
/// names of the event's tenant) an event goes to.
pub type Route = std::sync::Arc<dyn Fn(&OutboxEvent) -> Vec<String> + Send + Sync>;

/// What a claim took.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claim {
    /// Events routed by it.
    pub routed: usize,
    /// The deliveries it leased: first those of the events it routed (in event order), then
    /// due ones (by due time).
    pub deliveries: Vec<ClaimedDelivery>,
}

/// A claimed delivery given back without an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The tenant.
    pub tenant: String,
    /// The event.
    pub event_id: String,
    /// The destination.
    pub destination: String,
    /// When it is due again (ms since the epoch).
    pub next_at_ms: i64,
}

/// What one [`crate::Db::purge_outbox`] call removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Finished deliveries.
    pub deliveries: u64,
    /// Events with no delivery left.
    pub events: u64,
}

/// A delivery just routed and leased, as a claim returns it.
pub(crate) fn fresh_delivery(
    e: OutboxEvent,
    destination: String,
    now_ms: i64,
    at: Timestamp,
) -> ClaimedDelivery {
    ClaimedDelivery {
        delivery: Delivery {
            tenant: e.tenant.clone(),
            event_id: e.id.clone(),
            event_kind: e.kind.clone(),
            destination,
            state: DeliveryState::Pending,
            attempts: 0,
            next_at_ms: now_ms,
            created_ms: now_ms,
            updated_at: at,
            last_status: None,
            last_error: None,
        },
        event: e,
    }
}

/// The fresh deliveries of `e` to `destinations`, pushed to `out`: the event is copied for
/// all but the last (most events go to one destination, and are then not copied at all).
pub(crate) fn fresh_deliveries(
    e: OutboxEvent,
    destinations: Vec<String>,
    now_ms: i64,
    at: Timestamp,
    out: &mut Vec<ClaimedDelivery>,
) {
    let mut rest = destinations.into_iter().peekable();
    while let Some(d) = rest.next() {
        if rest.peek().is_some() {
            out.push(fresh_delivery(e.clone(), d, now_ms, at));
        } else {
            out.push(fresh_delivery(e, d, now_ms, at));
            return;
        }
    }
}

/// What an outcome leaves a delivery row as: its state and due time.
pub(crate) fn outcome_row(o: &AttemptOutcome) -> (DeliveryState, i64) {
    match o {
        AttemptOutcome::Delivered => (DeliveryState::Delivered, 0),
        AttemptOutcome::Retry { next_at_ms } => (DeliveryState::Pending, *next_at_ms),
        AttemptOutcome::Dead => (DeliveryState::Dead, 0),
    }
}

/// One tenant's share of a batch of delivery attempts: the log entries to append to its log,
/// in the batch's order, and the batch position each came from.
pub(crate) struct TenantAttempts<'a> {
    /// The tenant.
    pub(crate) tenant: &'a str,
    /// Where in the batch each entry came from.
    pub(crate) positions: Vec<usize>,
    /// The `delivery` entries, one per attempt.
    pub(crate) entries: Vec<crate::log::NewEntry<'a>>,
}

/// A batch's attempts (each with its prepared entry body and its time's text) grouped by
/// tenant, tenants in
/// their sorted order: the order in which both backends take the log heads, so that two
/// workers never wait on each other in a cycle. Every attempt is in exactly one group.
pub(crate) fn attempts_by_tenant<'a>(
    attempts: impl IntoIterator<Item = (&'a AttemptRecord, &'a crate::log::PreparedBody, &'a str)>,
) -> Vec<TenantAttempts<'a>> {
    let mut groups: Vec<TenantAttempts<'a>> = Vec::new();
    for (i, (a, body, at_text)) in attempts.into_iter().enumerate() {
        let at = match groups.binary_search_by(|g| g.tenant.cmp(a.tenant.as_str())) {
            Ok(at) => at,
            Err(at) => {
                groups.insert(
                    at,
                    TenantAttempts {
                        tenant: &a.tenant,
                        positions: Vec::new(),
                        entries: Vec::new(),
                    },
                );
                at
            }
        };
        groups[at].positions.push(i);
        groups[at].entries.push(crate::log::NewEntry {
            kind: "delivery",
            ref_id: Some(&a.event_id),
            session_id: None,
            timestamp: at_text,
            body: crate::log::EntryBody::Prepared(body.clone()),
        });
    }
    groups
}

/// Filters for listing deliveries (newest first).
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only in this state.
    pub state: Option<DeliveryState>,
    /// Only to this destination.
    pub destination: Option<String>,
    /// Only of this event.
    pub event_id: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// The event a decision made at `at` makes, if its outcome is one connectors report: built
/// from the decision entry's body (already redacted), before the write, so that the writer
/// only inserts it.
/// Whether a decision with this word (and break glass or not) makes an event at all: what
/// [`decision_event`] answers None for without looking further.
pub(crate) fn may_make_event(decision: cavra_engine::Decision, break_glass: bool) -> bool {
    break_glass || EVENTFUL_DECISIONS.contains(&decision.as_str())
}

pub fn decision_event(body: &Value, at: Timestamp) -> Option<NewEvent> {
    let decision = body.get("decision").and_then(Value::as_str)?;
    let record = body.get("record").unwrap_or(&Value::Null);
    let break_glass = record.get("break_glass").filter(|b| !b.is_null());
    let kind = if break_glass.is_some() {
        "decision.break_glass".to_string()
    } else if EVENTFUL_DECISIONS.contains(&decision) {
        format!("decision.{decision}")
    } else {
        return None;
    };
    let field = |k: &str| record.get(k).cloned().unwrap_or(Value::Null);
    let payload = json!({
        "decision_id": body.get("decision_id"),
        "decision": decision,
        "session_id": body.get("session_id"),
        "agent": body.get("agent"),
        "requested_by": body.get("requested_by"),
        "action_type": body.get("action_type"),
        "rule_id": body.get("rule_id"),
        "fingerprint": body.get("fingerprint"),
        "policy_digest": body.get("policy_digest"),
        "pack": field("policy_pack"),
        "severity": field("severity"),
        "repository": field("repository"),
        "environment": field("environment"),
        "branch": field("branch"),
        "target": field("target"),
        "reason": field("reason"),
        "approver_group": field("approver_group"),
        "break_glass": break_glass,
    });
    let id = body
        .get("decision_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(NewEvent::new(kind, id, at, payload))
}

/// [`decision_event`] of a decision body given as JSON text (the redacted body the store
/// wrote): the same event, reading into memory only the members the event holds. Parsing the
/// whole body into a [`Value`] first, a kilobyte of record, cost about 90,000 instructions
/// per eventful decision on the service's hot path (docs/benchmarks.md).
pub(crate) fn decision_event_of_json(
    body: &str,
    at: Timestamp,
) -> Result<Option<NewEvent>, serde_json::Error> {
    // A member absent and a member `null` both become `None`, and then `null` in the
    // payload, as `body.get(k)` and `record.get(k).cloned().unwrap_or(Null)` give.
    #[derive(serde::Deserialize)]
    struct Body {
        decision_id: Option<Value>,
        decision: Option<Value>,
        session_id: Option<Value>,
        agent: Option<Value>,
        requested_by: Option<Value>,
        action_type: Option<Value>,
        rule_id: Option<Value>,
        fingerprint: Option<Value>,
        policy_digest: Option<Value>,
        #[serde(default)]
        record: Option<Record>,
    }
    #[derive(serde::Deserialize, Default)]
    struct Record {
        policy_pack: Option<Value>,
        severity: Option<Value>,
        repository: Option<Value>,
        environment: Option<Value>,
        branch: Option<Value>,
        target: Option<Value>,
        reason: Option<Value>,
        approver_group: Option<Value>,
        break_glass: Option<Value>,
    }
    let b: Body = serde_json::from_str(body)?;
    let Some(decision) = b.decision.as_ref().and_then(Value::as_str) else {
        return Ok(None);
    };
    let record = b.record.unwrap_or_default();
    let kind = if record.break_glass.is_some() {
        "decision.break_glass".to_string()
    } else if EVENTFUL_DECISIONS.contains(&decision) {
        format!("decision.{decision}")
    } else {
        return Ok(None);
    };
    let id = b
        .decision_id
        .as_ref()
        .and_then(Value::as_str)
        .map(str::to_string);
    let payload = json!({
        "decision_id": b.decision_id,
        "decision": decision,
        "session_id": b.session_id,
        "agent": b.agent,
        "requested_by": b.requested_by,
        "action_type": b.action_type,
        "rule_id": b.rule_id,
        "fingerprint": b.fingerprint,
        "policy_digest": b.policy_digest,
        "pack": record.policy_pack,
        "severity": record.severity,
        "repository": record.repository,
        "environment": record.environment,
        "branch": record.branch,
        "target": record.target,
        "reason": record.reason,
        "approver_group": record.approver_group,
        "break_glass": record.break_glass,
    });
    Ok(Some(NewEvent::new(kind, id, at, payload)))
}

/// The event an approval's transition (or creation) makes: `approval.requested` for a new
/// one, else `approval.<state>`.
pub fn approval_event(a: &Approval, body: Value, at: Timestamp) -> NewEvent {
    let kind = match a.state {
        cavra_store::ApprovalState::Pending => "approval.requested".to_string(),
        other => format!("approval.{}", other.as_str()),
    };
    NewEvent::new(kind, Some(a.id.clone()), at, body)
}

/// The `approval.requested` event of an approval created with a decision: the approval's
/// body, with what the approver needs to judge it taken from the decision's event (`event`,
/// already redacted): the rule, its reason, the action and target, the repository. A chat
/// message or ticket shows these without reading the store.
pub fn requested_event(
    a: &Approval,
    body: Value,
    at: Timestamp,
    decision: Option<&NewEvent>,
) -> NewEvent {
    let mut e = approval_event(a, body, at);
    if let (Some(d), Some(obj)) = (decision, e.payload.as_object_mut()) {
        for k in [
            "rule_id",
            "action_type",
            "target",
            "reason",
            "repository",
            "environment",
            "branch",
            "severity",
            "pack",
            "agent",
        ] {
            if let Some(v) = d.payload.get(k).filter(|v| !v.is_null()) {
                obj.entry(k).or_insert_with(|| v.clone());
            }
        }
    }
    e
}

/// The event a signed checkpoint makes. (A checkpoint's time is evidence-log text; one that
/// is not a store time is refused, never sent on.)
pub fn checkpoint_event(c: &crate::types::CheckpointRecord) -> crate::Result<NewEvent> {
    let at = Timestamp::parse(&c.timestamp)
        .map_err(|e| crate::StoreError::Corrupt(format!("checkpoint at {}: {e}", c.tree_size)))?;
    Ok(NewEvent::new(
        "evidence.checkpoint",
        None,
        at,
        json!({
            "tree_size": c.tree_size,
            "root_hash": c.root_hash,
            "key_id": c.key_id,
            "timestamp": c.timestamp,
        }),
    ))
}

/// The outbox on the backend the URL chose: a `match` per call, as for the store's other
/// traits (see [`crate::Db`]).
impl crate::backend::Outbox for crate::Db {
    async fn enqueue_event(
        &self,
        tenant: &str,
        event: NewEvent,
        entry: Option<(String, Value)>,
    ) -> crate::Result<Option<u64>> {
        match self {
            crate::Db::Sqlite(db) => db.enqueue_event(tenant, event, entry).await,
            crate::Db::Postgres(db) => db.enqueue_event(tenant, event, entry).await,
        }
    }

    async fn append_entry(
        &self,
        tenant: &str,
        kind: &str,
        ref_id: Option<&str>,
        at: Timestamp,
        body: Value,
    ) -> crate::Result<u64> {
        match self {
            crate::Db::Sqlite(db) => db.append_entry(tenant, kind, ref_id, at, body).await,
            crate::Db::Postgres(db) => db.append_entry(tenant, kind, ref_id, at, body).await,
        }
    }

    async fn claim(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
        at: Timestamp,
        route: Route,
    ) -> crate::Result<Claim> {
        match self {
            crate::Db::Sqlite(db) => db.claim(owner, now_ms, lease_ms, limit, at, route).await,
            crate::Db::Postgres(db) => db.claim(owner, now_ms, lease_ms, limit, at, route).await,
        }
    }

    async fn release_deliveries(&self, owner: &str, releases: Vec<Release>) -> crate::Result<u64> {
        if releases.is_empty() {
            return Ok(0);
        }
        match self {
            crate::Db::Sqlite(db) => db.release_deliveries(owner, releases).await,
            crate::Db::Postgres(db) => db.release_deliveries(owner, releases).await,
        }
    }

    async fn record_attempts(
        &self,
        attempts: Vec<AttemptRecord>,
    ) -> crate::Result<Vec<AttemptWritten>> {
        if attempts.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            crate::Db::Sqlite(db) => db.record_attempts(attempts).await,
            crate::Db::Postgres(db) => db.record_attempts(attempts).await,
        }
    }

    async fn purge_outbox(&self, before: Timestamp, chunk: usize) -> crate::Result<Purged> {
        match self {
            crate::Db::Sqlite(db) => db.purge_outbox(before, chunk).await,
            crate::Db::Postgres(db) => db.purge_outbox(before, chunk).await,
        }
    }

    async fn deliveries(
        &self,
        tenant: &str,
        filter: &DeliveryFilter,
    ) -> crate::Result<Vec<Delivery>> {
        match self {
            crate::Db::Sqlite(db) => db.deliveries(tenant, filter).await,
            crate::Db::Postgres(db) => db.deliveries(tenant, filter).await,
        }
    }

    async fn event(&self, tenant: &str, id: &str) -> crate::Result<Option<OutboxEvent>> {
        match self {
            crate::Db::Sqlite(db) => db.event(tenant, id).await,
            crate::Db::Postgres(db) => db.event(tenant, id).await,
        }
    }

    async fn retry_dead(
        &self,
        tenant: &str,
        event_id: Option<&str>,
        destination: Option<&str>,
        now_ms: i64,
        at: Timestamp,
    ) -> crate::Result<u64> {
        match self {
            crate::Db::Sqlite(db) => {
                db.retry_dead(tenant, event_id, destination, now_ms, at)
                    .await
            }
            crate::Db::Postgres(db) => {
                db.retry_dead(tenant, event_id, destination, now_ms, at)
                    .await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision_event_at(body: &Value) -> Option<NewEvent> {
        decision_event(body, "2026-01-01T00:00:00.000Z".parse().expect("time"))
    }

    fn body(decision: &str, record: Value) -> Value {
        json!({"decision_id": "d1", "decision": decision, "requested_by": "alice", "record": record})
    }

    #[test]
    fn only_reportable_outcomes_make_events() {
        for d in ["allow", "audit_only", "allow_with_attestation"] {
            assert!(decision_event_at(&body(d, json!({}))).is_none(), "{d}");
        }
        for d in ["block", "require_approval", "warn"] {
            let e = decision_event_at(&body(d, json!({"severity": "high"}))).expect(d);
            assert_eq!(e.kind, format!("decision.{d}"));
            assert_eq!(e.payload["severity"], "high");
            assert_eq!(e.ref_id.as_deref(), Some("d1"));
        }
        let e = decision_event_at(&body(
            "allow",
            json!({"break_glass": {"actor": "bob", "reason": "outage"}}),
        ))
        .expect("break glass");
        assert_eq!(e.kind, "decision.break_glass");
        assert_ne!(
            decision_event_at(&body("block", json!({}))).map(|e| e.id),
            decision_event_at(&body("block", json!({}))).map(|e| e.id),
            "every event has an id of its own"
        );
    }

    /// The event read from a body's text is the event of the body as a value, for bodies
    /// with and without each member, nulls, nested values, escapes and extra members.
    #[test]
    fn an_event_from_text_is_the_event_from_the_value() {
        let bodies = [
            json!({"decision_id": "d1", "decision": "allow", "record": {}}),
            json!({"decision_id": "d1", "decision": "block", "requested_by": "alice",
                "session_id": null, "agent": "wrk", "action_type": "read_file",
                "rule_id": "secrets", "fingerprint": "f", "policy_digest": "sha256:x",
                "record": {"policy_pack": "default", "severity": "high", "repository": null,
                    "environment": "prod", "branch": "main", "target": ".env \"q\" \u{e9}",
                    "reason": "no", "approver_group": null, "break_glass": null,
                    "other": {"deep": [1, 2, {"x": "y"}]}, "matched": ["a", "b"]}}),
            json!({"decision_id": "d2", "decision": "warn", "record": {"severity": 3,
                "target": {"not": "a string"}}, "extra": [true, false]}),
            json!({"decision_id": "d3", "decision": "allow",
                "record": {"break_glass": {"actor": "bob", "reason": "outage"}}}),
            json!({"decision_id": "d4", "decision": "require_approval"}),
            json!({"decision_id": 7, "decision": "block", "record": {"severity": "low"}}),
            json!({"decision": 5, "record": {}}),
            json!({"record": {"break_glass": {"actor": "bob"}}}),
        ];
        let at: Timestamp = "2026-01-01T00:00:00.000Z".parse().expect("time");
        for body in bodies {
            let text = serde_json::to_string(&body).expect("text");
            let from_value = decision_event(&body, at);
            let from_text = decision_event_of_json(&text, at).expect("parses");
            assert_eq!(
                from_value
                    .as_ref()
                    .map(|e| (&e.kind, &e.ref_id, &e.created_at, &e.payload)),
                from_text
                    .as_ref()
                    .map(|e| (&e.kind, &e.ref_id, &e.created_at, &e.payload)),
                "{text}"
            );
            assert_eq!(
                from_value.map(|e| serde_json::to_string(&e.payload).expect("payload")),
                from_text.map(|e| serde_json::to_string(&e.payload).expect("payload")),
                "{text}"
            );
        }
    }

    #[test]
    fn delivery_states_read_back() {
        for s in [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Dead,
        ] {
            assert_eq!(DeliveryState::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeliveryState::parse("lost"), None);
    }

    /// New event ids sort in the order they were made (their index entries go at the end),
    /// and keep the `evt_` and 32 hex digits they had.
    #[test]
    fn event_ids_are_time_ordered() {
        let ids: Vec<String> = (0..2000).map(|_| new_event_id()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} then {}", pair[0], pair[1]);
        }
        for id in &ids {
            let hex = id.strip_prefix("evt_").expect("evt_");
            assert_eq!(hex.len(), 32, "{id}");
            assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
    }
}

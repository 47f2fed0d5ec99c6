//! cavra's OCSF rendering: a decision, an approval or any other cavra event as one OCSF
//! **1.1.0** API Activity object (class 6003, activity "Other"), the one mapping behind both
//! `cavra evidence export --format ocsf` and the `ocsf_https` connector.
//!
//! The object is valid for the version and profiles it declares (`metadata.version`,
//! `metadata.profiles`), checked in this crate's tests against the OCSF 1.1.0 schema itself:
//! - every attribute the class requires is there (`activity_id`, `actor`, `api`,
//!   `category_uid`, `class_uid`, `metadata`, `severity_id`, `src_endpoint`, `time`,
//!   `type_uid`), and each object's own required ones and "at least one of" constraints;
//! - no attribute outside the class, its objects and the declared profiles: the decision's
//!   outcome goes in `status_id`/`status_detail` (API Activity 1.1.0 has no `disposition`,
//!   which belongs to a profile this class does not take), the agent in `actor.invoked_by`;
//! - the declared profile is `datetime`, whose `time_dt` carries the time as RFC 3339.
//!
//! Whatever cavra knows beyond OCSF travels in `unmapped.cavra`.

use serde_json::{Map, Value, json};

/// The OCSF version every object declares.
pub const OCSF_VERSION: &str = "1.1.0";

/// The profiles every object declares (and whose attributes it carries).
pub const PROFILES: &[&str] = &["datetime"];

/// API Activity's class id.
pub const CLASS_UID: u32 = 6003;

/// What one OCSF object says; empty strings are left out of the object.
#[derive(Debug, Clone, Default)]
pub struct Activity<'a> {
    /// The event's unique id (`metadata.uid`).
    pub uid: &'a str,
    /// What happened (`activity_name`): `decision.block`, `approval.approved`, `decision`.
    pub kind: &'a str,
    /// When, RFC 3339.
    pub time: &'a str,
    /// The decision word, when it is a decision (`block`, `warn`, `allow`, …).
    pub decision: &'a str,
    /// The deciding rule's severity (`info` … `critical`).
    pub severity: &'a str,
    /// Why (the rule's reason).
    pub message: &'a str,
    /// The agent that asked (`claude-code`).
    pub agent: &'a str,
    /// Who the agent acted for.
    pub user: &'a str,
    /// The agent's session.
    pub session: &'a str,
    /// The action's type (`execute_command`): the API operation.
    pub operation: &'a str,
    /// The decision's or approval's id: the API request's uid.
    pub request_uid: &'a str,
    /// What the action was on (a command, a path, a URL).
    pub target: &'a str,
    /// The tenant, for a service's events.
    pub tenant: &'a str,
    /// The log that recorded it (`metadata.log_name`).
    pub log_name: &'a str,
    /// Its index in that log (`metadata.sequence`).
    pub sequence: Option<u64>,
}

/// OCSF `severity_id` of a rule severity (0 unknown).
pub fn severity_id(s: &str) -> u8 {
    match s {
        "info" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "critical" => 5,
        _ => 0,
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
fn epoch_ms(t: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Inserts `key: value` when `value` is not empty.
fn put(m: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        m.insert(key.into(), Value::String(value.into()));
    }
}

/// The OCSF object of `a`, with `unmapped` as its `unmapped.cavra`.
pub fn api_activity(a: &Activity<'_>, unmapped: &Value) -> Value {
    let sev = severity_id(a.severity);
    // A blocked action is a failed call; anything else went through (or waits, which the
    // status detail says).
    let (status_id, status) = match a.decision {
        "block" => (2, "Failure"),
        "" => (0, "Unknown"),
        _ => (1, "Success"),
    };
    let mut actor = Map::new();
    put(&mut actor, "invoked_by", a.agent);
    if !a.user.is_empty() {
        actor.insert("user".into(), json!({"name": a.user}));
    }
    if !a.session.is_empty() {
        actor.insert("session".into(), json!({"uid": a.session}));
    }
    if actor.is_empty() {
        // The class requires an actor with one of process, user, invoked_by or session.
        actor.insert("invoked_by".into(), json!("cavra"));
    }
    let mut request = Map::new();
    request.insert(
        "uid".into(),
        json!(if a.request_uid.is_empty() {
            a.uid
        } else {
            a.request_uid
        }),
    );
    let operation = if a.operation.is_empty() {
        a.kind
    } else {
        a.operation
    };
    let mut metadata = Map::new();
    metadata.insert("version".into(), json!(OCSF_VERSION));
    metadata.insert("profiles".into(), json!(PROFILES));
    metadata.insert(
        "product".into(),
        json!({"name": "cavra", "vendor_name": "cavra", "version": env!("CARGO_PKG_VERSION")}),
    );
    put(&mut metadata, "uid", a.uid);
    put(&mut metadata, "tenant_uid", a.tenant);
    put(&mut metadata, "log_name", a.log_name);
    if let Some(s) = a.sequence {
        metadata.insert("sequence".into(), json!(s));
    }
    let mut o = Map::new();
    o.insert("class_uid".into(), json!(CLASS_UID));
    o.insert("class_name".into(), json!("API Activity"));
    o.insert("category_uid".into(), json!(6));
    o.insert("category_name".into(), json!("Application Activity"));
    o.insert("activity_id".into(), json!(99));
    o.insert(
        "activity_name".into(),
        json!(if a.kind.is_empty() { "Other" } else { a.kind }),
    );
    o.insert("type_uid".into(), json!(CLASS_UID * 100 + 99));
    o.insert("type_name".into(), json!("API Activity: Other"));
    o.insert("time".into(), json!(epoch_ms(a.time).unwrap_or(0)));
    if epoch_ms(a.time).is_some() {
        o.insert("time_dt".into(), json!(a.time));
    }
    o.insert("severity_id".into(), json!(sev));
    const SEVERITIES: [&str; 6] = [
        "Unknown",
        "Informational",
        "Low",
        "Medium",
        "High",
        "Critical",
    ];
    o.insert("severity".into(), json!(SEVERITIES[usize::from(sev)]));
    o.insert("status_id".into(), json!(status_id));
    o.insert("status".into(), json!(status));
    put(&mut o, "status_detail", a.decision);
    put(&mut o, "message", a.message);
    o.insert("actor".into(), Value::Object(actor));
    o.insert(
        "api".into(),
        json!({"operation": operation, "request": Value::Object(request)}),
    );
    // Where the call came from: the agent that asked cavra (or cavra itself, for its own
    // events); the class requires a source endpoint with a name, an address or an id.
    o.insert(
        "src_endpoint".into(),
        json!({"name": if a.agent.is_empty() { "cavra" } else { a.agent }}),
    );
    if !a.target.is_empty() {
        let mut r = Map::new();
        put(&mut r, "name", a.target);
        put(&mut r, "type", a.operation);
        o.insert("resources".into(), json!([Value::Object(r)]));
    }
    o.insert("metadata".into(), Value::Object(metadata));
    o.insert("unmapped".into(), json!({"cavra": unmapped}));
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_a_failed_call_with_its_time_in_both_forms() {
        let o = api_activity(
            &Activity {
                uid: "evt_1",
                kind: "decision.block",
                time: "2026-01-01T00:00:01.500Z",
                decision: "block",
                severity: "high",
                agent: "claude-code",
                ..Activity::default()
            },
            &json!({}),
        );
        assert_eq!(o["time"], 1_767_225_601_500i64);
        assert_eq!(o["time_dt"], "2026-01-01T00:00:01.500Z");
        assert_eq!(o["status_id"], 2);
        assert_eq!(o["severity_id"], 4);
        assert_eq!(o["src_endpoint"]["name"], "claude-code");
        assert_eq!(o["api"]["request"]["uid"], "evt_1");
        assert_eq!(o["metadata"]["profiles"], json!(["datetime"]));
        assert!(o.get("resources").is_none());
    }
}

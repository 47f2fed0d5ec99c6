//! What the chat kinds ([`crate::slack`], [`crate::teams`]) share: who a chat user is to
//! cavra, the HMAC checks of their callbacks, the memory of callbacks already seen, and the
//! fields of an approval as people read them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

/// The approver identity a chat user acts as, by configuration: the subject the approval
/// rules see (the same as the person's API token or OIDC subject, so that "nobody decides
/// their own request" holds across channels) and the approver groups they belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatApprover {
    /// The subject (`alice`, an OIDC `sub`).
    pub subject: String,
    /// Approver groups (`Cloud Security`); an approval routed to a group they are not in is
    /// refused, as through the API.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// Checks an `approvers` map: user ids in the vendor's form (`valid_user`), subjects and
/// groups not empty.
pub(crate) fn check_approvers(
    field: &str,
    approvers: &BTreeMap<String, ChatApprover>,
    valid_user: impl Fn(&str) -> bool,
    form: &str,
) -> Result<(), String> {
    for (user, a) in approvers {
        if !valid_user(user) {
            return Err(format!("{field}: `{user}` is not a user id ({form})"));
        }
        if a.subject.trim().is_empty() || a.subject.len() > 200 {
            return Err(format!("{field}.{user}.subject: 1 to 200 characters"));
        }
        if a.groups.iter().any(|g| g.trim().is_empty()) {
            return Err(format!("{field}.{user}.groups: no empty group names"));
        }
    }
    Ok(())
}

/// HMAC-SHA256 of `parts` (concatenated) with `key`.
fn mac(key: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    for p in parts {
        m.update(p);
    }
    m
}

/// HMAC-SHA256 of `parts` with `key`, as bytes.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    mac(key, parts).finalize().into_bytes().into()
}

/// Whether `expected` is the HMAC-SHA256 of `parts` with `key`, compared in constant time.
pub fn hmac_matches(key: &[u8], parts: &[&[u8]], expected: &[u8]) -> bool {
    mac(key, parts).verify_slice(expected).is_ok()
}

/// How far a callback's time may be from now, in seconds (Slack's advice, and Teams').
pub const MAX_SKEW_SECONDS: i64 = 5 * 60;

/// Callbacks remembered at most at once; past this (after forgetting expired ones) new
/// callbacks are refused rather than let a replay through.
pub const REPLAY_CAPACITY: usize = 100_000;

/// Why a callback was not let through by the [`ReplayGuard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// It was seen before, within its validity.
    Replayed,
    /// The memory is full of callbacks still valid.
    Full,
}

/// Remembers the callbacks seen (their signatures or ids) until they would be refused as
/// stale anyway, so each is taken once. Bounded by [`REPLAY_CAPACITY`]. One per replica: a
/// replay sent to another replica finds the approval already decided (the store's
/// transition takes a pending approval only).
#[derive(Default)]
pub struct ReplayGuard {
    seen: Mutex<HashMap<Vec<u8>, i64>>,
}

impl ReplayGuard {
    /// Notes `key`, valid until `until` (seconds); refuses it when seen before.
    pub fn first_time(&self, key: &[u8], until: i64, now: i64) -> Result<(), Seen> {
        self.first_time_within(key, until, now, REPLAY_CAPACITY)
    }

    fn first_time_within(
        &self,
        key: &[u8],
        until: i64,
        now: i64,
        capacity: usize,
    ) -> Result<(), Seen> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.get(key).is_some_and(|&u| u >= now) {
            return Err(Seen::Replayed);
        }
        if seen.len() >= capacity {
            seen.retain(|_, u| *u >= now);
            if seen.len() >= capacity {
                return Err(Seen::Full);
            }
        }
        seen.insert(key.to_vec(), until);
        Ok(())
    }
}

/// A string field of an envelope's data, or empty.
pub(crate) fn field<'a>(data: &'a Value, key: &str) -> &'a str {
    data.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Cuts `text` to `max` characters, marking the cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// The facts of an approval request, labelled, in the order people read them: what the
/// agent wants to do and why it needs approval. Empty values are left out.
pub(crate) fn approval_facts(data: &Value) -> Vec<(&'static str, String)> {
    let action = match (field(data, "action_type"), field(data, "target")) {
        ("", "") => field(data, "summary").to_string(),
        (a, "") => a.to_string(),
        (a, t) => format!("{a}: {t}"),
    };
    [
        ("Action", action),
        ("Rule", field(data, "rule_id").to_string()),
        ("Reason", field(data, "reason").to_string()),
        ("Session", field(data, "session_id").to_string()),
        ("Repository", field(data, "repository").to_string()),
        ("Requested by", field(data, "requested_by").to_string()),
        ("Approver group", field(data, "approver_group").to_string()),
        ("Expires", field(data, "expires_at").to_string()),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect()
}

/// A one-line headline of any event for people: `decision.block: execute_command: rm -rf /
/// (rule, reason)`.
pub(crate) fn headline(kind: &str, data: &Value) -> String {
    let what = match (field(data, "action_type"), field(data, "target")) {
        ("", "") => field(data, "summary").to_string(),
        (a, t) => format!("{a}: {t}"),
    };
    let why = [field(data, "rule_id"), field(data, "reason")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    match (what.is_empty(), why.is_empty()) {
        (true, true) => kind.to_string(),
        (false, true) => format!("{kind}: {what}"),
        (true, false) => format!("{kind} ({why})"),
        (false, false) => format!("{kind}: {what} ({why})"),
    }
}

/// Whether an event type is an alert (a block, break glass): such events go to the alerts
/// channel.
pub(crate) fn is_alert(kind: &str) -> bool {
    matches!(
        kind,
        "decision.block" | "decision.break_glass" | "approval.break_glass"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hmac_matches_known_values_in_constant_time() {
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(hmac_matches(
            b"Jefe",
            &[b"what do ya want for nothing?"],
            &mac
        ));
        assert!(!hmac_matches(
            b"Jefe",
            &[b"what do ya want for nothing!"],
            &mac
        ));
        assert!(!hmac_matches(
            b"Jefe",
            &[b"what do ya want for nothing?"],
            &mac[..31]
        ));
    }

    #[test]
    fn the_replay_guard_remembers_until_expiry_and_is_bounded() {
        let g = ReplayGuard::default();
        assert_eq!(g.first_time_within(b"a", 100, 0, 2), Ok(()));
        assert_eq!(g.first_time_within(b"a", 100, 50, 2), Err(Seen::Replayed));
        assert_eq!(g.first_time_within(b"b", 10, 0, 2), Ok(()));
        // Full of valid entries: refused, not forgotten.
        assert_eq!(g.first_time_within(b"c", 100, 5, 2), Err(Seen::Full));
        // Once `b` expired it makes room.
        assert_eq!(g.first_time_within(b"c", 100, 11, 2), Ok(()));
        assert_eq!(g.first_time_within(b"a", 200, 101, 2), Ok(()), "a expired");
    }

    #[test]
    fn facts_and_headlines_read_the_event() {
        let data = json!({"action_type": "execute_command", "target": "terraform apply",
            "rule_id": "cloud.apply", "reason": "changes infrastructure", "session_id": "s1",
            "repository": "acme/infra", "expires_at": "2026-01-01T00:00:00.000Z", "summary": "x"});
        let facts = approval_facts(&data);
        assert_eq!(
            facts[0],
            ("Action", "execute_command: terraform apply".to_string())
        );
        assert!(
            facts
                .iter()
                .any(|(k, v)| *k == "Repository" && v == "acme/infra")
        );
        assert!(!facts.iter().any(|(k, _)| *k == "Approver group"));
        assert_eq!(
            headline("decision.block", &data),
            "decision.block: execute_command: terraform apply (cloud.apply: changes infrastructure)"
        );
        assert_eq!(cut("abcdef", 4), "abc…");
        assert!(is_alert("decision.break_glass") && !is_alert("approval.requested"));
    }
}

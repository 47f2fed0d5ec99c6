//! The records the service stores. Every record belongs to exactly one tenant; every query
//! takes the tenant and never returns another tenant's rows.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::entitlement::{Entitlement, EntitlementStatus};
pub use cavra_engine::{ActionType, Decision};
pub use cavra_store::{
    ApprovalState, DecisionFilter, GrantUse, HistoryEntry, NewApproval, Timestamp, Transition,
};

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Its id (`[a-z0-9][a-z0-9_-]*`, chosen by the admin).
    pub id: String,
    /// A display name.
    pub name: String,
    /// When it was created (RFC 3339).
    pub created_at: String,
}

/// An API token as stored: never the secret, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The public lookup id (part of the token text).
    pub id: String,
    /// The tenant it acts in.
    pub tenant: String,
    /// Who it stands for.
    pub subject: String,
    /// Role words (`agent`, `approver`, `auditor`, `admin`).
    pub roles: Vec<String>,
    /// Approver groups its holder belongs to.
    pub groups: Vec<String>,
    /// Hex SHA-256 of the secret.
    pub digest: String,
    /// When it was created.
    pub created_at: String,
    /// After this it is refused; None: never expires.
    pub expires_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

impl TokenRecord {
    /// `revoked`, `expired` (at or after `expires_at` as of `now`) or `active`: what a listing
    /// shows, the same test authentication applies. An expiry that does not read as an
    /// RFC 3339 time counts as expired (authentication refuses such a token too).
    pub fn state(&self, now: time::OffsetDateTime) -> &'static str {
        if self.revoked_at.is_some() {
            return "revoked";
        }
        match &self.expires_at {
            None => "active",
            Some(at) => match time::OffsetDateTime::parse(
                at,
                &time::format_description::well_known::Rfc3339,
            ) {
                Ok(t) if t > now => "active",
                _ => "expired",
            },
        }
    }
}

/// A decision to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDecision {
    /// Decision id (globally unique).
    pub decision_id: String,
    /// Agent session.
    pub session_id: Option<String>,
    /// Agent id.
    pub agent: Option<String>,
    /// The authenticated caller that asked.
    pub requested_by: String,
    /// What kind of action.
    pub action_type: ActionType,
    /// The effective decision.
    pub decision: Decision,
    /// Deciding rule.
    pub rule_id: String,
    /// The record's time.
    pub timestamp: Timestamp,
    /// The action's fingerprint.
    pub fingerprint: String,
    /// Digest of the pack that decided.
    pub policy_digest: String,
    /// The full decision record (the store redacts it).
    pub record: RecordInput,
}

/// A decision's record as it is given to the store.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordInput {
    /// Any JSON value: redacted by walking it, then made canonical.
    Json(Value),
    /// The engine's record (the service's decisions): written out once, redacted as it is
    /// written, in canonical form and in its own field order in the same pass. The bytes are
    /// those of [`RecordInput::Json`] with `serde_json::to_value` of the same record.
    Decided(Box<DecidedRecord>),
}

impl Default for RecordInput {
    fn default() -> Self {
        RecordInput::Json(Value::Null)
    }
}

impl From<Value> for RecordInput {
    fn from(v: Value) -> Self {
        RecordInput::Json(v)
    }
}

/// The engine's record of a decision as the service stores it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecidedRecord {
    /// The record (its `actor` is who authenticated).
    #[serde(flatten)]
    pub record: cavra_engine::DecisionRecord,
    /// The actor named in the request by an account allowed to act for others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_actor: Option<String>,
}

/// A stored decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredDecision {
    /// Decision id.
    pub decision_id: String,
    /// Agent session.
    pub session_id: Option<String>,
    /// Agent id.
    pub agent: Option<String>,
    /// Who asked.
    pub requested_by: String,
    /// What kind of action.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub action_type: ActionType,
    /// The effective decision.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub decision: Decision,
    /// Deciding rule.
    pub rule_id: String,
    /// Time.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub timestamp: Timestamp,
    /// Fingerprint.
    pub fingerprint: String,
    /// Pack digest.
    pub policy_digest: String,
    /// The evidence log entry that records it.
    pub log_index: Option<u64>,
    /// The full (redacted) record.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub record: Value,
}

/// A session's summary, computed from its decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionSummary {
    /// Session id.
    pub id: String,
    /// Agent.
    pub agent: Option<String>,
    /// First decision.
    pub first_seen: String,
    /// Latest decision.
    pub last_seen: String,
    /// Decisions recorded.
    pub decisions: i64,
    /// Of which blocked.
    pub blocked: i64,
    /// Of which routed for approval.
    pub approvals: i64,
    /// Of which warned.
    pub warned: i64,
}

/// An approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Approval {
    /// Its id (`apr_…`).
    pub id: String,
    /// The decision that asked for it.
    pub decision_id: String,
    /// The action fingerprint it unlocks.
    pub fingerprint: String,
    /// The agent session that asked.
    pub session_id: Option<String>,
    /// Who may decide it.
    pub approver_group: String,
    /// The authenticated caller that asked (never allowed to decide it).
    pub requested_by: String,
    /// When it was asked for.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub requested_at: Timestamp,
    /// After this it unlocks nothing (enforced in every query that grants).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub expires_at: Timestamp,
    /// Its state: pending, approved, denied, expired, break_glass, consumed.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub state: ApprovalState,
    /// Who decided it.
    pub decided_by: Option<String>,
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub decided_at: Option<Timestamp>,
    /// Why.
    pub reason: Option<String>,
    /// What is asked for, redacted.
    pub summary: String,
    /// Once or until expiry.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub grant: GrantUse,
    /// Times the grant was used.
    pub uses: i64,
    /// Every transition.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub history: Vec<HistoryEntry>,
}

/// Everything one decision writes, in one transaction with its evidence entries.
#[derive(Debug, Clone)]
pub struct DecisionWrite {
    /// The decision.
    pub decision: NewDecision,
    /// A new approval it asks for.
    pub new_approval: Option<NewApproval>,
    /// A granted approval it uses: the write fails with [`crate::StoreError::Conflict`]
    /// if that approval is no longer usable (decided elsewhere, used up, expired).
    pub use_grant: Option<String>,
}

/// What recording a decision produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// The decision's evidence entry.
    pub log_index: u64,
    /// The decision record as stored: redacted, the body's `record` of that entry (null for
    /// a [`RecordInput::Decided`] record: see `record_json`).
    pub record: serde_json::Value,
    /// For a [`RecordInput::Decided`] record, the record as stored as JSON text, in its own
    /// field order: `serde_json::to_string` of what `record` would hold.
    pub record_json: Option<String>,
    /// The approval created, when any.
    pub approval_id: Option<String>,
}

/// What a transition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// Done; the approval as it is now.
    Done(Approval),
    /// No such approval in this tenant.
    NotFound,
    /// The approval was not in a state it could leave (or the caller asked for it, or it
    /// expired); the approval as it is.
    Conflict(Approval),
}

/// A policy pack uploaded to a tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredPack {
    /// `sha256:…` of its canonical form.
    pub digest: String,
    /// Its `metadata.id`.
    pub pack_id: String,
    /// Its source text.
    pub document: String,
    /// Who signed it (the verified signature), when signed.
    pub signed_by: Option<Value>,
    /// When.
    pub uploaded_at: String,
    /// Who uploaded it.
    pub uploaded_by: String,
}

/// Which pack decides for a tenant (`scope` empty) or one repository of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    /// `""` for the whole tenant, else the repository.
    pub scope: String,
    /// The pack: a digest of an uploaded pack or `builtin:<id>`.
    pub pack: String,
    /// When.
    pub assigned_at: String,
    /// By whom.
    pub assigned_by: String,
}

/// What kind of registry record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryKind {
    /// An agent.
    Agent,
    /// An MCP server.
    McpServer,
}

impl RegistryKind {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistryKind::Agent => "agent",
            RegistryKind::McpServer => "mcp_server",
        }
    }
}

/// A registry record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegistryRecord {
    /// Agent or MCP server.
    pub kind: RegistryKind,
    /// Its name (unique per tenant and kind).
    pub name: String,
    /// The record.
    pub record: Value,
    /// When it last changed.
    pub updated_at: String,
    /// Who changed it.
    pub updated_by: String,
}

/// Filters for evidence entries (oldest first).
#[derive(Debug, Clone, Default)]
pub struct EntryQuery {
    /// Only this kind (`decision`, `approval`, …).
    pub kind: Option<String>,
    /// Only this session.
    pub session_id: Option<String>,
    /// Only entries about this record (decision or approval id).
    pub ref_id: Option<String>,
    /// At or after this time.
    pub since: Option<String>,
    /// Before this time.
    pub until: Option<String>,
    /// Only entries with a larger index.
    pub after_index: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

/// An evidence entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntryRecord {
    /// Its position in the tenant's log.
    pub index: u64,
    /// Kind.
    pub kind: String,
    /// The record it is about.
    pub ref_id: Option<String>,
    /// Session.
    pub session_id: Option<String>,
    /// Time.
    pub timestamp: String,
    /// Hex leaf hash.
    pub leaf_hash: String,
    /// The canonical entry.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub entry: Value,
}

/// A tenant log's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogHead {
    /// The log's id.
    pub log_id: String,
    /// Entries.
    pub size: u64,
    /// Hex tree head.
    pub root_hash: String,
}

/// A signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointRecord {
    /// Entries covered.
    pub tree_size: u64,
    /// Hex tree head.
    pub root_hash: String,
    /// When signed.
    pub timestamp: String,
    /// Key id.
    pub key_id: String,
    /// The DSSE envelope (JSON).
    pub envelope: String,
}

/// Pending approvals by tenant and group, for the metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    /// Tenant.
    pub tenant: String,
    /// Approver group.
    pub approver_group: String,
    /// Pending approvals.
    pub pending: i64,
}

#[cfg(test)]
mod token_state_tests {
    use super::TokenRecord;

    #[test]
    fn a_token_past_its_expiry_is_listed_as_expired() {
        let now = time::macros::datetime!(2026-06-01 12:00 UTC);
        let mut t = TokenRecord {
            id: "t".into(),
            tenant: "a".into(),
            subject: "s".into(),
            roles: vec!["agent".into()],
            groups: vec![],
            digest: String::new(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            expires_at: None,
            revoked_at: None,
        };
        assert_eq!(t.state(now), "active");
        t.expires_at = Some("2026-06-01T12:00:01.000Z".into());
        assert_eq!(t.state(now), "active");
        t.expires_at = Some("2026-06-01T12:00:00.000Z".into());
        assert_eq!(t.state(now), "expired");
        t.expires_at = Some("soon".into());
        assert_eq!(t.state(now), "expired");
        t.revoked_at = Some("2026-05-01T00:00:00.000Z".into());
        assert_eq!(t.state(now), "revoked");
    }
}

//! The records the service stores. Every record belongs to exactly one tenant; every query
//! takes the tenant and never returns another tenant's rows.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::entitlement::{Entitlement, EntitlementStatus};
pub use cavra_engine::{ActionType, Decision};
pub use cavra_store::{
    ApprovalState, DecisionFilter, GrantUse, HistoryEntry, NewApproval, Subject, Timestamp,
    Transition,
};

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Its id (`[a-z0-9][a-z0-9_-]*`, chosen by the admin).
    pub id: String,
    /// A display name.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// An API token as stored: the identity crate's record, which authentication checks.
pub use cavra_identity::TokenRecord;

/// A decision to record: the stores' one shape with what the service takes with it.
pub type NewDecision = cavra_store::NewDecision<Caller>;

/// What only the service's store takes with a new decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// The authenticated caller that asked.
    pub requested_by: String,
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

/// The engine's record of a decision as the service stores it: the record's members, then
/// `claimed_actor` when there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct DecidedRecord {
    /// The record (its `actor` is who authenticated).
    pub record: cavra_engine::DecisionRecord,
    /// The actor named in the request by an account allowed to act for others.
    pub claimed_actor: Option<String>,
}

impl Serialize for DecidedRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.claimed_actor {
            // Every decision but an act-for-others account's: the engine's record as it is, a
            // struct with static keys. Through `#[serde(flatten)]` it would be a map whose
            // keys the service's redacting writer receives one by one as borrowed text and
            // copies (about thirty allocations per decision); the JSON is the same.
            None => self.record.serialize(serializer),
            Some(claimed_actor) => {
                #[derive(Serialize)]
                struct WithClaimed<'a> {
                    #[serde(flatten)]
                    record: &'a cavra_engine::DecisionRecord,
                    claimed_actor: &'a str,
                }
                WithClaimed {
                    record: &self.record,
                    claimed_actor,
                }
                .serialize(serializer)
            }
        }
    }
}

/// A stored decision: the stores' one shape with what the service keeps of it.
pub type StoredDecision = cavra_store::StoredDecision<Provenance>;

/// What only the service's store keeps of a decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Provenance {
    /// Agent id.
    pub agent: Option<String>,
    /// Who asked.
    pub requested_by: String,
    /// Pack digest.
    pub policy_digest: String,
    /// The evidence log entry that records it.
    pub log_index: Option<u64>,
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
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub first_seen: Timestamp,
    /// Latest decision.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub last_seen: Timestamp,
    /// Decisions recorded.
    pub decisions: i64,
    /// Of which blocked.
    pub blocked: i64,
    /// Of which routed for approval.
    pub approvals: i64,
    /// Of which warned.
    pub warned: i64,
}

/// An approval: the stores' one shape with what the service keeps of it.
pub type Approval = cavra_store::Approval<Grant>;

/// What only the service's store keeps of an approval.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Once or until expiry.
    pub grant: GrantUse,
    /// Times the grant was used.
    pub uses: i64,
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
    pub uploaded_at: Timestamp,
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
    pub assigned_at: Timestamp,
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
    pub updated_at: Timestamp,
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
    pub since: Option<Timestamp>,
    /// Before this time.
    pub until: Option<Timestamp>,
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
    // The stored text, not a `Timestamp`: the log is read to be checked, and a damaged row
    // must come back to be reported rather than refuse to read.
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

/// A token's columns as both backends store them: roles and groups as JSON lists, the digest
/// as hex, times as the stores' text ([`Timestamp`]); the record's other fields are stored as
/// they are.
pub(crate) struct TokenColumns {
    /// `["agent"]`.
    pub roles: String,
    /// `["sre"]`.
    pub groups: String,
    /// Hex SHA-256 of the secret.
    pub digest: String,
    /// When it was created.
    pub created_at: String,
    /// When it expires.
    pub expires_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

impl TokenColumns {
    /// The columns of `t`.
    pub fn of(t: &TokenRecord) -> crate::Result<Self> {
        let text = |at: time::OffsetDateTime| {
            Timestamp::at(at)
                .map(Timestamp::text)
                .map_err(|e| crate::StoreError::Time(format!("token {}: {e}", t.id)))
        };
        Ok(TokenColumns {
            roles: serde_json::to_string(&t.roles)?,
            groups: serde_json::to_string(&t.groups)?,
            digest: t.digest.to_hex(),
            created_at: text(t.created_at)?,
            expires_at: t.expires_at.map(text).transpose()?,
            revoked_at: t.revoked_at.map(text).transpose()?,
        })
    }

    /// The record of token `id` (of `tenant`, standing for `subject`) with these columns; a
    /// column that does not read back is [`crate::StoreError::Corrupt`].
    pub fn into_record(
        self,
        id: String,
        tenant: String,
        subject: String,
    ) -> crate::Result<TokenRecord> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            crate::StoreError::Corrupt(format!("token {id} {what}: {e}"))
        };
        let time = |what: &str, s: &str| {
            Timestamp::parse(s)
                .map(Timestamp::time)
                .map_err(|e| corrupt(what, &e))
        };
        Ok(TokenRecord {
            roles: serde_json::from_str(&self.roles).map_err(|e| corrupt("roles", &e))?,
            groups: serde_json::from_str(&self.groups).map_err(|e| corrupt("groups", &e))?,
            digest: cavra_identity::TokenDigest::from_hex(&self.digest)
                .map_err(|e| corrupt("digest", &e))?,
            created_at: time("created_at", &self.created_at)?,
            expires_at: self
                .expires_at
                .as_deref()
                .map(|s| time("expires_at", s))
                .transpose()?,
            revoked_at: self
                .revoked_at
                .as_deref()
                .map(|s| time("revoked_at", s))
                .transpose()?,
            id,
            tenant,
            subject,
        })
    }
}

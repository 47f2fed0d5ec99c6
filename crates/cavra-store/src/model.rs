//! The local store's records: decisions, sessions, outcomes and approvals, as recorded and read.

use super::*;
pub use cavra_engine::{ActionType, Decision};

/// A new approval's id (`apr_` and a UUID v7, which sorts by time), in both stores.
pub fn new_approval_id() -> String {
    format!("apr_{}", uuid::Uuid::now_v7().simple())
}

/// Formats a time as fixed-width RFC 3339 UTC with milliseconds, so that text order is time
/// order (queries compare these strings): the text of [`Timestamp`].
pub fn format_time(t: OffsetDateTime) -> Result<String> {
    Timestamp::at(t)
        .map(|t| t.to_string())
        .map_err(|e| StoreError::Time(e.to_string()))
}

/// `t` as the stores keep it ([`Timestamp`]).
pub fn stamp(t: OffsetDateTime) -> Result<Timestamp> {
    Timestamp::at(t).map_err(|e| StoreError::Time(e.to_string()))
}

/// Parses an RFC 3339 time.
pub fn parse_time(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| StoreError::Time(format!("`{s}`: {e}")))
}

/// The state of an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// Waiting for a decision.
    Pending,
    /// Approved; unlocks one matching request before it expires.
    Approved,
    /// Denied; unlocks nothing.
    Denied,
    /// Past `expires_at` before it was used; unlocks nothing.
    Expired,
    /// Approved under break glass (recorded by other entry points).
    BreakGlass,
    /// Used once; unlocks nothing more.
    Consumed,
}

impl ApprovalState {
    /// Every state.
    pub const ALL: [ApprovalState; 6] = [
        ApprovalState::Pending,
        ApprovalState::Approved,
        ApprovalState::Denied,
        ApprovalState::Expired,
        ApprovalState::BreakGlass,
        ApprovalState::Consumed,
    ];

    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
            ApprovalState::BreakGlass => "break_glass",
            ApprovalState::Consumed => "consumed",
        }
    }
}

impl fmt::Display for ApprovalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApprovalState {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        ApprovalState::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown approval state `{s}` (expected one of: {})",
                    ApprovalState::ALL.map(|x| x.as_str()).join(", ")
                )
            })
    }
}

/// Who answers an approval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalRoute {
    /// A member of the approver group, with `cavra approval approve|deny`.
    #[default]
    Approver,
    /// The person at the agent's own permission prompt (the hook's ask mode): the agent's
    /// tool result closes it as approved, and no result before expiry closes it as declined
    /// or abandoned. It records the question and its answer; it unlocks nothing.
    AgentPrompt,
}

impl ApprovalRoute {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalRoute::Approver => "approver",
            ApprovalRoute::AgentPrompt => "agent_prompt",
        }
    }
}

impl FromStr for ApprovalRoute {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        [ApprovalRoute::Approver, ApprovalRoute::AgentPrompt]
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown approval route `{s}`"))
    }
}

/// How an approval may be used once granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GrantUse {
    /// One retry of the exact action.
    #[default]
    Once,
    /// Every retry of the exact action until it expires.
    UntilExpiry,
}

impl GrantUse {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantUse::Once => "once",
            GrantUse::UntilExpiry => "until_expiry",
        }
    }

    /// Reads the stored word (anything else is `once`, the stricter reading).
    pub fn parse(s: &str) -> GrantUse {
        if s == "until_expiry" {
            GrantUse::UntilExpiry
        } else {
            GrantUse::Once
        }
    }
}

/// A state change of an approval in the service's store, applied only if the approval is still
/// in one of `from`: the terms `cavra_runtime::approvals::transition` works out for a step, which
/// the store applies as one compare-and-set.
#[derive(Debug, Clone)]
pub struct Transition {
    /// The new state.
    pub to: ApprovalState,
    /// The states it may leave.
    pub from: Vec<ApprovalState>,
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: Option<String>,
    /// When.
    pub at: Timestamp,
    /// A new expiry (break-glass shortens it).
    pub expires_at: Option<Timestamp>,
    /// How the grant may be used.
    pub grant: Option<GrantUse>,
    /// When set, the transition is refused if the approval was asked for by this caller.
    pub not_requested_by: Option<String>,
    /// When set, only approvals that have not expired at this time move.
    pub unexpired_at: Option<Timestamp>,
}

/// One entry of an approval's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When.
    pub at: Timestamp,
    /// The state entered.
    pub state: ApprovalState,
    /// Who (or `cavra` for automatic transitions).
    pub actor: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An approval as a store keeps it. Both stores keep these fields; `E` holds what only one
/// keeps ([`AtPrompt`] in the repository's store: who answers it and the agent's tool call; the
/// service's `Grant`: how the grant may be used and how often it was), written in place after
/// `summary` (serde's `flatten`), so each store's JSON has the fields it always had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval<E = AtPrompt> {
    /// Its id (`apr_…`).
    pub id: String,
    /// The decision that asked for it.
    pub decision_id: String,
    /// The action fingerprint it unlocks.
    pub fingerprint: String,
    /// The agent session that asked.
    pub session_id: Option<String>,
    /// Who may approve.
    pub approver_group: String,
    /// Who asked (the repository's store: the agent and session; the service: the
    /// authenticated caller, never allowed to decide it).
    pub requested_by: String,
    /// When it was asked for.
    pub requested_at: Timestamp,
    /// After this it unlocks nothing (enforced in every query that grants).
    pub expires_at: Timestamp,
    /// Its state.
    pub state: ApprovalState,
    /// Who approved or denied it.
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<Timestamp>,
    /// Why.
    pub reason: Option<String>,
    /// What is asked for, redacted, for the approver (`execute_command: make deploy`).
    pub summary: String,
    /// What only this store keeps.
    #[serde(flatten)]
    pub extra: E,
    /// Every transition.
    pub history: Vec<HistoryEntry>,
}

/// What only the repository's store keeps of an approval: who answers it, and the agent's tool
/// call asked about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtPrompt {
    /// Who answers it.
    #[serde(default)]
    pub route: ApprovalRoute,
    /// The agent's id of the tool call asked about (agent-prompt approvals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
}

/// A decision to record, in either store. `E` holds what only one store takes with it
/// ([`ToolCall`] in the repository's store: the agent's folder and tool call, and the record
/// already redacted; the service's `Caller`: who asked, the pack's digest and the record as the
/// service gives it).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDecision<E = ToolCall> {
    /// Decision id.
    pub decision_id: String,
    /// Agent session.
    pub session_id: Option<String>,
    /// Agent (`claude-code`).
    pub agent: Option<String>,
    /// What the decision was about.
    pub action_type: Subject,
    /// The effective decision.
    pub decision: Decision,
    /// Deciding rule.
    pub rule_id: String,
    /// The record's time.
    pub timestamp: Timestamp,
    /// Action fingerprint.
    pub fingerprint: String,
    /// What only this store takes.
    pub extra: E,
}

/// What only the repository's store takes with a new decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolCall {
    /// The agent's working folder.
    pub cwd: Option<String>,
    /// The agent's tool call id.
    pub tool_use_id: Option<String>,
    /// The full decision record, already redacted.
    pub record: Value,
}

/// A decision as a store keeps it. Both stores keep these fields; `E` holds what only one
/// keeps ([`ToolUse`] in the repository's store: the agent's tool call; the service's
/// `Provenance`: the agent, who asked, the pack's digest, the log entry), written in place after
/// `session_id` (serde's `flatten`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredDecision<E = ToolUse> {
    /// Decision id.
    pub decision_id: String,
    /// Agent session.
    pub session_id: Option<String>,
    /// What only this store keeps.
    #[serde(flatten)]
    pub extra: E,
    /// What the decision was about.
    pub action_type: Subject,
    /// The effective decision.
    pub decision: Decision,
    /// Deciding rule.
    pub rule_id: String,
    /// Timestamp.
    pub timestamp: Timestamp,
    /// Fingerprint.
    pub fingerprint: String,
    /// The full (redacted) record.
    pub record: Value,
}

/// What only the repository's store keeps of a decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ToolUse {
    /// Tool call id.
    pub tool_use_id: Option<String>,
}

/// A session's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Session id.
    pub id: String,
    /// Agent.
    pub agent: Option<String>,
    /// First decision.
    pub first_seen: Timestamp,
    /// Latest decision (or outcome).
    pub last_seen: Timestamp,
    /// Working folder.
    pub cwd: Option<String>,
    /// Decisions recorded.
    pub decisions: i64,
    /// Of which blocked.
    pub blocked: i64,
    /// Of which routed for approval.
    pub approvals: i64,
    /// Of which warned.
    pub warned: i64,
    /// Outcomes recorded (PostToolUse).
    pub outcomes: i64,
}

/// A tool call's outcome (PostToolUse).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Tool call id.
    pub tool_use_id: Option<String>,
    /// The decision it followed, when known.
    pub decision_id: Option<String>,
    /// Session.
    pub session_id: Option<String>,
    /// Whether the tool reported success (None: not reported).
    pub success: Option<bool>,
    /// For writes: `sha256:…` of the file after the write.
    pub sha256: Option<String>,
    /// The file written, when any.
    pub path: Option<String>,
    /// When.
    pub timestamp: Timestamp,
}

/// What a decision in the repository's store is about: an action, in the engine's words, or
/// the hook's own input, recorded (blocked) when the hook could not read what the agent sent
/// and so has no action to name. Stored and shown as its word (`execute_command`,
/// `hook_input`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// An action the engine decided.
    Action(ActionType),
    /// Input the hook could not read.
    HookInput,
}

impl Subject {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Action(a) => a.as_str(),
            Subject::HookInput => "hook_input",
        }
    }
}

impl From<ActionType> for Subject {
    fn from(a: ActionType) -> Self {
        Subject::Action(a)
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Subject {
    type Err = <ActionType as FromStr>::Err;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        if s == "hook_input" {
            return Ok(Subject::HookInput);
        }
        s.parse().map(Subject::Action)
    }
}

impl Serialize for Subject {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Filters for listing decisions, newest first: the same filter for the repository's store
/// ([`Store::decisions`]) and the service's tenant store.
#[derive(Debug, Clone, Default)]
pub struct DecisionFilter {
    /// Only this session.
    pub session_id: Option<String>,
    /// Only this decision.
    pub decision: Option<Decision>,
    /// Only this kind of action.
    pub action_type: Option<ActionType>,
    /// At or after this time (compared as the stored text, whose order is time order).
    pub since: Option<Timestamp>,
    /// Before this time.
    pub until: Option<Timestamp>,
    /// Only decisions by this rule.
    pub rule_id: Option<String>,
    /// Only decisions asked for by this actor (the service: the authenticated caller; a
    /// repository's store: the record's actor).
    pub requested_by: Option<String>,
    /// Only decisions whose request named this repository (`org/name`, the record's
    /// `repository`).
    pub repository: Option<String>,
    /// Only decisions after the decision of this id in the list's order (keyset pagination:
    /// the last id of a page gives the next page); an unknown id gives none. The service's
    /// store lists by time, then by the order of recording among decisions of the same time;
    /// a repository's store by the order of recording.
    pub before: Option<String>,
    /// At most this many; None: all.
    pub limit: Option<usize>,
}

/// An approval to ask for, in either store: its terms, worked out before the write by
/// `cavra_runtime::approvals::ask_terms` (the local store and the service's store take the
/// same shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApproval {
    /// Its id (`apr_…`, [`new_approval_id`]).
    pub id: String,
    /// The decision that asked.
    pub decision_id: String,
    /// The action fingerprint.
    pub fingerprint: String,
    /// The session.
    pub session_id: Option<String>,
    /// Who may approve.
    pub approver_group: String,
    /// Who asks.
    pub requested_by: String,
    /// What is asked for, redacted.
    pub summary: String,
    /// When it is asked for.
    pub requested_at: Timestamp,
    /// After this it can no longer be decided or used.
    pub expires_at: Timestamp,
}

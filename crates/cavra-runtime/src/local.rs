//! The repository's local store: opened to record or only to read, and approvals against it
//! (the hook and the MCP governor): the store calls around [`crate::approvals::resolve`],
//! written once.

use crate::approvals::{Found, GrantState, Resolution, approval_fingerprint, note_new, resolve};
use cavra_engine::{DecisionRecord, Request};
use cavra_store::{Approval, ApprovalState, NewApproval, Store, StoreError};
use std::time::Duration;
use time::OffsetDateTime;

/// Where a missing approval is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// Nowhere: the record's decision stands (an agent that cannot ask its person).
    Nowhere,
    /// A pending approval in the store, for a member of the approver group (headless runs).
    Approver,
    /// The agent's own permission prompt (ask mode): a pending approval routed to the person
    /// there records the question; the agent's tool result or expiry closes it.
    AgentPrompt {
        /// The agent's id of the tool call, which its result carries too.
        tool_use_id: Option<String>,
    },
}

/// Who asks, and where a missing approval is asked for.
#[derive(Debug, Clone)]
pub struct Asking {
    /// The requester (`agent:session`); only they can use a grant.
    pub requested_by: String,
    /// The agent session.
    pub session_id: Option<String>,
    /// How long a new approval stays valid.
    pub ttl: Duration,
    /// Where a missing approval is asked for.
    pub ask: Ask,
    /// What is asked for, redacted, for the approver's list.
    pub summary: String,
}

/// What came of a decision that needs approval.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A grant for exactly this context was used: the record allows.
    Used(Approval),
    /// The approval was denied: the record blocks.
    Denied(Approval),
    /// An approval is pending (or granted to another requester).
    Pending(Approval),
    /// A pending approval was created, for the approver group.
    Created(Approval),
    /// The person at the agent's prompt is asked; this pending approval records it.
    Asked(Approval),
    /// None exists and none was asked for ([`Ask::Nowhere`]).
    None,
}

/// Looks up, uses or asks for the approval of `record` (which needs one), bound to its full
/// context. The record is updated as [`resolve`] says.
pub fn resolve_in_store(
    store: &mut Store,
    request: &Request,
    record: &mut DecisionRecord,
    asking: &Asking,
    now: OffsetDateTime,
) -> Result<Outcome, StoreError> {
    let group = record
        .approver_group
        .clone()
        .unwrap_or_else(|| cavra_engine::evaluate::DEFAULT_APPROVER_GROUP.to_string());
    let fingerprint = approval_fingerprint(request, record, &group);
    let granted = store.consume_approval(&fingerprint, &asking.requested_by, now)?;
    let open = match &granted {
        Some(_) => None,
        None => store.open_approval(&fingerprint, now)?,
    };
    let found = match (&granted, &open) {
        (Some(a), _) => Some(view(a, GrantState::Approved)),
        // Approved for another requester: not usable here, so it reads as waiting.
        (None, Some(a)) if a.state == ApprovalState::Denied => Some(view(a, GrantState::Denied)),
        (None, Some(a)) => Some(view(a, GrantState::Pending)),
        (None, None) => None,
    };
    Ok(match resolve(record, found, &group) {
        Resolution::Use { .. } => granted.map_or(Outcome::None, Outcome::Used),
        Resolution::Denied { .. } => open.map_or(Outcome::None, Outcome::Denied),
        Resolution::Pending { .. } => open.map_or(Outcome::None, Outcome::Pending),
        Resolution::Ask { group } if asking.ask != Ask::Nowhere => {
            let new = NewApproval {
                decision_id: record.decision_id.clone(),
                fingerprint,
                session_id: asking.session_id.clone(),
                approver_group: group,
                requested_by: asking.requested_by.clone(),
                summary: asking.summary.clone(),
                ttl: asking.ttl,
            };
            match &asking.ask {
                Ask::AgentPrompt { tool_use_id } => {
                    let (asked, _) = store.ask_at_prompt(&new, tool_use_id.as_deref(), now)?;
                    note_new(record, &asked.id);
                    Outcome::Asked(asked)
                }
                _ => {
                    let created = store.create_approval(&new, now)?;
                    note_new(record, &created.id);
                    Outcome::Created(created)
                }
            }
        }
        Resolution::Ask { .. } | Resolution::NotNeeded => Outcome::None,
    })
}

/// The runtime's view of a stored approval.
fn view(a: &Approval, state: GrantState) -> Found<'_> {
    Found {
        id: &a.id,
        state,
        approver_group: &a.approver_group,
        decided_by: a.decided_by.as_deref(),
        reason: a.reason.as_deref(),
    }
}

/// The repository's store opened to record, its log key attached (read only when a
/// checkpoint is due); `None` when nothing was ever recorded there (nothing is created).
pub fn open_existing(repo_root: &std::path::Path) -> Result<Option<Store>, StoreError> {
    let path = cavra_store::store_path(repo_root);
    if !path.exists() {
        return Ok(None);
    }
    let mut store = Store::open(&path)?;
    crate::keyfiles::attach_log_key(&mut store, repo_root);
    Ok(Some(store))
}

/// The repository's store opened only to read (listings, verification): creates nothing, not
/// even its `-wal` file; `None` when nothing was ever recorded there.
pub fn open_readable(repo_root: &std::path::Path) -> Result<Option<Store>, StoreError> {
    let path = cavra_store::store_path(repo_root);
    if !path.exists() {
        return Ok(None);
    }
    Store::open_read_only(&path).map(Some)
}

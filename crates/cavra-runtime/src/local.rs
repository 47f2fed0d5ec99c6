//! Approvals against the repository's local store (the hook and the MCP governor): the store
//! calls around [`crate::approvals::resolve`], written once.

use crate::approvals::{Found, GrantState, Resolution, approval_fingerprint, note_new, resolve};
use cavra_engine::{DecisionRecord, Request};
use cavra_store::{Approval, ApprovalState, NewApproval, Store, StoreError};
use std::time::Duration;
use time::OffsetDateTime;

/// Who asks, and whether a missing approval is asked for.
#[derive(Debug, Clone)]
pub struct Asking {
    /// The requester (`agent:session`); only they can use a grant.
    pub requested_by: String,
    /// The agent session.
    pub session_id: Option<String>,
    /// How long a new approval stays valid.
    pub ttl: Duration,
    /// Whether to create a pending approval when there is none (headless runs); otherwise the
    /// agent asks its person and nothing is stored.
    pub create: bool,
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
    /// A pending approval was created.
    Created(Approval),
    /// None exists and none was created (`create` off).
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
        Resolution::Ask { group } if asking.create => {
            let created = store.create_approval(
                &NewApproval {
                    decision_id: record.decision_id.clone(),
                    fingerprint,
                    session_id: asking.session_id.clone(),
                    approver_group: group,
                    requested_by: asking.requested_by.clone(),
                    summary: asking.summary.clone(),
                    ttl: asking.ttl,
                },
                now,
            )?;
            note_new(record, &created.id);
            Outcome::Created(created)
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

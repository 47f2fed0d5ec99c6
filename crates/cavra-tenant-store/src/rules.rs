//! The rules both backends apply to approvals: which transitions are allowed, what using a
//! grant does, and what the expiry sweep changes. Each backend only stores the result with a
//! compare-and-set, so SQLite and PostgreSQL decide identically.

use crate::types::*;

/// Applies a transition's rules to `a`; None when it may not move.
pub(crate) fn apply_transition(a: &Approval, t: &Transition) -> Option<Approval> {
    if !t.from.contains(&a.state) {
        return None;
    }
    if t.not_requested_by.as_deref() == Some(a.requested_by.as_str()) {
        return None;
    }
    if let Some(now) = t.unexpired_at
        && a.expires_at <= now
    {
        return None;
    }
    let mut next = a.clone();
    next.state = t.to;
    if matches!(
        t.to,
        ApprovalState::Approved | ApprovalState::Denied | ApprovalState::BreakGlass
    ) {
        next.decided_by = Some(t.actor.clone());
        next.decided_at = Some(t.at);
        next.reason = t.reason.clone();
    }
    if let Some(e) = &t.expires_at {
        next.expires_at = *e;
    }
    if let Some(g) = t.grant {
        next.extra.grant = g;
    }
    next.history.push(HistoryEntry {
        at: t.at,
        state: t.to,
        actor: t.actor.clone(),
        reason: t.reason.clone(),
    });
    Some(next)
}

/// Applies the use of a grant at `now`; None when it is not usable.
pub(crate) fn apply_use(a: &Approval, by: &str, now: Timestamp) -> Option<Approval> {
    if !matches!(a.state, ApprovalState::Approved | ApprovalState::BreakGlass)
        || a.expires_at <= now
        || a.requested_by != by
    {
        return None;
    }
    let mut next = a.clone();
    next.extra.uses += 1;
    if a.extra.grant == GrantUse::Once {
        next.state = ApprovalState::Consumed;
        next.history.push(HistoryEntry {
            at: now,
            state: ApprovalState::Consumed,
            actor: by.to_string(),
            reason: Some("used by a retry of the approved action".into()),
        });
    }
    Some(next)
}

/// The transition the expiry sweep applies.
pub(crate) fn expiry_transition(now: Timestamp) -> Transition {
    Transition {
        to: ApprovalState::Expired,
        from: vec![
            ApprovalState::Pending,
            ApprovalState::Approved,
            ApprovalState::BreakGlass,
        ],
        actor: "cavra".into(),
        reason: Some("expired".into()),
        at: now,
        expires_at: None,
        grant: None,
        not_requested_by: None,
        unexpired_at: None,
    }
}

/// The approval a decision asks for, as it is created: pending, asked for by the caller.
pub(crate) fn pending_approval(a: &NewApproval) -> Approval {
    Approval {
        id: a.id.clone(),
        decision_id: a.decision_id.clone(),
        fingerprint: a.fingerprint.clone(),
        session_id: a.session_id.clone(),
        approver_group: a.approver_group.clone(),
        requested_by: a.requested_by.clone(),
        requested_at: a.requested_at,
        expires_at: a.expires_at,
        state: ApprovalState::Pending,
        decided_by: None,
        decided_at: None,
        reason: None,
        summary: a.summary.clone(),
        extra: Grant {
            grant: GrantUse::Once,
            uses: 0,
        },
        history: vec![HistoryEntry {
            at: a.requested_at,
            state: ApprovalState::Pending,
            actor: a.requested_by.clone(),
            reason: None,
        }],
    }
}

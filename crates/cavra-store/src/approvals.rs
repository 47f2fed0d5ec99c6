//! Approvals answered by an approver: asked, approved or denied, expired, consumed once.

use super::*;

pub(crate) fn approval_event(
    a: &Approval,
    state: ApprovalState,
    actor: &str,
    reason: Option<&str>,
) -> Value {
    let mut event = json!({
        "approval_id": a.id,
        "decision_id": a.decision_id,
        "fingerprint": a.fingerprint,
        "session_id": a.session_id,
        "approver_group": a.approver_group,
        "requested_by": a.requested_by,
        "expires_at": a.expires_at,
        "summary": a.summary,
        "state": state.as_str(),
        "actor": actor,
        "reason": reason,
    });
    // Approver-routed events keep the shape they have always had in the log.
    if a.extra.route == ApprovalRoute::AgentPrompt {
        event["route"] = json!(a.extra.route.as_str());
        event["tool_use_id"] = json!(a.extra.tool_use_id);
    }
    event
}

impl Store {
    /// Asks for an approval (state pending), answered by a member of the approver group.
    pub fn create_approval(&mut self, a: &NewApproval) -> Result<Approval> {
        self.insert_approval(a, ApprovalRoute::Approver, None)
    }

    pub(crate) fn insert_approval(
        &mut self,
        a: &NewApproval,
        route: ApprovalRoute,
        tool_use_id: Option<&str>,
    ) -> Result<Approval> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let created = insert_approval_in(&tx, &mut appender!(self), a, route, tool_use_id)?;
        tx.commit()?;
        Ok(created)
    }

    /// One approval.
    pub fn approval(&self, id: &str) -> Result<Option<Approval>> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"),
                params![id],
                approval_row,
            )
            .optional()?;
        row.map(finish_approval).transpose()
    }

    /// Approvals, newest first, optionally in one state.
    pub fn approvals(&self, state: Option<ApprovalState>) -> Result<Vec<Approval>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE (?1 IS NULL OR state = ?1) ORDER BY requested_at DESC, id DESC"
        ))?;
        let rows = stmt.query_map(params![state.map(|s| s.as_str())], approval_row)?;
        rows.map(|r| r.map_err(StoreError::from).and_then(finish_approval))
            .collect()
    }

    /// The latest approver-routed approval for a fingerprint that still says something: pending
    /// or denied and not expired. (Approved ones are used through [`Store::consume_approval`];
    /// agent-prompt approvals record a question and unlock nothing.)
    pub fn open_approval(
        &self,
        fingerprint: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Approval>> {
        let now = format_time(now)?;
        let row = self
            .conn
            .query_row(
                &format!(
                    "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE fingerprint = ?1 AND state IN ('pending', 'denied', 'approved')
                     AND route = 'approver' AND expires_at > ?2 ORDER BY requested_at DESC, id DESC LIMIT 1"
                ),
                params![fingerprint, now],
                approval_row,
            )
            .optional()?;
        row.map(finish_approval).transpose()
    }

    /// Approves a pending approval. The requester cannot approve their own request; an expired
    /// approval cannot be approved (it is marked expired instead).
    pub fn approve(
        &mut self,
        id: &str,
        actor: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Approval> {
        self.decide(id, actor, reason, now, ApprovalState::Approved)
    }

    /// Denies a pending (or approved, not yet used) approval.
    pub fn deny(
        &mut self,
        id: &str,
        actor: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<Approval> {
        self.decide(id, actor, reason, now, ApprovalState::Denied)
    }

    fn decide(
        &mut self,
        id: &str,
        actor: &str,
        reason: &str,
        now: OffsetDateTime,
        to: ApprovalState,
    ) -> Result<Approval> {
        let actor = actor.trim();
        let reason = reason.trim();
        if actor.is_empty() {
            return Err(StoreError::Empty("the actor"));
        }
        if reason.is_empty() {
            return Err(StoreError::Empty("the reason"));
        }
        let now_t = stamp(now)?;
        let now_s = now_t.to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = tx
            .query_row(
                &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"),
                params![id],
                approval_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NoSuchApproval(id.to_string()))?;
        let mut current = finish_approval(current)?;
        if current.extra.route == ApprovalRoute::AgentPrompt {
            return Err(StoreError::AnsweredAtPrompt(id.to_string()));
        }
        let wanted = if to == ApprovalState::Approved {
            "approved"
        } else {
            "denied"
        };
        let allowed = match to {
            ApprovalState::Approved => current.state == ApprovalState::Pending,
            _ => matches!(
                current.state,
                ApprovalState::Pending | ApprovalState::Approved
            ),
        };
        if !allowed {
            return Err(StoreError::WrongState {
                id: id.to_string(),
                state: current.state,
                wanted,
            });
        }
        if current.expires_at <= now_t {
            push_history(
                &mut current,
                now_t,
                ApprovalState::Expired,
                "cavra",
                Some("expired before it was decided"),
            );
            tx.execute(
                "UPDATE approvals SET state = 'expired', history = ?2 WHERE id = ?1",
                params![id, serde_json::to_string(&current.history)?],
            )?;
            appender!(self).append(
                &tx,
                NewEntry {
                    kind: EntryKind::Approval,
                    ref_id: Some(id),
                    session_id: current.session_id.as_deref(),
                    timestamp: &now_s,
                    body: approval_event(
                        &current,
                        ApprovalState::Expired,
                        "cavra",
                        Some("expired before it was decided"),
                    ),
                },
            )?;
            tx.commit()?;
            return Err(StoreError::Expired(id.to_string()));
        }
        if to == ApprovalState::Approved && actor == current.requested_by {
            return Err(StoreError::SelfApproval {
                id: id.to_string(),
                actor: actor.to_string(),
            });
        }
        push_history(&mut current, now_t, to, actor, Some(reason));
        tx.execute(
            "UPDATE approvals SET state = ?2, decided_by = ?3, decided_at = ?4, reason = ?5, history = ?6 WHERE id = ?1",
            params![id, to.as_str(), actor, now_s, reason, serde_json::to_string(&current.history)?],
        )?;
        appender!(self).append(
            &tx,
            NewEntry {
                kind: EntryKind::Approval,
                ref_id: Some(id),
                session_id: current.session_id.as_deref(),
                timestamp: &now_s,
                body: approval_event(&current, to, actor, Some(reason)),
            },
        )?;
        tx.commit()?;
        self.approval(id)?
            .ok_or_else(|| StoreError::NoSuchApproval(id.to_string()))
    }

    /// Marks every pending or approved approval past its expiry as expired; returns their ids.
    pub fn expire(&mut self, now: OffsetDateTime) -> Result<Vec<String>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids = expire_in(&tx, stamp(now)?, &mut appender!(self))?;
        tx.commit()?;
        Ok(ids)
    }

    /// Uses an approved approval for this fingerprint, once: in one immediate transaction it
    /// expires overdue approvals, finds the oldest approved, unexpired one and marks it
    /// consumed. Returns it, or None when nothing unlocks the request.
    pub fn consume_approval(
        &mut self,
        fingerprint: &str,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Approval>> {
        let now_t = stamp(now)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut log = appender!(self);
        expire_in(&tx, now_t, &mut log)?;
        let Some(row) = grant_row(&tx, GrantKey::Fingerprint(fingerprint), now_t)? else {
            tx.commit()?;
            return Ok(None);
        };
        let used = use_grant_in(&tx, &mut log, finish_approval(row)?, by, now_t)?;
        tx.commit()?;
        Ok(used)
    }

    /// The oldest approved, unexpired approval for this fingerprint, left unused (recording
    /// the decision uses it: [`crate::ApprovalWrite::Use`]); overdue approvals are expired
    /// first, in the same immediate transaction, as [`Store::consume_approval`] does.
    pub fn usable_grant(&mut self, fingerprint: &str, now: Timestamp) -> Result<Option<Approval>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        expire_in(&tx, now, &mut appender!(self))?;
        let row = grant_row(&tx, GrantKey::Fingerprint(fingerprint), now)?;
        tx.commit()?;
        row.map(finish_approval).transpose()
    }
}

/// Inserts the pending approval `a` (routed to `route`, matched to the agent's `tool_use_id`)
/// with its evidence entry, inside `tx`; returns it as stored.
pub(crate) fn insert_approval_in(
    tx: &rusqlite::Transaction<'_>,
    log: &mut Appender<'_>,
    a: &NewApproval,
    route: ApprovalRoute,
    tool_use_id: Option<&str>,
) -> Result<Approval> {
    let requested_at = a.requested_at.to_string();
    let id = a.id.clone();
    let history = vec![HistoryEntry {
        at: a.requested_at,
        state: ApprovalState::Pending,
        actor: a.requested_by.clone(),
        reason: None,
    }];
    tx.execute(
        "INSERT INTO approvals (id, decision_id, fingerprint, session_id, approver_group, requested_by, requested_at, expires_at, state, summary, history, route, tool_use_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10, ?11, ?12)",
        params![id, a.decision_id, a.fingerprint, a.session_id, a.approver_group, a.requested_by, a.requested_at, a.expires_at, a.summary, serde_json::to_string(&history)?, route.as_str(), tool_use_id],
    )?;
    let created = tx
        .query_row(
            &format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1"),
            params![id],
            approval_row,
        )
        .optional()?
        .map(finish_approval)
        .transpose()?
        .ok_or_else(|| StoreError::NoSuchApproval(id.clone()))?;
    log.append(
        tx,
        NewEntry {
            kind: EntryKind::Approval,
            ref_id: Some(&id),
            session_id: a.session_id.as_deref(),
            timestamp: &requested_at,
            body: approval_event(&created, ApprovalState::Pending, &a.requested_by, None),
        },
    )?;
    Ok(created)
}

/// How a grant is looked up.
pub(crate) enum GrantKey<'a> {
    /// The oldest grant for an action fingerprint.
    Fingerprint(&'a str),
    /// The grant with this id.
    Id(&'a str),
}

/// The approved, unexpired approver-routed approval `key` names, if any.
pub(crate) fn grant_row(
    tx: &rusqlite::Transaction<'_>,
    key: GrantKey<'_>,
    now: Timestamp,
) -> Result<Option<ApprovalRow>> {
    let (column, value) = match key {
        GrantKey::Fingerprint(f) => ("fingerprint", f),
        GrantKey::Id(id) => ("id", id),
    };
    Ok(tx
        .query_row(
            &format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE {column} = ?1 AND state = 'approved' AND route = 'approver'
                 AND expires_at > ?2 ORDER BY decided_at, id LIMIT 1"
            ),
            params![value, now],
            approval_row,
        )
        .optional()?)
}

/// Marks `approval` (approved) consumed by `by` at `now`, with its evidence entry, inside `tx`:
/// the compare-and-set on its state keeps two racing hooks from both using it. None when
/// another request used it first.
pub(crate) fn use_grant_in(
    tx: &rusqlite::Transaction<'_>,
    log: &mut Appender<'_>,
    mut approval: Approval,
    by: &str,
    now: Timestamp,
) -> Result<Option<Approval>> {
    const USED: &str = "used by the matching request";
    push_history(&mut approval, now, ApprovalState::Consumed, by, Some(USED));
    let changed = tx.execute(
        "UPDATE approvals SET state = 'consumed', history = ?2 WHERE id = ?1 AND state = 'approved'",
        params![approval.id, serde_json::to_string(&approval.history)?],
    )?;
    if changed != 1 {
        return Ok(None);
    }
    log.append(
        tx,
        NewEntry {
            kind: EntryKind::Approval,
            ref_id: Some(&approval.id),
            session_id: approval.session_id.as_deref(),
            timestamp: &now.to_string(),
            body: approval_event(&approval, ApprovalState::Consumed, by, Some(USED)),
        },
    )?;
    approval.state = ApprovalState::Consumed;
    Ok(Some(approval))
}

pub(crate) const APPROVAL_COLUMNS: &str = "id, decision_id, fingerprint, session_id, approver_group, requested_by, requested_at, expires_at, state, decided_by, decided_at, reason, summary, history, route, tool_use_id";

/// An approval row with its state, history and route still as stored text.
pub(crate) type ApprovalRow = (Approval, String, String, String);

pub(crate) fn approval_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApprovalRow> {
    Ok((
        Approval {
            id: r.get(0)?,
            decision_id: r.get(1)?,
            fingerprint: r.get(2)?,
            session_id: r.get(3)?,
            approver_group: r.get(4)?,
            requested_by: r.get(5)?,
            requested_at: r.get(6)?,
            expires_at: r.get(7)?,
            state: ApprovalState::Pending,
            decided_by: r.get(9)?,
            decided_at: r.get(10)?,
            reason: r.get(11)?,
            summary: r.get(12)?,
            extra: AtPrompt {
                route: ApprovalRoute::Approver,
                tool_use_id: r.get(15)?,
            },
            history: Vec::new(),
        },
        r.get(8)?,
        r.get(13)?,
        r.get(14)?,
    ))
}

pub(crate) fn finish_approval((mut a, state, history, route): ApprovalRow) -> Result<Approval> {
    a.state = state.parse().map_err(StoreError::Time)?;
    a.extra.route = route.parse().map_err(StoreError::Time)?;
    a.history = serde_json::from_str(&history)?;
    Ok(a)
}

pub(crate) fn push_history(
    a: &mut Approval,
    at: Timestamp,
    state: ApprovalState,
    actor: &str,
    reason: Option<&str>,
) {
    a.history.push(HistoryEntry {
        at,
        state,
        actor: actor.to_string(),
        reason: reason.map(str::to_string),
    });
}

pub(crate) fn expire_in(
    tx: &rusqlite::Transaction<'_>,
    now_t: Timestamp,
    log: &mut Appender<'_>,
) -> Result<Vec<String>> {
    let now = now_t.to_string();
    let now = now.as_str();
    let overdue: Vec<ApprovalRow> = {
        let mut stmt = tx.prepare(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE state IN ('pending', 'approved') AND expires_at <= ?1"
        ))?;
        stmt.query_map(params![now], approval_row)?
            .collect::<std::result::Result<_, _>>()?
    };
    let mut ids = Vec::new();
    for row in overdue {
        let mut a = finish_approval(row)?;
        let reason = prompt::expiry_reason(&a);
        push_history(&mut a, now_t, ApprovalState::Expired, "cavra", Some(reason));
        tx.execute(
            "UPDATE approvals SET state = 'expired', history = ?2 WHERE id = ?1",
            params![a.id, serde_json::to_string(&a.history)?],
        )?;
        log.append(
            tx,
            NewEntry {
                kind: EntryKind::Approval,
                ref_id: Some(&a.id),
                session_id: a.session_id.as_deref(),
                timestamp: now,
                body: approval_event(&a, ApprovalState::Expired, "cavra", Some(reason)),
            },
        )?;
        ids.push(a.id);
    }
    Ok(ids)
}

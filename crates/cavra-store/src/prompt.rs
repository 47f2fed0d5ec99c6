//! Approvals asked in the agent's own permission prompt (the hook's ask mode): the question is
//! recorded as a pending approval routed to the person at the prompt, the agent's tool result
//! closes it as approved, and no result before expiry closes it as declined or abandoned. Each
//! step is an entry of the evidence log, so a session's approval history is complete. Such an
//! approval unlocks nothing: the agent's prompt, not cavra, let the one call through.

use crate::log::EntryKind;
use crate::{
    APPROVAL_COLUMNS, Appender, Approval, ApprovalRoute, ApprovalRow, ApprovalState, NewApproval,
    NewEntry, Redactor, Result, Store, StoreError, approval_event, approval_row, expire_in,
    finish_approval, push_history,
};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use time::OffsetDateTime;

/// Why an approval expired, as its history and the log say.
pub(crate) fn expiry_reason(a: &Approval) -> &'static str {
    match (a.extra.route, &a.extra.tool_use_id) {
        (ApprovalRoute::Approver, _) => "expires_at passed",
        (ApprovalRoute::AgentPrompt, Some(_)) => {
            "no tool result came from the agent before expiry: declined or abandoned in its prompt"
        }
        (ApprovalRoute::AgentPrompt, None) => {
            "the agent gives no tool call id to match its result with; closed at expiry as declined or abandoned"
        }
    }
}

/// The row of the pending agent-prompt approval of a tool call, if any.
fn pending_row(conn: &rusqlite::Connection, tool_use_id: &str) -> Result<Option<ApprovalRow>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE tool_use_id = ?1 AND route = 'agent_prompt' AND state = 'pending'
                 ORDER BY requested_at, id LIMIT 1"
            ),
            params![tool_use_id],
            approval_row,
        )
        .optional()?)
}

impl Store {
    /// Records that the person at the agent's prompt is asked about a tool call: a pending
    /// approval routed to them. A call asked about twice (its PreToolUse and then its
    /// PermissionRequest) keeps its one approval; `false` says it already existed.
    pub fn ask_at_prompt(
        &mut self,
        a: &NewApproval,
        tool_use_id: Option<&str>,
    ) -> Result<(Approval, bool)> {
        if let Some(id) = tool_use_id
            && let Some(existing) = self.pending_at_prompt(id)?
        {
            return Ok((existing, false));
        }
        let created = self.insert_approval(a, ApprovalRoute::AgentPrompt, tool_use_id)?;
        Ok((created, true))
    }

    /// The pending agent-prompt approval of a tool call, if any.
    pub fn pending_at_prompt(&self, tool_use_id: &str) -> Result<Option<Approval>> {
        pending_row(&self.conn, tool_use_id)?
            .map(finish_approval)
            .transpose()
    }

    /// A tool result arrived: when `tool_use_id` names a call whose person was asked in the
    /// agent's prompt, its pending agent-prompt approval is closed as approved by `person` and
    /// used by that call (two entries in the log; the call ran, so this holds even past its
    /// expiry); then every approval past its expiry is closed. Most results close nothing, and
    /// cost one read without taking the write lock. Returns the approval closed as approved.
    pub fn answered_at_prompt(
        &mut self,
        tool_use_id: Option<&str>,
        person: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Approval>> {
        let person = person.trim();
        if person.is_empty() {
            return Err(StoreError::Empty("the person"));
        }
        let now_t = crate::stamp(now)?;
        let now_s = now_t.to_string();
        let due: bool = self.conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM approvals WHERE (state IN ('pending', 'approved') AND expires_at <= ?1)
                 OR (route = 'agent_prompt' AND state = 'pending' AND tool_use_id = ?2))",
            params![now_s, tool_use_id],
            |r| r.get(0),
        )?;
        if !due {
            return Ok(None);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut log = Appender {
            redactor: match &self.redactor {
                Some(r) => r.as_ref(),
                None => Redactor::builtin(),
            },
            signer: &mut self.signer_loader,
            checkpoint_every: self.checkpoint_every,
        };
        let row = match tool_use_id {
            Some(id) => pending_row(&tx, id)?,
            None => None,
        };
        let Some(row) = row else {
            expire_in(&tx, now_t, &mut log)?;
            tx.commit()?;
            return Ok(None);
        };
        let mut a = finish_approval(row)?;
        const APPROVED: &str = "approved in the agent's permission prompt";
        const USED: &str = "the tool call ran after the prompt";
        push_history(
            &mut a,
            now_t,
            ApprovalState::Approved,
            person,
            Some(APPROVED),
        );
        let approved = approval_event(&a, ApprovalState::Approved, person, Some(APPROVED));
        let requester = a.requested_by.clone();
        push_history(
            &mut a,
            now_t,
            ApprovalState::Consumed,
            &requester,
            Some(USED),
        );
        let used = approval_event(&a, ApprovalState::Consumed, &requester, Some(USED));
        tx.execute(
            "UPDATE approvals SET state = 'consumed', decided_by = ?2, decided_at = ?3, reason = ?4, history = ?5 WHERE id = ?1 AND state = 'pending'",
            params![a.id, person, now_s, APPROVED, serde_json::to_string(&a.history)?],
        )?;
        for event in [approved, used] {
            log.append(
                &tx,
                NewEntry {
                    kind: EntryKind::Approval,
                    ref_id: Some(&a.id),
                    session_id: a.session_id.as_deref(),
                    timestamp: &now_s,
                    body: event,
                },
            )?;
        }
        expire_in(&tx, now_t, &mut log)?;
        tx.commit()?;
        a.state = ApprovalState::Consumed;
        a.decided_by = Some(person.to_string());
        a.decided_at = Some(now_t);
        a.reason = Some(APPROVED.to_string());
        Ok(Some(a))
    }
}

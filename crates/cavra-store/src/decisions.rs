//! Decisions, the sessions they make up and the outcomes of tool calls.

use super::*;

impl Store {
    pub fn record_decision(&mut self, d: &NewDecision) -> Result<()> {
        self.record_decisions(std::slice::from_ref(d))
    }

    /// Records several decisions in one transaction (one fsync for all: group commit). Either
    /// all are recorded, or none.
    pub fn record_decisions(&mut self, decisions: &[NewDecision]) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        decisions_in(&tx, &mut appender!(self), decisions)?;
        tx.commit()?;
        self.after_recorded();
        Ok(())
    }

    /// Records a decided call ([`crate::DecisionBook::record`]): the approval step (the grant
    /// used, or the approval asked for, routed to the approver group or to the agent's
    /// prompt), then each decision, with their evidence entries in that order, in one
    /// immediate transaction. A grant no longer usable is [`StoreError::Conflict`] and
    /// nothing is written. Returns the approval written or used.
    pub fn record_call(&mut self, call: crate::ToRecord<ToolCall>) -> Result<Option<Approval>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut log = appender!(self);
        let approval = match &call.approval {
            crate::ApprovalWrite::None => None,
            crate::ApprovalWrite::Use { id, requested_by } => {
                // The use is at the call's time (its decisions are decided at one time).
                let now = call
                    .decisions
                    .first()
                    .map(|d| d.timestamp)
                    .ok_or(StoreError::Empty("the decisions of a call"))?;
                let row = approvals::grant_row(&tx, approvals::GrantKey::Id(id), now)?.ok_or_else(
                    || StoreError::Conflict(format!("approval {id} is no longer usable")),
                )?;
                let used = approvals::use_grant_in(
                    &tx,
                    &mut log,
                    finish_approval(row)?,
                    requested_by,
                    now,
                )?
                .ok_or_else(|| StoreError::Conflict(format!("approval {id} changed meanwhile")))?;
                Some(used)
            }
            crate::ApprovalWrite::Ask(a) => Some(approvals::insert_approval_in(
                &tx,
                &mut log,
                a,
                ApprovalRoute::Approver,
                None,
            )?),
            crate::ApprovalWrite::AskAtPrompt {
                approval,
                tool_use_id,
            } => Some(approvals::insert_approval_in(
                &tx,
                &mut log,
                approval,
                ApprovalRoute::AgentPrompt,
                tool_use_id.as_deref(),
            )?),
        };
        decisions_in(&tx, &mut log, &call.decisions)?;
        tx.commit()?;
        self.after_recorded();
        Ok(approval)
    }

    /// After recorded decisions were committed: keeps the log short (best effort).
    fn after_recorded(&mut self) {
        // The records are durable here; keeping the log short is best effort.
        if self.maintain_on_commit {
            let _ = self.maintain();
        }
    }

    /// Whether recording a decision also truncates a long WAL before returning (the default).
    /// The hook server turns it off and calls [`Store::maintain`] after it has answered, so
    /// that the checkpoint's fsyncs are not on an agent's wait.
    pub fn set_maintain_on_commit(&mut self, on: bool) {
        self.maintain_on_commit = on;
    }

    /// Records a tool call's outcome. The decision it followed is looked up by tool call id.
    pub fn record_outcome(&mut self, o: &Outcome) -> Result<Outcome> {
        self.record_outcome_with_result(o, None)
    }

    /// Records a tool call's outcome with what the tool returned (an MCP tool result). The
    /// result goes into the log entry only, under `result`, through the log's redaction like
    /// every entry.
    pub fn record_outcome_with_result(
        &mut self,
        o: &Outcome,
        result: Option<&Value>,
    ) -> Result<Outcome> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let decision_id = match (&o.decision_id, &o.tool_use_id) {
            (Some(d), _) => Some(d.clone()),
            (None, Some(t)) => tx
                .query_row(
                    "SELECT decision_id FROM decisions WHERE tool_use_id = ?1 ORDER BY seq DESC LIMIT 1",
                    params![t],
                    |r| r.get::<_, String>(0),
                )
                .optional()?,
            (None, None) => None,
        };
        tx.execute(
            "INSERT INTO outcomes (tool_use_id, decision_id, session_id, success, sha256, path, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![o.tool_use_id, decision_id, o.session_id, o.success, o.sha256, o.path, o.timestamp],
        )?;
        let mut entry = json!({
            "tool_use_id": o.tool_use_id,
            "decision_id": decision_id,
            "session_id": o.session_id,
            "success": o.success,
            "sha256": o.sha256,
            "path": o.path,
        });
        if let Some(r) = result {
            entry["result"] = r.clone();
        }
        appender!(self).append(
            &tx,
            NewEntry {
                kind: EntryKind::Outcome,
                ref_id: decision_id.as_deref(),
                session_id: o.session_id.as_deref(),
                timestamp: &o.timestamp.text(),
                body: entry,
            },
        )?;
        if let Some(sid) = &o.session_id {
            tx.execute("UPDATE sessions SET outcomes = outcomes + 1, last_seen = max(last_seen, ?2) WHERE id = ?1", params![sid, o.timestamp])?;
        }
        tx.commit()?;
        Ok(Outcome {
            decision_id,
            ..o.clone()
        })
    }

    /// Outcomes, oldest first, optionally of one session.
    pub fn outcomes(&self, session_id: Option<&str>) -> Result<Vec<Outcome>> {
        let mut stmt = self.conn.prepare(
            "SELECT tool_use_id, decision_id, session_id, success, sha256, path, timestamp FROM outcomes
             WHERE (?1 IS NULL OR session_id = ?1) ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![session_id], |r| {
            Ok(Outcome {
                tool_use_id: r.get(0)?,
                decision_id: r.get(1)?,
                session_id: r.get(2)?,
                success: r.get(3)?,
                sha256: r.get(4)?,
                path: r.get(5)?,
                timestamp: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Decisions, newest first.
    pub fn decisions(&self, filter: &DecisionFilter) -> Result<Vec<StoredDecision>> {
        let limit = filter.limit.map(|l| l as i64).unwrap_or(-1);
        let mut stmt = self.conn.prepare_cached(
            "SELECT decision_id, session_id, tool_use_id, action_type, decision, rule_id, timestamp, fingerprint, record
             FROM decisions WHERE (?1 IS NULL OR session_id = ?1) AND (?2 IS NULL OR decision = ?2)
             AND (?3 IS NULL OR action_type = ?3) AND (?4 IS NULL OR timestamp >= ?4) AND (?5 IS NULL OR timestamp < ?5)
             AND (?7 IS NULL OR rule_id = ?7) AND (?8 IS NULL OR json_extract(record, '$.actor') = ?8)
             AND (?9 IS NULL OR seq < (SELECT b.seq FROM decisions b WHERE b.decision_id = ?9))
             AND (?10 IS NULL OR json_extract(record, '$.repository') = ?10)
             ORDER BY seq DESC LIMIT ?6",
        )?;
        let rows = stmt.query_map(
            params![
                filter.session_id,
                filter.decision.map(Decision::as_str),
                filter.action_type.map(ActionType::as_str),
                filter.since,
                filter.until,
                limit,
                filter.rule_id,
                filter.requested_by,
                filter.before,
                filter.repository
            ],
            decision_row,
        )?;
        rows.map(|r| r.map_err(StoreError::from).and_then(finish_decision))
            .collect()
    }

    /// One decision.
    pub fn decision(&self, decision_id: &str) -> Result<Option<StoredDecision>> {
        let row = self
            .conn
            .query_row(
                "SELECT decision_id, session_id, tool_use_id, action_type, decision, rule_id, timestamp, fingerprint, record
                 FROM decisions WHERE decision_id = ?1",
                params![decision_id],
                decision_row,
            )
            .optional()?;
        row.map(finish_decision).transpose()
    }

    /// How many decisions are stored.
    pub fn decision_count(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM decisions", [], |r| r.get(0))?)
    }

    /// Sessions, most recently active first.
    pub fn sessions(&self) -> Result<Vec<Session>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, agent, first_seen, last_seen, cwd, decisions, blocked, approvals, warned, outcomes FROM sessions ORDER BY last_seen DESC, id",
        )?;
        let rows = stmt.query_map([], session_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// One session.
    pub fn session(&self, id: &str) -> Result<Option<Session>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, agent, first_seen, last_seen, cwd, decisions, blocked, approvals, warned, outcomes FROM sessions WHERE id = ?1",
                params![id],
                session_row,
            )
            .optional()?)
    }
}

/// The decision row and its session's counters.
/// Inserts `decisions` with their evidence entries, in order, inside `tx`.
fn decisions_in(
    tx: &rusqlite::Transaction<'_>,
    log: &mut Appender<'_>,
    decisions: &[NewDecision],
) -> Result<()> {
    for d in decisions {
        let record = serde_json::to_string(&d.extra.record)?;
        insert_decision(tx, d, &record)?;
        log.append(
            tx,
            NewEntry {
                kind: EntryKind::Decision,
                ref_id: Some(&d.decision_id),
                session_id: d.session_id.as_deref(),
                timestamp: &d.timestamp.to_string(),
                body: json!({
                    "decision_id": d.decision_id,
                    "session_id": d.session_id,
                    "agent": d.agent,
                    "cwd": d.extra.cwd,
                    "tool_use_id": d.extra.tool_use_id,
                    "action_type": d.action_type,
                    "decision": d.decision,
                    "rule_id": d.rule_id,
                    "fingerprint": d.fingerprint,
                    "record": d.extra.record,
                }),
            },
        )?;
    }
    Ok(())
}

pub(crate) fn insert_decision(
    tx: &rusqlite::Transaction<'_>,
    d: &NewDecision,
    record: &str,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO decisions (decision_id, session_id, tool_use_id, action_type, decision, rule_id, timestamp, fingerprint, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![d.decision_id, d.session_id, d.extra.tool_use_id, d.action_type.as_str(), d.decision.as_str(), d.rule_id, d.timestamp, d.fingerprint, record],
    )?;
    if let Some(sid) = &d.session_id {
        let blocked = i64::from(d.decision == Decision::Block);
        let approvals = i64::from(d.decision == Decision::RequireApproval);
        let warned = i64::from(d.decision == Decision::Warn);
        tx.prepare_cached(
            "INSERT INTO sessions (id, agent, first_seen, last_seen, cwd, decisions, blocked, approvals, warned)
             VALUES (?1, ?2, ?3, ?3, ?4, 1, ?5, ?6, ?7)
             ON CONFLICT(id) DO UPDATE SET
                last_seen = max(last_seen, excluded.last_seen),
                agent = coalesce(sessions.agent, excluded.agent),
                cwd = coalesce(excluded.cwd, sessions.cwd),
                decisions = decisions + 1,
                blocked = blocked + excluded.blocked,
                approvals = approvals + excluded.approvals,
                warned = warned + excluded.warned",
        )?
        .execute(params![sid, d.agent, d.timestamp, d.extra.cwd, blocked, approvals, warned])?;
    }
    Ok(())
}

pub(crate) fn decision_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredDecision, String)> {
    Ok((
        StoredDecision {
            decision_id: r.get(0)?,
            session_id: r.get(1)?,
            extra: ToolUse {
                tool_use_id: r.get(2)?,
            },
            action_type: word(r, 3)?,
            decision: word(r, 4)?,
            rule_id: r.get(5)?,
            timestamp: r.get(6)?,
            fingerprint: r.get(7)?,
            record: Value::Null,
        },
        r.get(8)?,
    ))
}

/// A column holding one of the engine's words (a decision, an action type), in either store's
/// SQLite tables; another word is damage, reported as the column's conversion error.
pub fn word<T>(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text: String = r.get(idx)?;
    text.parse().map_err(|e: T::Err| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

pub(crate) fn finish_decision((mut d, text): (StoredDecision, String)) -> Result<StoredDecision> {
    d.record = serde_json::from_str(&text)?;
    Ok(d)
}

pub(crate) fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: r.get(0)?,
        agent: r.get(1)?,
        first_seen: r.get(2)?,
        last_seen: r.get(3)?,
        cwd: r.get(4)?,
        decisions: r.get(5)?,
        blocked: r.get(6)?,
        approvals: r.get(7)?,
        warned: r.get(8)?,
        outcomes: r.get(9)?,
    })
}

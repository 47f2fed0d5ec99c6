//! Decisions and the sessions they make up, with the approval a decision asks for or uses.

use super::*;
use crate::rules::{apply_use, pending_approval};

impl Decisions for SqliteDb {
    async fn record_decision_with(
        &self,
        tenant: &str,
        mut w: DecisionWrite,
        rules: Option<&cavra_redact::Redactor>,
    ) -> Result<Recorded> {
        let tenant = tenant.to_string();
        // Redacted and canonical here, on the caller's thread, with the outbox event when the
        // outcome makes one: the one writer only splices.
        let p = crate::log::prepare_decision(&self.redactor, rules, &mut w.decision)?;
        // The event's payload is written out here too: the writer only inserts its text.
        let event = match p.event {
            Some(e) => {
                let text = serde_json::to_string(&e.payload)?;
                Some((e, text))
            }
            None => None,
        };
        let stored = ToStore {
            body: p.body,
            event,
            repository: p.repository,
        };
        // record_decision_in makes its checks (a grant still usable) before it writes.
        let mut recorded = self
            .write_direct(move |c, settings, heads| {
                record_decision_in(c, settings, heads, &tenant, w, stored)
            })
            .await?;
        recorded.record = p.record;
        recorded.record_json = p.record_json;
        Ok(recorded)
    }

    async fn record_decisions_with(
        &self,
        tenant: &str,
        mut writes: Vec<DecisionWrite>,
        rules: Option<&cavra_redact::Redactor>,
    ) -> Result<Vec<Recorded>> {
        let tenant = tenant.to_string();
        let mut prepared = Vec::with_capacity(writes.len());
        let mut stored = Vec::with_capacity(writes.len());
        for w in &mut writes {
            let p = crate::log::prepare_decision(&self.redactor, rules, &mut w.decision)?;
            // The event's payload is written out here, as for one decision.
            let event = match p.event {
                Some(e) => {
                    let text = serde_json::to_string(&e.payload)?;
                    Some((e, text))
                }
                None => None,
            };
            stored.push(ToStore {
                body: p.body,
                event,
                repository: p.repository,
            });
            prepared.push((p.record, p.record_json));
        }
        // One direct write: a failure part way rolls back what this call wrote before it
        // (the writer's group is rolled back when a direct write fails after changes).
        let recorded = self
            .write_direct(move |c, settings, heads| {
                writes
                    .into_iter()
                    .zip(stored)
                    .map(|(w, s)| record_decision_in(c, settings, heads, &tenant, w, s))
                    .collect::<Result<Vec<_>>>()
            })
            .await?;
        Ok(recorded
            .into_iter()
            .zip(prepared)
            .map(|(mut r, (record, record_json))| {
                r.record = record;
                r.record_json = record_json;
                r
            })
            .collect())
    }

    async fn decisions(&self, tenant: &str, f: &DecisionFilter) -> Result<Vec<StoredDecision>> {
        use crate::decision_list::{Cursor, Dialect, cursor_sql, list_query};
        let tenant = tenant.to_string();
        let f = f.clone();
        self.read(move |c| {
            let cursor = match &f.before {
                None => None,
                Some(id) => {
                    let found = c
                        .prepare_cached(cursor_sql(Dialect::Sqlite))?
                        .query_row(params![id, tenant], |r| {
                            Ok(Cursor {
                                timestamp: r.get(0)?,
                                seq: r.get(1)?,
                            })
                        })
                        .optional()?;
                    // Not a decision of this tenant: nothing comes after it.
                    let Some(found) = found else {
                        return Ok(Vec::new());
                    };
                    Some(found)
                }
            };
            let q = list_query(Dialect::Sqlite, &tenant, &f, cursor.as_ref());
            let mut st = c.prepare_cached(&q.sql)?;
            let rows = st.query_map(params_from_iter(q.args.iter()), decision_row)?;
            rows.map(|r| finish_decision(r?)).collect()
        })
        .await
    }

    async fn decision(&self, tenant: &str, id: &str) -> Result<Option<StoredDecision>> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.read(move |c| {
            let row = c
                .prepare_cached(&format!(
                    "{DECISION_SELECT} WHERE d.tenant = ?1 AND d.decision_id = ?2"
                ))?
                .query_row(params![tenant, id], decision_row)
                .optional()?;
            row.map(finish_decision).transpose()
        })
        .await
    }

    async fn sessions(&self, tenant: &str, limit: usize) -> Result<Vec<SessionSummary>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "{SESSION_SELECT} WHERE tenant = ?1 AND session_id IS NOT NULL GROUP BY session_id ORDER BY MAX(timestamp) DESC LIMIT ?2"
            ))?;
            let rows = st.query_map(params![tenant, limit.max(1) as i64], session_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn session(&self, tenant: &str, id: &str) -> Result<Option<SessionSummary>> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "{SESSION_SELECT} WHERE tenant = ?1 AND session_id = ?2 GROUP BY session_id"
            ))?
            .query_row(params![tenant, id], session_row)
            .optional()?)
        })
        .await
    }
}

/// What the writer stores of a prepared decision: its entry's body, its outbox event and its
/// repository column.
struct ToStore {
    body: crate::log::PreparedBody,
    /// With its payload's JSON text.
    event: Option<(crate::outbox::NewEvent, String)>,
    repository: Option<String>,
}

fn record_decision_in(
    c: &Connection,
    settings: &LogSettings,
    heads: &mut Heads,
    tenant: &str,
    w: DecisionWrite,
    stored: ToStore,
) -> Result<Recorded> {
    let ToStore {
        body: prepared,
        event,
        repository,
    } = stored;
    let d = &w.decision;
    let at = d.timestamp.to_string();
    if let Some(id) = &w.use_grant {
        let current = load_approval(c, tenant, id)?
            .ok_or_else(|| StoreError::Conflict(format!("approval {id} is gone")))?;
        let next = apply_use(&current, &d.extra.requested_by, d.timestamp).ok_or_else(|| {
            StoreError::Conflict(format!(
                "approval {id} is no longer usable ({})",
                current.state
            ))
        })?;
        if !store_transition(
            c,
            settings,
            heads,
            tenant,
            &current,
            &next,
            &d.extra.requested_by,
        )? {
            return Err(StoreError::Conflict(format!(
                "approval {id} changed meanwhile"
            )));
        }
    }
    let log_index = append_with(c, settings, heads, tenant, decision_entry(d, &at, prepared))?;
    c.prepare_cached(&format!(
        "INSERT INTO decisions (tenant, {DECISION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))?
    .execute(params![
        tenant,
        d.decision_id,
        d.session_id,
        d.agent,
        d.extra.requested_by,
        d.action_type.as_str(),
        d.decision.as_str(),
        d.rule_id,
        at,
        d.fingerprint,
        d.extra.policy_digest,
        log_index as i64,
        repository,
    ])?;
    // In the decision's transaction: the event exists exactly when the decision does.
    if let Some((e, payload)) = &event {
        crate::sqlite_outbox::insert_event_text(c, tenant, e, Some(log_index), payload)?;
    }
    let mut approval_id = None;
    if let Some(a) = &w.new_approval {
        let approval = pending_approval(a);
        c.prepare_cached(&format!(
            "INSERT INTO approvals (tenant, {APPROVAL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        ))?
        .execute(params![
            tenant,
            approval.id,
            approval.decision_id,
            approval.fingerprint,
            approval.session_id,
            approval.approver_group,
            approval.requested_by,
            approval.requested_at,
            approval.expires_at,
            approval.state.as_str(),
            approval.decided_by,
            approval.decided_at,
            approval.reason,
            approval.summary,
            approval.extra.grant.as_str(),
            approval.extra.uses,
            serde_json::to_string(&approval.history)?,
        ])?;
        let index = append_with(
            c,
            settings,
            heads,
            tenant,
            approval_entry(&approval, &approval.requested_by, &at),
        )?;
        let e = crate::outbox::requested_event(
            &approval,
            approval_body(&approval, &approval.requested_by),
            d.timestamp,
            event.as_ref().map(|(e, _)| e),
        );
        crate::sqlite_outbox::insert_event(c, tenant, &e, Some(index))?;
        approval_id = Some(approval.id);
    }
    Ok(Recorded {
        log_index,
        approval_id,
        record: Value::Null,
        record_json: None,
    })
}

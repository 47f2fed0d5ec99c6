//! Decisions and the sessions they make up, with the approval a decision asks for or uses.

use super::*;
use crate::rules::{apply_use, pending_approval};

impl Decisions for PgDb {
    async fn record_decision_with(
        &self,
        tenant: &str,
        mut w: DecisionWrite,
        rules: Option<&cavra_redact::Redactor>,
    ) -> Result<Recorded> {
        // Redacted and canonical before the transaction takes the log's lock.
        let p = crate::log::prepare_decision(&self.settings.redactor, rules, &mut w.decision)?;
        let (prepared, event, repository) = (p.body, p.event, p.repository);
        let mut recorded = if w.use_grant.is_none() && w.new_approval.is_none() {
            // A plain decision: appended with whatever else of this tenant is waiting, in
            // one transaction under one lock of the log head (one commit for the group).
            let (reply, answer) = oneshot::channel();
            let pending = Work::Decision {
                decision: w.decision,
                prepared,
                event,
                repository,
                reply,
            };
            self.appender(tenant)
                .send(pending)
                .await
                .map_err(|_| StoreError::Closed)?;
            Recorded {
                log_index: answer.await.map_err(|_| StoreError::Closed)??,
                approval_id: None,
                record: serde_json::Value::Null,
                record_json: None,
            }
        } else {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let recorded =
                record_decision_in(&tx, &self.settings, tenant, w, prepared, event, repository)
                    .await?;
            tx.commit().await?;
            recorded
        };
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
        let mut prepared = Vec::with_capacity(writes.len());
        for w in &mut writes {
            prepared.push(crate::log::prepare_decision(
                &self.settings.redactor,
                rules,
                &mut w.decision,
            )?);
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let mut out = Vec::with_capacity(writes.len());
        for (w, p) in writes.into_iter().zip(prepared) {
            let mut recorded = record_decision_in(
                &tx,
                &self.settings,
                tenant,
                w,
                p.body,
                p.event,
                p.repository,
            )
            .await?;
            recorded.record = p.record;
            recorded.record_json = p.record_json;
            out.push(recorded);
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn decisions(&self, tenant: &str, f: &DecisionFilter) -> Result<Vec<StoredDecision>> {
        use crate::decision_list::{Arg, Cursor, Dialect, cursor_sql, list_query};
        let c = self.client().await?;
        let cursor = match &f.before {
            None => None,
            Some(id) => {
                let st = c.prepare_cached(cursor_sql(Dialect::Postgres)).await?;
                // Not a decision of this tenant: nothing comes after it.
                let Some(r) = c.query_opt(&st, &[id, &tenant]).await? else {
                    return Ok(Vec::new());
                };
                Some(Cursor {
                    timestamp: r.try_get(0)?,
                    seq: r.try_get(1)?,
                })
            }
        };
        // One statement per combination of filters (prepared once per connection), so that
        // the planner sees which columns are constrained and reads the matching index.
        let q = list_query(Dialect::Postgres, tenant, f, cursor.as_ref());
        let st = c.prepare_cached(&q.sql).await?;
        let args: Vec<_> = q.args.iter().map(Arg::pg).collect();
        c.query(&st, &args)
            .await?
            .iter()
            .map(decision_row)
            .collect()
    }

    async fn decision(&self, tenant: &str, id: &str) -> Result<Option<StoredDecision>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "{DECISION_SELECT} WHERE d.tenant = $1 AND d.decision_id = $2"
            ))
            .await?;
        c.query_opt(&st, &[&tenant, &id])
            .await?
            .as_ref()
            .map(decision_row)
            .transpose()
    }

    async fn sessions(&self, tenant: &str, limit: usize) -> Result<Vec<SessionSummary>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "{SESSION_SELECT} WHERE tenant = $1 AND session_id IS NOT NULL GROUP BY session_id ORDER BY MAX(timestamp) DESC LIMIT $2"
            ))
            .await?;
        c.query(&st, &[&tenant, &(limit.max(1) as i64)])
            .await?
            .iter()
            .map(session_row)
            .collect()
    }

    async fn session(&self, tenant: &str, id: &str) -> Result<Option<SessionSummary>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "{SESSION_SELECT} WHERE tenant = $1 AND session_id = $2 GROUP BY session_id"
            ))
            .await?;
        c.query_opt(&st, &[&tenant, &id])
            .await?
            .as_ref()
            .map(session_row)
            .transpose()
    }
}

async fn record_decision_in(
    tx: &deadpool_postgres::Transaction<'_>,
    settings: &LogSettings,
    tenant: &str,
    w: DecisionWrite,
    prepared: crate::log::PreparedBody,
    event: Option<crate::outbox::NewEvent>,
    repository: Option<String>,
) -> Result<Recorded> {
    let d = &w.decision;
    let at = d.timestamp.to_string();
    if let Some(id) = &w.use_grant {
        let current = load_approval(tx, tenant, id)
            .await?
            .ok_or_else(|| StoreError::Conflict(format!("approval {id} is gone")))?;
        let next = apply_use(&current, &d.extra.requested_by, d.timestamp).ok_or_else(|| {
            StoreError::Conflict(format!(
                "approval {id} is no longer usable ({})",
                current.state
            ))
        })?;
        // The compare-and-set is what keeps two replicas from both using a once-grant: the
        // second one's update finds the approval consumed (or its uses moved) and changes
        // nothing.
        if !store_transition(tx, settings, tenant, &current, &next, &d.extra.requested_by).await? {
            return Err(StoreError::Conflict(format!(
                "approval {id} changed meanwhile"
            )));
        }
    }
    let log_index = append(tx, settings, tenant, decision_entry(d, &at, prepared)).await?;
    tx.execute(
        &tx.prepare_cached(&format!(
            "INSERT INTO decisions (tenant, {DECISION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .await?,
        &[
            &tenant,
            &d.decision_id,
            &d.session_id,
            &d.agent,
            &d.extra.requested_by,
            &d.action_type.as_str(),
            &d.decision.as_str(),
            &d.rule_id,
            &at,
            &d.fingerprint,
            &d.extra.policy_digest,
            &(log_index as i64),
            &repository,
        ],
    )
    .await?;
    // In the decision's transaction: the event exists exactly when the decision does.
    if let Some(e) = &event {
        crate::postgres_outbox::insert_event(tx, tenant, e, Some(log_index)).await?;
    }
    let mut approval_id = None;
    if let Some(a) = &w.new_approval {
        let approval = pending_approval(a);
        tx.execute(
            &tx.prepare_cached(&format!(
                "INSERT INTO approvals (tenant, {APPROVAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
            ))
            .await?,
            &[
                &tenant,
                &approval.id,
                &approval.decision_id,
                &approval.fingerprint,
                &approval.session_id,
                &approval.approver_group,
                &approval.requested_by,
                &approval.requested_at.to_string(),
                &approval.expires_at.to_string(),
                &approval.state.as_str(),
                &approval.decided_by,
                &approval.decided_at.map(|t| t.to_string()),
                &approval.reason,
                &approval.summary,
                &approval.extra.grant.as_str(),
                &approval.extra.uses,
                &serde_json::to_string(&approval.history)?,
            ],
        )
        .await?;
        let index = append(
            tx,
            settings,
            tenant,
            approval_entry(&approval, &approval.requested_by, &at),
        )
        .await?;
        let e = crate::outbox::requested_event(
            &approval,
            approval_body(&approval, &approval.requested_by),
            d.timestamp,
            event.as_ref(),
        );
        crate::postgres_outbox::insert_event(tx, tenant, &e, Some(index)).await?;
        approval_id = Some(approval.id);
    }
    Ok(Recorded {
        log_index,
        approval_id,
        record: serde_json::Value::Null,
        record_json: None,
    })
}

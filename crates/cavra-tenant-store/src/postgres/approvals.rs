//! Approvals: listing, the approval bearing on a retry, transitions and expiry.

use super::*;
use crate::rules::{apply_transition, expiry_transition};

impl Approvals for PgDb {
    async fn approvals(
        &self,
        tenant: &str,
        state: Option<ApprovalState>,
        limit: usize,
    ) -> Result<Vec<Approval>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE tenant = $1 AND ($2::text IS NULL OR state = $2) ORDER BY requested_at DESC, id LIMIT $3"
            ))
            .await?;
        let state = state.map(|s| s.as_str());
        c.query(&st, &[&tenant, &state, &(limit.max(1) as i64)])
            .await?
            .iter()
            .map(approval_row)
            .collect()
    }

    async fn approval(&self, tenant: &str, id: &str) -> Result<Option<Approval>> {
        let c = self.client().await?;
        load_approval(&c, tenant, id).await
    }

    async fn approval_for(
        &self,
        tenant: &str,
        fingerprint: &str,
        requested_by: &str,
        now: Timestamp,
    ) -> Result<Option<Approval>> {
        let c = self.client().await?;
        // Grants first, then open requests; newest first within each.
        let st = c
            .prepare_cached(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE tenant = $1 AND fingerprint = $2 AND requested_by = $3 AND expires_at > $4 AND state IN ('approved', 'break_glass', 'pending', 'denied') ORDER BY CASE state WHEN 'approved' THEN 0 WHEN 'break_glass' THEN 0 WHEN 'denied' THEN 1 ELSE 2 END, requested_at DESC LIMIT 1"
            ))
            .await?;
        c.query_opt(
            &st,
            &[&tenant, &fingerprint, &requested_by, &now.to_string()],
        )
        .await?
        .as_ref()
        .map(approval_row)
        .transpose()
    }

    async fn transition(&self, tenant: &str, id: &str, t: Transition) -> Result<TransitionOutcome> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let Some(current) = load_approval(&tx, tenant, id).await? else {
            return Ok(TransitionOutcome::NotFound);
        };
        let Some(next) = apply_transition(&current, &t) else {
            return Ok(TransitionOutcome::Conflict(current));
        };
        if store_transition(&tx, &self.settings, tenant, &current, &next, &t.actor).await? {
            tx.commit().await?;
            return Ok(TransitionOutcome::Done(next));
        }
        // Another replica moved it between the read and the update; each statement reads
        // the latest committed state, so this is the approval as that write left it.
        let now = load_approval(&tx, tenant, id).await?;
        Ok(match now {
            Some(a) => TransitionOutcome::Conflict(a),
            None => TransitionOutcome::NotFound,
        })
    }

    async fn expire_due(&self, now: Timestamp) -> Result<Vec<(String, String)>> {
        let mut c = self.client().await?;
        let due: Vec<(String, String)> = {
            let st = c
                .prepare_cached(
                    "SELECT tenant, id FROM approvals WHERE state IN ('pending', 'approved', 'break_glass') AND expires_at <= $1 ORDER BY tenant, id",
                )
                .await?;
            c.query(&st, &[&now.to_string()])
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<_>>()?
        };
        let t = expiry_transition(now);
        let mut out = Vec::new();
        // One transaction per approval: each takes its approval's row and then its tenant's
        // log head, the same order as every other write, and a sweep on another replica
        // that got there first simply leaves nothing to change.
        for (tenant, id) in due {
            let tx = c.transaction().await?;
            let Some(current) = load_approval(&tx, &tenant, &id).await? else {
                continue;
            };
            if let Some(next) = apply_transition(&current, &t)
                && store_transition(&tx, &self.settings, &tenant, &current, &next, "cavra").await?
            {
                tx.commit().await?;
                out.push((tenant, id));
            }
        }
        Ok(out)
    }

    async fn queue_depths(&self) -> Result<Vec<QueueDepth>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT tenant, approver_group, COUNT(*) FROM approvals WHERE state = 'pending' GROUP BY tenant, approver_group ORDER BY tenant, approver_group",
            )
            .await?;
        c.query(&st, &[])
            .await?
            .iter()
            .map(|r| {
                Ok(QueueDepth {
                    tenant: r.try_get(0)?,
                    approver_group: r.try_get(1)?,
                    pending: r.try_get(2)?,
                })
            })
            .collect()
    }
}

//! Approvals: listing, the approval bearing on a retry, transitions and expiry.

use super::*;
use crate::rules::{apply_transition, expiry_transition};

impl Approvals for SqliteDb {
    async fn approvals(
        &self,
        tenant: &str,
        state: Option<ApprovalState>,
        limit: usize,
    ) -> Result<Vec<Approval>> {
        let tenant = tenant.to_string();
        let state = state.map(|s| s.as_str().to_string());
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE tenant = ?1 AND (?2 IS NULL OR state = ?2) ORDER BY requested_at DESC, id LIMIT ?3"
            ))?;
            let rows = st.query_map(params![tenant, state, limit.max(1) as i64], approval_row)?;
            rows.map(|r| finish_approval(r?)).collect()
        })
        .await
    }

    async fn approval(&self, tenant: &str, id: &str) -> Result<Option<Approval>> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.read(move |c| load_approval(c, &tenant, &id)).await
    }

    async fn approval_for(
        &self,
        tenant: &str,
        fingerprint: &str,
        requested_by: &str,
        now: Timestamp,
    ) -> Result<Option<Approval>> {
        let (tenant, fp, by, now) = (
            tenant.to_string(),
            fingerprint.to_string(),
            requested_by.to_string(),
            now.to_string(),
        );
        self.read(move |c| {
            // Grants first, then open requests; newest first within each.
            let row = c
                .prepare_cached(&format!(
                    "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE tenant = ?1 AND fingerprint = ?2 AND requested_by = ?3 AND expires_at > ?4 AND state IN ('approved', 'break_glass', 'pending', 'denied') ORDER BY CASE state WHEN 'approved' THEN 0 WHEN 'break_glass' THEN 0 WHEN 'denied' THEN 1 ELSE 2 END, requested_at DESC LIMIT 1"
                ))?
                .query_row(params![tenant, fp, by, now], approval_row)
                .optional()?;
            row.map(finish_approval).transpose()
        })
        .await
    }

    async fn transition(&self, tenant: &str, id: &str, t: Transition) -> Result<TransitionOutcome> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.write(move |c, settings| {
            atomic(c, |c| {
                let Some(current) = load_approval(c, &tenant, &id)? else {
                    return Ok(TransitionOutcome::NotFound);
                };
                let Some(next) = apply_transition(&current, &t) else {
                    return Ok(TransitionOutcome::Conflict(current));
                };
                if store_transition_now(c, settings, &tenant, &current, &next, &t.actor)? {
                    Ok(TransitionOutcome::Done(next))
                } else {
                    Ok(TransitionOutcome::Conflict(current))
                }
            })
        })
        .await
    }

    async fn expire_due(&self, now: Timestamp) -> Result<Vec<(String, String)>> {
        self.write(move |c, settings| {
            atomic(c, |c| {
                let due: Vec<(String, String)> = {
                    let mut st = c.prepare_cached(
                        "SELECT tenant, id FROM approvals WHERE state IN ('pending', 'approved', 'break_glass') AND expires_at <= ?1",
                    )?;
                    let rows = st.query_map(params![now.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()?
                };
                let mut out = Vec::new();
                for (tenant, id) in due {
                    let Some(current) = load_approval(c, &tenant, &id)? else {
                        continue;
                    };
                    let t = expiry_transition(now);
                    if let Some(next) = apply_transition(&current, &t)
                        && store_transition_now(c, settings, &tenant, &current, &next, "cavra")?
                    {
                        out.push((tenant, id));
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    async fn queue_depths(&self) -> Result<Vec<QueueDepth>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT tenant, approver_group, COUNT(*) FROM approvals WHERE state = 'pending' GROUP BY tenant, approver_group ORDER BY tenant, approver_group",
            )?;
            let rows = st.query_map([], |r| {
                Ok(QueueDepth {
                    tenant: r.get(0)?,
                    approver_group: r.get(1)?,
                    pending: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

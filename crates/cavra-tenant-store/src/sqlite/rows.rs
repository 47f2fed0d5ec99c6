//! Rows as read and written: column lists and the mapping of a row to a record.

use super::*;
use cavra_store::word;

pub(super) const APPROVAL_COLUMNS: &str = "id, decision_id, fingerprint, session_id, approver_group, requested_by, requested_at, expires_at, state, decided_by, decided_at, reason, summary, grant_use, uses, history";

pub(super) fn approval_row(r: &Row<'_>) -> rusqlite::Result<(Approval, String, String)> {
    let state: String = r.get(8)?;
    let history: String = r.get(15)?;
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
            extra: Grant {
                grant: GrantUse::parse(&r.get::<_, String>(13)?),
                uses: r.get(14)?,
            },
            history: Vec::new(),
        },
        state,
        history,
    ))
}

pub(super) fn finish_approval(
    (mut a, state, history): (Approval, String, String),
) -> Result<Approval> {
    a.state = state
        .parse()
        .map_err(|e: String| StoreError::Corrupt(format!("approval {}: {e}", a.id)))?;
    a.history = serde_json::from_str(&history)
        .map_err(|e| StoreError::Corrupt(format!("approval {} history: {e}", a.id)))?;
    Ok(a)
}

pub(super) fn load_approval(conn: &Connection, tenant: &str, id: &str) -> Result<Option<Approval>> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE tenant = ?1 AND id = ?2"
        ))?
        .query_row(params![tenant, id], approval_row)
        .optional()?;
    row.map(finish_approval).transpose()
}

/// Applies an approval's transition (compare-and-set on its state and uses) and appends its
/// entry with the log head in `heads`; false when the approval changed meanwhile.
pub(super) fn store_transition(
    conn: &Connection,
    settings: &LogSettings,
    heads: &mut Heads,
    tenant: &str,
    before: &Approval,
    after: &Approval,
    actor: &str,
) -> Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE approvals SET state = ?1, decided_by = ?2, decided_at = ?3, reason = ?4, expires_at = ?5, grant_use = ?6, uses = ?7, history = ?8 WHERE tenant = ?9 AND id = ?10 AND state = ?11 AND uses = ?12",
        )?
        .execute(params![
            after.state.as_str(),
            after.decided_by,
            after.decided_at,
            after.reason,
            after.expires_at,
            after.extra.grant.as_str(),
            after.extra.uses,
            serde_json::to_string(&after.history)?,
            tenant,
            after.id,
            before.state.as_str(),
            before.extra.uses,
        ])?;
    if changed == 0 {
        return Ok(false);
    }
    let at = crate::log::step_time(after);
    let index = append_with(
        conn,
        settings,
        heads,
        tenant,
        approval_entry(after, actor, &at),
    )?;
    let event = crate::outbox::approval_event(
        after,
        approval_body(after, actor),
        crate::log::step_stamp(after),
    );
    crate::sqlite_outbox::insert_event(conn, tenant, &event, Some(index))?;
    Ok(true)
}

/// [`store_transition`] for a write that is not direct: the log head is read and written in
/// place.
pub(super) fn store_transition_now(
    conn: &Connection,
    settings: &LogSettings,
    tenant: &str,
    before: &Approval,
    after: &Approval,
    actor: &str,
) -> Result<bool> {
    let mut heads = Heads::default();
    let changed = store_transition(conn, settings, &mut heads, tenant, before, after, actor)?;
    heads.store(conn)?;
    Ok(changed)
}

pub(super) fn decision_row(r: &Row<'_>) -> rusqlite::Result<(StoredDecision, Vec<u8>)> {
    Ok((
        StoredDecision {
            decision_id: r.get(0)?,
            session_id: r.get(1)?,
            extra: Provenance {
                agent: r.get(2)?,
                requested_by: r.get(3)?,
                policy_digest: r.get(9)?,
                log_index: r.get::<_, Option<i64>>(10)?.map(|i| i as u64),
            },
            action_type: word::<ActionType>(r, 4)?.into(),
            decision: word(r, 5)?,
            rule_id: r.get(6)?,
            timestamp: r.get(7)?,
            fingerprint: r.get(8)?,
            record: Value::Null,
        },
        r.get(11)?,
    ))
}

/// Completes a decision read with its record, taken from its log entry.
pub(super) fn finish_decision((mut d, entry): (StoredDecision, Vec<u8>)) -> Result<StoredDecision> {
    d.record = crate::log::entry_record(&entry)
        .map_err(|e| StoreError::Corrupt(format!("decision {}: {e}", d.decision_id)))?;
    Ok(d)
}

/// The decisions table's columns, as written.
pub(super) const DECISION_COLUMNS: &str = "decision_id, session_id, agent, requested_by, action_type, decision, rule_id, timestamp, fingerprint, policy_digest, log_index, repository";
/// A decision as read: its columns (`d`) and its log entry (`e`), in [`decision_row`]'s order.
pub(super) const DECISION_SELECT: &str = "SELECT d.decision_id, d.session_id, d.agent, d.requested_by, d.action_type, d.decision, d.rule_id, d.timestamp, d.fingerprint, d.policy_digest, d.log_index, e.entry FROM decisions d JOIN log_entries e ON e.tenant = d.tenant AND e.idx = d.log_index";

pub(super) fn token_row(r: &Row<'_>) -> rusqlite::Result<(String, String, String, TokenColumns)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        TokenColumns {
            roles: r.get(3)?,
            groups: r.get(4)?,
            digest: r.get(5)?,
            created_at: r.get(6)?,
            expires_at: r.get(7)?,
            revoked_at: r.get(8)?,
        },
    ))
}

pub(super) fn finish_token(
    (id, tenant, subject, columns): (String, String, String, TokenColumns),
) -> Result<TokenRecord> {
    columns.into_record(id, tenant, subject)
}

pub(super) const TOKEN_COLUMNS: &str =
    "id, tenant, subject, roles, groups_json, digest, created_at, expires_at, revoked_at";

pub(super) fn pack_row(r: &Row<'_>) -> rusqlite::Result<(StoredPack, Option<String>)> {
    Ok((
        StoredPack {
            digest: r.get(0)?,
            pack_id: r.get(1)?,
            document: r.get(2)?,
            signed_by: None,
            uploaded_at: r.get(4)?,
            uploaded_by: r.get(5)?,
        },
        r.get(3)?,
    ))
}

pub(super) fn finish_pack((mut p, signed): (StoredPack, Option<String>)) -> Result<StoredPack> {
    p.signed_by = signed
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("pack {} signature: {e}", p.digest)))?;
    Ok(p)
}

pub(super) const SESSION_SELECT: &str = "SELECT session_id, MAX(agent), MIN(timestamp), MAX(timestamp), COUNT(*), SUM(decision = 'block'), SUM(decision = 'require_approval'), SUM(decision = 'warn') FROM decisions";

pub(super) fn session_row(r: &Row<'_>) -> rusqlite::Result<SessionSummary> {
    Ok(SessionSummary {
        id: r.get(0)?,
        agent: r.get(1)?,
        first_seen: r.get(2)?,
        last_seen: r.get(3)?,
        decisions: r.get(4)?,
        blocked: r.get(5)?,
        approvals: r.get(6)?,
        warned: r.get(7)?,
    })
}

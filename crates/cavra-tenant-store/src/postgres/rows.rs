//! Rows as read and written: column lists and the mapping of a row to a record.

use super::*;

pub(super) const APPROVAL_COLUMNS: &str = "id, decision_id, fingerprint, session_id, approver_group, requested_by, requested_at, expires_at, state, decided_by, decided_at, reason, summary, grant_use, uses, history";

/// A stored time of the record `of`, read as a [`Timestamp`].
fn parse_stamp(text: &str, of: &str) -> Result<Timestamp> {
    Timestamp::parse(text).map_err(|e| StoreError::Corrupt(format!("{of}: {e}")))
}

/// Column `i` of a row about record `of`, a stored time.
pub(super) fn stamp(r: &Row, i: usize, of: &str) -> Result<Timestamp> {
    parse_stamp(&r.try_get::<_, String>(i)?, of)
}

pub(super) fn approval_row(r: &Row) -> Result<Approval> {
    let id: String = r.try_get(0)?;
    let state: String = r.try_get(8)?;
    let history: String = r.try_get(15)?;
    let grant: String = r.try_get(13)?;
    Ok(Approval {
        state: state
            .parse()
            .map_err(|e: String| StoreError::Corrupt(format!("approval {id}: {e}")))?,
        history: serde_json::from_str(&history)
            .map_err(|e| StoreError::Corrupt(format!("approval {id} history: {e}")))?,
        decision_id: r.try_get(1)?,
        fingerprint: r.try_get(2)?,
        session_id: r.try_get(3)?,
        approver_group: r.try_get(4)?,
        requested_by: r.try_get(5)?,
        requested_at: stamp(r, 6, &id)?,
        expires_at: stamp(r, 7, &id)?,
        decided_by: r.try_get(9)?,
        decided_at: r
            .try_get::<_, Option<String>>(10)?
            .map(|t| parse_stamp(&t, &id))
            .transpose()?,
        reason: r.try_get(11)?,
        summary: r.try_get(12)?,
        extra: Grant {
            grant: GrantUse::parse(&grant),
            uses: r.try_get(14)?,
        },
        id,
    })
}

pub(super) async fn load_approval<C: GenericClient>(
    c: &C,
    tenant: &str,
    id: &str,
) -> Result<Option<Approval>> {
    let st = c
        .prepare_cached(&format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE tenant = $1 AND id = $2"
        ))
        .await?;
    c.query_opt(&st, &[&tenant, &id])
        .await?
        .as_ref()
        .map(approval_row)
        .transpose()
}

/// Stores `after` if the approval is still as `before` (same state, same uses) and records
/// the change in the log; false when another write got there first.
pub(super) async fn store_transition(
    tx: &deadpool_postgres::Transaction<'_>,
    settings: &LogSettings,
    tenant: &str,
    before: &Approval,
    after: &Approval,
    actor: &str,
) -> Result<bool> {
    let changed = tx
        .execute(
            &tx.prepare_cached(
                "UPDATE approvals SET state = $1, decided_by = $2, decided_at = $3, reason = $4, expires_at = $5, grant_use = $6, uses = $7, history = $8 WHERE tenant = $9 AND id = $10 AND state = $11 AND uses = $12",
            )
            .await?,
            &[
                &after.state.as_str(),
                &after.decided_by,
                &after.decided_at.map(|t| t.to_string()),
                &after.reason,
                &after.expires_at.to_string(),
                &after.extra.grant.as_str(),
                &after.extra.uses,
                &serde_json::to_string(&after.history)?,
                &tenant,
                &after.id,
                &before.state.as_str(),
                &before.extra.uses,
            ],
        )
        .await?;
    if changed == 0 {
        return Ok(false);
    }
    let at = crate::log::step_time(after);
    let index = append(tx, settings, tenant, approval_entry(after, actor, &at)).await?;
    let event = crate::outbox::approval_event(
        after,
        approval_body(after, actor),
        crate::log::step_stamp(after),
    );
    crate::postgres_outbox::insert_event(tx, tenant, &event, Some(index)).await?;
    Ok(true)
}

/// The decisions table's columns, as written.
pub(super) const DECISION_COLUMNS: &str = "decision_id, session_id, agent, requested_by, action_type, decision, rule_id, timestamp, fingerprint, policy_digest, log_index, repository";
/// A decision as read: its columns (`d`) and its log entry (`e`), in [`decision_row`]'s order.
pub(super) const DECISION_SELECT: &str = "SELECT d.decision_id, d.session_id, d.agent, d.requested_by, d.action_type, d.decision, d.rule_id, d.timestamp, d.fingerprint, d.policy_digest, d.log_index, e.entry FROM decisions d JOIN log_entries e ON e.tenant = d.tenant AND e.idx = d.log_index";

/// A column holding one of the engine's words (a decision, an action type) of record `id`;
/// another word is damage.
pub(super) fn word<T>(r: &Row, idx: usize, id: &str) -> Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text: &str = r.try_get(idx)?;
    text.parse()
        .map_err(|e: T::Err| StoreError::Corrupt(format!("{id}: {e}")))
}

pub(super) fn decision_row(r: &Row) -> Result<StoredDecision> {
    let decision_id: String = r.try_get(0)?;
    let entry: Vec<u8> = r.try_get(11)?;
    Ok(StoredDecision {
        record: crate::log::entry_record(&entry)
            .map_err(|e| StoreError::Corrupt(format!("decision {decision_id}: {e}")))?,
        session_id: r.try_get(1)?,
        extra: Provenance {
            agent: r.try_get(2)?,
            requested_by: r.try_get(3)?,
            policy_digest: r.try_get(9)?,
            log_index: r.try_get::<_, Option<i64>>(10)?.map(|i| i as u64),
        },
        action_type: word::<ActionType>(r, 4, &decision_id)?.into(),
        decision: word(r, 5, &decision_id)?,
        rule_id: r.try_get(6)?,
        timestamp: stamp(r, 7, &decision_id)?,
        fingerprint: r.try_get(8)?,
        decision_id,
    })
}

pub(super) const TOKEN_COLUMNS: &str =
    "id, tenant, subject, roles, groups_json, digest, created_at, expires_at, revoked_at";

pub(super) fn token_row(r: &Row) -> Result<TokenRecord> {
    let columns = TokenColumns {
        roles: r.try_get(3)?,
        groups: r.try_get(4)?,
        digest: r.try_get(5)?,
        created_at: r.try_get(6)?,
        expires_at: r.try_get(7)?,
        revoked_at: r.try_get(8)?,
    };
    columns.into_record(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)
}

pub(super) const PACK_COLUMNS: &str =
    "digest, pack_id, document, signed_by, uploaded_at, uploaded_by";

pub(super) fn pack_row(r: &Row) -> Result<StoredPack> {
    let digest: String = r.try_get(0)?;
    let signed: Option<String> = r.try_get(3)?;
    Ok(StoredPack {
        signed_by: signed
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("pack {digest} signature: {e}")))?,
        pack_id: r.try_get(1)?,
        document: r.try_get(2)?,
        uploaded_at: stamp(r, 4, &digest)?,
        uploaded_by: r.try_get(5)?,
        digest,
    })
}

pub(super) fn tenant_row(r: &Row) -> Result<Tenant> {
    let id: String = r.try_get(0)?;
    Ok(Tenant {
        name: r.try_get(1)?,
        created_at: stamp(r, 2, &id)?,
        id,
    })
}

pub(super) const SESSION_SELECT: &str = "SELECT session_id, MAX(agent), MIN(timestamp), MAX(timestamp), COUNT(*), COUNT(*) FILTER (WHERE decision = 'block'), COUNT(*) FILTER (WHERE decision = 'require_approval'), COUNT(*) FILTER (WHERE decision = 'warn') FROM decisions";

pub(super) fn session_row(r: &Row) -> Result<SessionSummary> {
    let id: String = r.try_get(0)?;
    Ok(SessionSummary {
        agent: r.try_get(1)?,
        first_seen: stamp(r, 2, &id)?,
        last_seen: stamp(r, 3, &id)?,
        id,
        decisions: r.try_get(4)?,
        blocked: r.try_get(5)?,
        approvals: r.try_get(6)?,
        warned: r.try_get(7)?,
    })
}

pub(super) fn registry_row(kind: RegistryKind, r: &Row) -> Result<RegistryRecord> {
    let name: String = r.try_get(0)?;
    let record: String = r.try_get(1)?;
    Ok(RegistryRecord {
        kind,
        record: serde_json::from_str(&record)
            .map_err(|e| StoreError::Corrupt(format!("registry {name}: {e}")))?,
        updated_at: stamp(r, 2, &name)?,
        name,
        updated_by: r.try_get(3)?,
    })
}

pub(super) fn frontier_of(size: i64, bytes: &[u8]) -> Result<Frontier> {
    Frontier::from_bytes(size as u64, bytes)
        .map_err(|e| StoreError::Corrupt(format!("log frontier: {e}")))
}

//! The outbox on PostgreSQL: events inserted by the decision and approval writes (same
//! transaction), routed into delivery rows, and claims made with `FOR UPDATE SKIP LOCKED`,
//! so that workers on several replicas each take different rows and never wait on one
//! another; a lease that runs out lets another worker take a row over.

use tokio_postgres::Row;

use crate::outbox::*;
use crate::postgres::{PgDb, append};
use crate::{Result, StoreError};

/// The outbox's tables (migration 4).
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE connector_events (
    seq BIGSERIAL PRIMARY KEY,
    tenant TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    ref_id TEXT COLLATE "C",
    log_index BIGINT,
    only_destination TEXT COLLATE "C",
    not_destination TEXT COLLATE "C",
    created_at TEXT COLLATE "C" NOT NULL,
    payload TEXT NOT NULL,
    routed BOOLEAN NOT NULL DEFAULT FALSE,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    UNIQUE (tenant, id)
);
CREATE INDEX connector_events_unrouted ON connector_events(seq) WHERE NOT routed;
CREATE TABLE connector_deliveries (
    tenant TEXT COLLATE "C" NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL,
    event_kind TEXT COLLATE "C" NOT NULL,
    destination TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    last_status TEXT,
    last_error TEXT,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, event_id, destination)
);
CREATE INDEX connector_deliveries_due ON connector_deliveries(next_at) WHERE state = 'pending';
CREATE INDEX connector_deliveries_tenant ON connector_deliveries(tenant, state, created_ms);
"#;

const EVENT_COLUMNS: &str =
    "tenant, id, kind, ref_id, log_index, only_destination, not_destination, created_at, payload";
const DELIVERY_COLUMNS: &str = "tenant, event_id, event_kind, destination, state, attempts, next_at, created_ms, updated_at, last_status, last_error";

/// Inserts one event inside `tx`.
pub(crate) async fn insert_event(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    e: &NewEvent,
    log_index: Option<u64>,
) -> Result<()> {
    tx.execute(
        &tx.prepare_cached(&format!(
            "INSERT INTO connector_events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .await?,
        &[
            &tenant,
            &e.id,
            &e.kind,
            &e.ref_id,
            &log_index.map(|i| i as i64),
            &e.only_destination,
            &e.not_destination,
            &e.created_at,
            &serde_json::to_string(&e.payload)?,
        ],
    )
    .await?;
    Ok(())
}

/// Inserts the events of a group commit inside `tx` (one statement).
pub(crate) async fn insert_events(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    events: &[(&NewEvent, u64)],
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(events.len());
    let mut kinds = Vec::with_capacity(events.len());
    let mut refs = Vec::with_capacity(events.len());
    let mut indexes = Vec::with_capacity(events.len());
    let mut times = Vec::with_capacity(events.len());
    let mut payloads = Vec::with_capacity(events.len());
    for (e, index) in events {
        ids.push(e.id.as_str());
        kinds.push(e.kind.as_str());
        refs.push(e.ref_id.as_deref());
        indexes.push(*index as i64);
        times.push(e.created_at.as_str());
        payloads.push(serde_json::to_string(&e.payload)?);
    }
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO connector_events (tenant, id, kind, ref_id, log_index, created_at, payload) SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[])",
        )
        .await?,
        &[&tenant, &ids, &kinds, &refs, &indexes, &times, &payloads],
    )
    .await?;
    Ok(())
}

fn event_row(r: &Row, at: usize) -> Result<OutboxEvent> {
    let id: String = r.try_get(at + 1)?;
    let payload: String = r.try_get(at + 8)?;
    Ok(OutboxEvent {
        tenant: r.try_get(at)?,
        kind: r.try_get(at + 2)?,
        ref_id: r.try_get(at + 3)?,
        log_index: r.try_get::<_, Option<i64>>(at + 4)?.map(|i| i as u64),
        only_destination: r.try_get(at + 5)?,
        not_destination: r.try_get(at + 6)?,
        created_at: r.try_get(at + 7)?,
        payload: serde_json::from_str(&payload)
            .map_err(|e| StoreError::Corrupt(format!("event {id}: {e}")))?,
        id,
    })
}

fn delivery_row(r: &Row) -> Result<Delivery> {
    let event_id: String = r.try_get(1)?;
    let state: String = r.try_get(4)?;
    Ok(Delivery {
        tenant: r.try_get(0)?,
        event_kind: r.try_get(2)?,
        destination: r.try_get(3)?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery of {event_id}: state {state}")))?,
        attempts: r.try_get::<_, i64>(5)?.clamp(0, u32::MAX as i64) as u32,
        next_at_ms: r.try_get(6)?,
        created_ms: r.try_get(7)?,
        updated_at: r.try_get(8)?,
        last_status: r.try_get(9)?,
        last_error: r.try_get(10)?,
        event_id,
    })
}

impl PgDb {
    pub(crate) async fn enqueue_event(
        &self,
        tenant: &str,
        event: NewEvent,
        entry: Option<(String, serde_json::Value)>,
    ) -> Result<Option<u64>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let index = match entry {
            Some((kind, body)) => Some(
                append(
                    &tx,
                    &self.settings,
                    tenant,
                    &kind,
                    Some(&event.id),
                    None,
                    &event.created_at,
                    body,
                )
                .await?,
            ),
            None => None,
        };
        insert_event(&tx, tenant, &event, index).await?;
        tx.commit().await?;
        Ok(index)
    }

    pub(crate) async fn claim_unrouted(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "UPDATE connector_events SET lease_owner = $1, lease_until = $2 WHERE seq IN (SELECT seq FROM connector_events WHERE NOT routed AND lease_until <= $3 ORDER BY seq LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING seq, {EVENT_COLUMNS}"
            ))
            .await?;
        let rows = c
            .query(
                &st,
                &[&owner, &(now_ms + lease_ms), &now_ms, &(limit as i64)],
            )
            .await?;
        let mut out = rows
            .iter()
            .map(|r| Ok((r.try_get::<_, i64>(0)?, event_row(r, 1)?)))
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|(seq, _)| *seq);
        Ok(out.into_iter().map(|(_, e)| e).collect())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn route_event(
        &self,
        tenant: &str,
        event_id: &str,
        owner: &str,
        destinations: Vec<String>,
        now_ms: i64,
        at: &str,
    ) -> Result<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let row = tx
            .query_opt(
                &tx.prepare_cached(
                    "SELECT kind FROM connector_events WHERE tenant = $1 AND id = $2 AND NOT routed AND lease_owner = $3 FOR UPDATE",
                )
                .await?,
                &[&tenant, &event_id, &owner],
            )
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let kind: String = row.try_get(0)?;
        if !destinations.is_empty() {
            tx.execute(
                &tx.prepare_cached(&format!(
                    "INSERT INTO connector_deliveries ({DELIVERY_COLUMNS}) SELECT $1, $2, $3, d, 'pending', 0, $4, $4, $5, NULL, NULL FROM UNNEST($6::text[]) AS d ON CONFLICT DO NOTHING"
                ))
                .await?,
                &[&tenant, &event_id, &kind, &now_ms, &at, &destinations],
            )
            .await?;
        }
        tx.execute(
            &tx.prepare_cached(
                "UPDATE connector_events SET routed = TRUE, lease_owner = NULL, lease_until = 0 WHERE tenant = $1 AND id = $2",
            )
            .await?,
            &[&tenant, &event_id],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(crate) async fn claim_deliveries(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedDelivery>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "WITH claimed AS (UPDATE connector_deliveries d SET lease_owner = $1, lease_until = $2 FROM (SELECT tenant, event_id, destination FROM connector_deliveries WHERE state = 'pending' AND next_at <= $3 AND lease_until <= $3 ORDER BY next_at LIMIT $4 FOR UPDATE SKIP LOCKED) c WHERE d.tenant = c.tenant AND d.event_id = c.event_id AND d.destination = c.destination RETURNING d.tenant, d.event_id, d.event_kind, d.destination, d.state, d.attempts, d.next_at, d.created_ms, d.updated_at, d.last_status, d.last_error) SELECT claimed.*, e.tenant, e.id, e.kind, e.ref_id, e.log_index, e.only_destination, e.not_destination, e.created_at, e.payload FROM claimed JOIN connector_events e ON e.tenant = claimed.tenant AND e.id = claimed.event_id ORDER BY claimed.next_at"
            )
            .await?;
        let rows = c
            .query(
                &st,
                &[&owner, &(now_ms + lease_ms), &now_ms, &(limit as i64)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ClaimedDelivery {
                    delivery: delivery_row(r)?,
                    event: event_row(r, 11)?,
                })
            })
            .collect()
    }

    pub(crate) async fn release_delivery(
        &self,
        tenant: &str,
        event_id: &str,
        destination: &str,
        owner: &str,
        next_at_ms: i64,
    ) -> Result<bool> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "UPDATE connector_deliveries SET next_at = $1, lease_owner = NULL, lease_until = 0 WHERE tenant = $2 AND event_id = $3 AND destination = $4 AND lease_owner = $5 AND state = 'pending'",
            )
            .await?;
        Ok(c.execute(
            &st,
            &[&next_at_ms, &tenant, &event_id, &destination, &owner],
        )
        .await?
            == 1)
    }

    pub(crate) async fn record_attempt(&self, a: AttemptRecord) -> Result<AttemptWritten> {
        let (state, next_at) = match a.outcome {
            AttemptOutcome::Delivered => (DeliveryState::Delivered, 0i64),
            AttemptOutcome::Retry { next_at_ms } => (DeliveryState::Pending, next_at_ms),
            AttemptOutcome::Dead => (DeliveryState::Dead, 0),
        };
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // The delivery row first, then the log head: the order every write takes.
        let applied = tx
            .execute(
                &tx.prepare_cached(
                    "UPDATE connector_deliveries SET state = $1, attempts = $2, next_at = $3, updated_at = $4, last_status = $5, last_error = $6, lease_owner = NULL, lease_until = 0 WHERE tenant = $7 AND event_id = $8 AND destination = $9 AND lease_owner = $10 AND state = 'pending'",
                )
                .await?,
                &[
                    &state.as_str(),
                    &(a.attempt as i64),
                    &next_at,
                    &a.at,
                    &a.status,
                    &a.error,
                    &a.tenant,
                    &a.event_id,
                    &a.destination,
                    &a.owner,
                ],
            )
            .await?
            == 1;
        let log_index = append(
            &tx,
            &self.settings,
            &a.tenant,
            "delivery",
            Some(&a.event_id),
            None,
            &a.at,
            a.entry.clone(),
        )
        .await?;
        if applied && let Some(f) = &a.follow_up {
            insert_event(&tx, &a.tenant, f, Some(log_index)).await?;
        }
        tx.commit().await?;
        Ok(AttemptWritten { log_index, applied })
    }

    pub(crate) async fn deliveries(
        &self,
        tenant: &str,
        f: &DeliveryFilter,
    ) -> Result<Vec<Delivery>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM connector_deliveries WHERE tenant = $1 AND ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR destination = $3) AND ($4::text IS NULL OR event_id = $4) ORDER BY created_ms DESC, event_id DESC LIMIT $5"
            ))
            .await?;
        let limit = f.limit.min(i64::MAX as usize) as i64;
        let rows = c
            .query(
                &st,
                &[
                    &tenant,
                    &f.state.map(DeliveryState::as_str),
                    &f.destination,
                    &f.event_id,
                    &limit,
                ],
            )
            .await?;
        rows.iter().map(delivery_row).collect()
    }

    pub(crate) async fn event(&self, tenant: &str, id: &str) -> Result<Option<OutboxEvent>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM connector_events WHERE tenant = $1 AND id = $2"
            ))
            .await?;
        c.query_opt(&st, &[&tenant, &id])
            .await?
            .as_ref()
            .map(|r| event_row(r, 0))
            .transpose()
    }

    pub(crate) async fn retry_dead(
        &self,
        tenant: &str,
        event_id: Option<&str>,
        destination: Option<&str>,
        now_ms: i64,
        at: &str,
    ) -> Result<u64> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "UPDATE connector_deliveries SET state = 'pending', attempts = 0, next_at = $1, created_ms = $1, updated_at = $2, lease_owner = NULL, lease_until = 0 WHERE tenant = $3 AND state = 'dead' AND ($4::text IS NULL OR event_id = $4) AND ($5::text IS NULL OR destination = $5)",
            )
            .await?;
        Ok(
            c.execute(&st, &[&now_ms, &at, &tenant, &event_id, &destination])
                .await?,
        )
    }
}

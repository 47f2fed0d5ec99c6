//! The outbox on SQLite: events inserted by the decision and approval writes (same
//! transaction), routed into delivery rows, and deliveries claimed with a lease column
//! (`UPDATE … RETURNING`: the one writer thread makes each claim atomic, and a lease that
//! runs out lets another worker take the row over).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use crate::outbox::*;
use crate::sqlite::{SqliteDb, append, atomic};
use crate::{LogSettings, Result, StoreError};

/// The outbox's tables (migration 4).
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE connector_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ref_id TEXT,
    log_index INTEGER,
    only_destination TEXT,
    not_destination TEXT,
    created_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    routed INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant, id)
);
CREATE INDEX connector_events_unrouted ON connector_events(seq) WHERE routed = 0;
CREATE TABLE connector_deliveries (
    tenant TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_kind TEXT NOT NULL,
    destination TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    last_status TEXT,
    last_error TEXT,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, event_id, destination)
);
CREATE INDEX connector_deliveries_due ON connector_deliveries(next_at) WHERE state = 'pending';
CREATE INDEX connector_deliveries_tenant ON connector_deliveries(tenant, state, created_ms);
"#;

const EVENT_COLUMNS: &str =
    "tenant, id, kind, ref_id, log_index, only_destination, not_destination, created_at, payload";
const DELIVERY_COLUMNS: &str = "tenant, event_id, event_kind, destination, state, attempts, next_at, created_ms, updated_at, last_status, last_error";

/// Inserts `e` into the outbox, inside the caller's transaction.
pub(crate) fn insert_event(
    conn: &Connection,
    tenant: &str,
    e: &NewEvent,
    log_index: Option<u64>,
) -> Result<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO connector_events ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))?
    .execute(params![
        tenant,
        e.id,
        e.kind,
        e.ref_id,
        log_index.map(|i| i as i64),
        e.only_destination,
        e.not_destination,
        e.created_at,
        serde_json::to_string(&e.payload)?,
    ])?;
    Ok(())
}

fn event_row(r: &Row<'_>) -> rusqlite::Result<(OutboxEvent, String)> {
    event_row_at(r, 0)
}

fn finish_event((mut e, payload): (OutboxEvent, String)) -> Result<OutboxEvent> {
    e.payload = serde_json::from_str(&payload)
        .map_err(|err| StoreError::Corrupt(format!("event {}: {err}", e.id)))?;
    Ok(e)
}

fn delivery_row(r: &Row<'_>) -> rusqlite::Result<(Delivery, String)> {
    Ok((
        Delivery {
            tenant: r.get(0)?,
            event_id: r.get(1)?,
            event_kind: r.get(2)?,
            destination: r.get(3)?,
            state: DeliveryState::Pending,
            attempts: r.get::<_, i64>(5)?.clamp(0, u32::MAX as i64) as u32,
            next_at_ms: r.get(6)?,
            created_ms: r.get(7)?,
            updated_at: r.get(8)?,
            last_status: r.get(9)?,
            last_error: r.get(10)?,
        },
        r.get(4)?,
    ))
}

fn finish_delivery((mut d, state): (Delivery, String)) -> Result<Delivery> {
    d.state = DeliveryState::parse(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("delivery of {}: state {state}", d.event_id)))?;
    Ok(d)
}

fn load_event(conn: &Connection, tenant: &str, id: &str) -> Result<Option<OutboxEvent>> {
    conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM connector_events WHERE tenant = ?1 AND id = ?2"
    ))?
    .query_row(params![tenant, id], event_row)
    .optional()?
    .map(finish_event)
    .transpose()
}

/// Writes an attempt: the delivery row moves if `a.owner` still holds its lease, and the
/// attempt is appended to the tenant's log either way (it happened).
fn write_attempt(
    conn: &Connection,
    settings: &LogSettings,
    a: &AttemptRecord,
) -> Result<AttemptWritten> {
    let (state, next_at) = match a.outcome {
        AttemptOutcome::Delivered => (DeliveryState::Delivered, 0),
        AttemptOutcome::Retry { next_at_ms } => (DeliveryState::Pending, next_at_ms),
        AttemptOutcome::Dead => (DeliveryState::Dead, 0),
    };
    let applied = conn
        .prepare_cached(
            "UPDATE connector_deliveries SET state = ?1, attempts = ?2, next_at = ?3, updated_at = ?4, last_status = ?5, last_error = ?6, lease_owner = NULL, lease_until = 0 WHERE tenant = ?7 AND event_id = ?8 AND destination = ?9 AND lease_owner = ?10 AND state = 'pending'",
        )?
        .execute(params![
            state.as_str(),
            a.attempt as i64,
            next_at,
            a.at,
            a.status,
            a.error,
            a.tenant,
            a.event_id,
            a.destination,
            a.owner,
        ])?
        == 1;
    let log_index = append(
        conn,
        settings,
        &a.tenant,
        "delivery",
        Some(&a.event_id),
        None,
        &a.at,
        a.entry.clone(),
    )?;
    if applied && let Some(f) = &a.follow_up {
        insert_event(conn, &a.tenant, f, Some(log_index))?;
    }
    Ok(AttemptWritten { log_index, applied })
}

impl SqliteDb {
    pub(crate) async fn enqueue_event(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        event: NewEvent,
        entry: Option<(String, Value)>,
    ) -> Result<Option<u64>> {
        let tenant = tenant.to_string();
        self.write(move |c, settings| {
            atomic(c, |c| {
                let index = match &entry {
                    Some((kind, body)) => Some(append(
                        c,
                        settings,
                        &tenant,
                        kind,
                        Some(&event.id),
                        None,
                        &event.created_at,
                        body.clone(),
                    )?),
                    None => None,
                };
                insert_event(c, &tenant, &event, index)?;
                Ok(index)
            })
        })
        .await
    }

    pub(crate) async fn claim_unrouted(
        self: &std::sync::Arc<Self>,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<OutboxEvent>> {
        let owner = owner.to_string();
        self.write(move |c, _| {
            let mut st = c.prepare_cached(&format!(
                "UPDATE connector_events SET lease_owner = ?1, lease_until = ?2 WHERE seq IN (SELECT seq FROM connector_events WHERE routed = 0 AND lease_until <= ?3 ORDER BY seq LIMIT ?4) RETURNING seq, {EVENT_COLUMNS}"
            ))?;
            let rows = st.query_map(
                params![owner, now_ms + lease_ms, now_ms, limit as i64],
                |r| {
                    let seq: i64 = r.get(0)?;
                    let (e, p) = event_row_at(r, 1)?;
                    Ok((seq, e, p))
                },
            )?;
            let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            // RETURNING gives no order; routing goes oldest first.
            out.sort_by_key(|(seq, _, _)| *seq);
            out.into_iter().map(|(_, e, p)| finish_event((e, p))).collect()
        })
        .await
    }

    pub(crate) async fn route_event(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        event_id: &str,
        owner: &str,
        destinations: Vec<String>,
        now_ms: i64,
        at: &str,
    ) -> Result<bool> {
        let (tenant, event_id, owner, at) = (
            tenant.to_string(),
            event_id.to_string(),
            owner.to_string(),
            at.to_string(),
        );
        self.write(move |c, _| {
            atomic(c, |c| {
                let kind: Option<String> = c
                    .prepare_cached(
                        "SELECT kind FROM connector_events WHERE tenant = ?1 AND id = ?2 AND routed = 0 AND lease_owner = ?3",
                    )?
                    .query_row(params![tenant, event_id, owner], |r| r.get(0))
                    .optional()?;
                let Some(kind) = kind else {
                    return Ok(false);
                };
                for d in &destinations {
                    c.prepare_cached(&format!(
                        "INSERT OR IGNORE INTO connector_deliveries ({DELIVERY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5, ?6, NULL, NULL)"
                    ))?
                    .execute(params![tenant, event_id, kind, d, now_ms, at])?;
                }
                c.prepare_cached(
                    "UPDATE connector_events SET routed = 1, lease_owner = NULL, lease_until = 0 WHERE tenant = ?1 AND id = ?2",
                )?
                .execute(params![tenant, event_id])?;
                Ok(true)
            })
        })
        .await
    }

    pub(crate) async fn claim_deliveries(
        self: &std::sync::Arc<Self>,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedDelivery>> {
        let owner = owner.to_string();
        self.write(move |c, _| {
            let claimed = {
                let mut st = c.prepare_cached(&format!(
                    "UPDATE connector_deliveries SET lease_owner = ?1, lease_until = ?2 WHERE rowid IN (SELECT rowid FROM connector_deliveries WHERE state = 'pending' AND next_at <= ?3 AND lease_until <= ?3 ORDER BY next_at LIMIT ?4) RETURNING {DELIVERY_COLUMNS}"
                ))?;
                let rows = st.query_map(
                    params![owner, now_ms + lease_ms, now_ms, limit as i64],
                    delivery_row,
                )?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            let mut out = Vec::with_capacity(claimed.len());
            for row in claimed {
                let delivery = finish_delivery(row)?;
                let event = load_event(c, &delivery.tenant, &delivery.event_id)?.ok_or_else(
                    || StoreError::Corrupt(format!("delivery of a missing event {}", delivery.event_id)),
                )?;
                out.push(ClaimedDelivery { delivery, event });
            }
            out.sort_by_key(|d| d.delivery.next_at_ms);
            Ok(out)
        })
        .await
    }

    pub(crate) async fn release_delivery(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        event_id: &str,
        destination: &str,
        owner: &str,
        next_at_ms: i64,
    ) -> Result<bool> {
        let (tenant, event_id, destination, owner) = (
            tenant.to_string(),
            event_id.to_string(),
            destination.to_string(),
            owner.to_string(),
        );
        self.write(move |c, _| {
            Ok(c.prepare_cached(
                "UPDATE connector_deliveries SET next_at = ?1, lease_owner = NULL, lease_until = 0 WHERE tenant = ?2 AND event_id = ?3 AND destination = ?4 AND lease_owner = ?5 AND state = 'pending'",
            )?
            .execute(params![next_at_ms, tenant, event_id, destination, owner])?
                == 1)
        })
        .await
    }

    pub(crate) async fn record_attempt(
        self: &std::sync::Arc<Self>,
        a: AttemptRecord,
    ) -> Result<AttemptWritten> {
        self.write(move |c, settings| atomic(c, |c| write_attempt(c, settings, &a)))
            .await
    }

    pub(crate) async fn deliveries(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        f: &DeliveryFilter,
    ) -> Result<Vec<Delivery>> {
        let tenant = tenant.to_string();
        let f = f.clone();
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM connector_deliveries WHERE tenant = ?1 AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR destination = ?3) AND (?4 IS NULL OR event_id = ?4) ORDER BY created_ms DESC, event_id DESC LIMIT ?5"
            ))?;
            let rows = st.query_map(
                params![
                    tenant,
                    f.state.map(DeliveryState::as_str),
                    f.destination,
                    f.event_id,
                    f.limit.min(i64::MAX as usize) as i64
                ],
                delivery_row,
            )?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                .map(finish_delivery)
                .collect()
        })
        .await
    }

    pub(crate) async fn event(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        id: &str,
    ) -> Result<Option<OutboxEvent>> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.read(move |c| load_event(c, &tenant, &id)).await
    }

    pub(crate) async fn retry_dead(
        self: &std::sync::Arc<Self>,
        tenant: &str,
        event_id: Option<&str>,
        destination: Option<&str>,
        now_ms: i64,
        at: &str,
    ) -> Result<u64> {
        let (tenant, event_id, destination, at) = (
            tenant.to_string(),
            event_id.map(str::to_string),
            destination.map(str::to_string),
            at.to_string(),
        );
        self.write(move |c, _| {
            Ok(c.prepare_cached(
                "UPDATE connector_deliveries SET state = 'pending', attempts = 0, next_at = ?1, created_ms = ?1, updated_at = ?2, lease_owner = NULL, lease_until = 0 WHERE tenant = ?3 AND state = 'dead' AND (?4 IS NULL OR event_id = ?4) AND (?5 IS NULL OR destination = ?5)",
            )?
            .execute(params![now_ms, at, tenant, event_id, destination])? as u64)
        })
        .await
    }
}

/// [`event_row`] with its columns starting at `at`.
fn event_row_at(r: &Row<'_>, at: usize) -> rusqlite::Result<(OutboxEvent, String)> {
    Ok((
        OutboxEvent {
            tenant: r.get(at)?,
            id: r.get(at + 1)?,
            kind: r.get(at + 2)?,
            ref_id: r.get(at + 3)?,
            log_index: r.get::<_, Option<i64>>(at + 4)?.map(|i| i as u64),
            only_destination: r.get(at + 5)?,
            not_destination: r.get(at + 6)?,
            created_at: r.get(at + 7)?,
            payload: Value::Null,
        },
        r.get(at + 8)?,
    ))
}

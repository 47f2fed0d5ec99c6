//! The outbox on SQLite: events inserted by the decision and approval writes (same
//! transaction), routed into delivery rows, and deliveries claimed with a lease column
//! (`UPDATE … RETURNING`: the one writer thread makes each claim atomic, and a lease that
//! runs out lets another worker take the row over).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use crate::log::{EntryBody, NewEntry, PreparedBody, prepare_body};
use crate::outbox::*;
use crate::sqlite::{Heads, SqliteDb, append, append_with, atomic};
use crate::{LogSettings, Result, StoreError, Timestamp};

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

/// A fresh delivery, leased and due when its lease ends (`?8`).
const INSERT_LEASED: &str = "INSERT OR IGNORE INTO connector_deliveries (tenant, event_id, event_kind, destination, state, attempts, next_at, created_ms, updated_at, last_status, last_error, lease_owner, lease_until) VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?8, ?5, ?6, NULL, NULL, ?7, ?8)";

/// An event's row in the outbox, from the decision's transaction (`?5` the log index).
const INSERT_EVENT: &str = "INSERT INTO connector_events (tenant, id, kind, ref_id, log_index, only_destination, not_destination, created_at, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// A unit of a claim's write (see `write_units`): an event read and routed on a reader,
/// marked and given its deliveries on the writer; or, last, the due deliveries.
// Every unit but the last is the large variant: boxing it would only add an allocation each.
#[allow(clippy::large_enum_variant)]
enum ClaimUnit {
    Routed(i64, OutboxEvent, Vec<String>),
    Due,
}

/// Inserts `e` into the outbox, inside the caller's transaction.
pub(crate) fn insert_event(
    conn: &Connection,
    tenant: &str,
    e: &NewEvent,
    log_index: Option<u64>,
) -> Result<()> {
    insert_event_text(
        conn,
        tenant,
        e,
        log_index,
        &serde_json::to_string(&e.payload)?,
    )
}

/// [`insert_event`] with the payload's JSON text written out already (outside the writer).
pub(crate) fn insert_event_text(
    conn: &Connection,
    tenant: &str,
    e: &NewEvent,
    log_index: Option<u64>,
    payload: &str,
) -> Result<()> {
    // A constant statement: the decision's path looks it up in the connection's cache
    // without building its text first.
    conn.prepare_cached(INSERT_EVENT)?.execute(params![
        tenant,
        e.id,
        e.kind,
        e.ref_id,
        log_index.map(|i| i as i64),
        e.only_destination,
        e.not_destination,
        e.created_at,
        payload,
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

/// Writes one attempt of a batch (a unit of [`SqliteDb::write_units`]): its delivery row
/// moves if `a.owner` still holds its lease, the attempt is appended to its tenant's log
/// either way (it happened), and the follow-up event of one that moved is inserted. Its
/// statements can fail only on a broken database, which takes the group down.
fn write_attempt(
    conn: &Connection,
    settings: &LogSettings,
    heads: &mut Heads,
    (a, body, at): (AttemptRecord, PreparedBody, String),
) -> Result<AttemptWritten> {
    let (state, next_at) = outcome_row(&a.outcome);
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
    let log_index = append_with(
        conn,
        settings,
        heads,
        &a.tenant,
        NewEntry {
            kind: "delivery",
            ref_id: Some(&a.event_id),
            session_id: None,
            timestamp: &at,
            body: EntryBody::Prepared(body),
        },
    )?;
    if applied && let Some(f) = &a.follow_up {
        insert_event(conn, &a.tenant, f, Some(log_index))?;
    }
    Ok(AttemptWritten { log_index, applied })
}

impl crate::backend::Outbox for SqliteDb {
    async fn append_entry(
        &self,
        tenant: &str,
        kind: &str,
        ref_id: Option<&str>,
        at: Timestamp,
        body: Value,
    ) -> Result<u64> {
        let (tenant, kind, at) = (tenant.to_string(), kind.to_string(), at.to_string());
        let ref_id = ref_id.map(str::to_string);
        self.write(move |c, settings| {
            atomic(c, |c| {
                append(
                    c,
                    settings,
                    &tenant,
                    NewEntry {
                        kind: &kind,
                        ref_id: ref_id.as_deref(),
                        session_id: None,
                        timestamp: &at,
                        body: body.clone().into(),
                    },
                )
            })
        })
        .await
    }

    async fn enqueue_event(
        &self,
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
                        NewEntry {
                            kind,
                            ref_id: Some(&event.id),
                            session_id: None,
                            timestamp: &event.created_at.to_string(),
                            body: body.clone().into(),
                        },
                    )?),
                    None => None,
                };
                insert_event(c, &tenant, &event, index)?;
                Ok(index)
            })
        })
        .await
    }

    async fn claim(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
        at: Timestamp,
        route: Route,
    ) -> Result<Claim> {
        // The events not yet routed are read, parsed and routed on a reader, off the one
        // writer (which the decisions wait behind); the writer then only marks each routed,
        // if no other worker did meanwhile, and inserts its deliveries.
        let routed: Vec<(i64, OutboxEvent, Vec<String>)> = self
            .read(move |c| {
                let mut st = c.prepare_cached(&format!(
                    "SELECT seq, {EVENT_COLUMNS} FROM connector_events WHERE routed = 0 ORDER BY seq LIMIT ?1"
                ))?;
                let rows = st.query_map(params![limit as i64], |r| {
                    let seq: i64 = r.get(0)?;
                    let (e, p) = event_row_at(r, 1)?;
                    Ok((seq, e, p))
                })?;
                let rows = rows.collect::<rusqlite::Result<Vec<_>>>()?;
                rows.into_iter()
                    .map(|(seq, e, p)| {
                        let e = finish_event((e, p))?;
                        let to = route(&e);
                        Ok((seq, e, to))
                    })
                    .collect()
            })
            .await?;
        // A unit per routed event, then the due deliveries: decisions arriving while a
        // claim is written wait for a few events, not for the claim (see `write_units`).
        let owner = owner.to_string();
        let until = now_ms + lease_ms;
        let mut units: Vec<ClaimUnit> = routed
            .into_iter()
            .map(|(seq, e, to)| ClaimUnit::Routed(seq, e, to))
            .collect();
        units.push(ClaimUnit::Due);
        let mut taken = 0usize;
        let parts = self
            .write_units(units, move |c, _, _, unit| match unit {
                ClaimUnit::Routed(seq, e, to) => {
                    let marked = c
                        .prepare_cached(
                            "UPDATE connector_events SET routed = 1 WHERE seq = ?1 AND routed = 0",
                        )?
                        .execute(params![seq])?;
                    if marked == 0 {
                        // Routed by another worker since it was read.
                        return Ok((0, Vec::new()));
                    }
                    // Leased until `until`, and due then: a claim looking for due
                    // deliveries does not walk past the ones in flight.
                    let mut insert = c.prepare_cached(INSERT_LEASED)?;
                    let mut mine = Vec::with_capacity(to.len());
                    for d in to {
                        if insert
                            .execute(params![e.tenant, e.id, e.kind, d, now_ms, at, owner, until])?
                            == 1
                        {
                            mine.push(d);
                        }
                    }
                    let mut out = Vec::with_capacity(mine.len());
                    fresh_deliveries(e, mine, now_ms, at, &mut out);
                    taken += out.len();
                    Ok((1, out))
                }
                ClaimUnit::Due => {
                    let rest = limit.saturating_sub(taken);
                    if rest == 0 {
                        return Ok((0, Vec::new()));
                    }
                    Ok((0, claim_due(c, &owner, now_ms, until, rest)?))
                }
            })
            .await?;
        let mut claim = Claim {
            routed: parts.iter().map(|(n, _)| n).sum(),
            deliveries: Vec::with_capacity(parts.iter().map(|(_, d)| d.len()).sum()),
        };
        for (_, d) in parts {
            claim.deliveries.extend(d);
        }
        Ok(claim)
    }

    async fn release_deliveries(&self, owner: &str, releases: Vec<Release>) -> Result<u64> {
        let owner = owner.to_string();
        self.write_background(move |c, _| {
            atomic(c, |c| {
                let mut st = c.prepare_cached(
                    "UPDATE connector_deliveries SET next_at = ?1, lease_owner = NULL, lease_until = 0 WHERE tenant = ?2 AND event_id = ?3 AND destination = ?4 AND lease_owner = ?5 AND state = 'pending'",
                )?;
                let mut n = 0;
                for r in &releases {
                    n += st.execute(params![r.next_at_ms, r.tenant, r.event_id, r.destination, owner])? as u64;
                }
                Ok(n)
            })
        })
        .await
    }

    async fn record_attempts(&self, attempts: Vec<AttemptRecord>) -> Result<Vec<AttemptWritten>> {
        // Redacted and canonical here, on the caller's thread: the one writer only splices.
        let attempts: Vec<(AttemptRecord, PreparedBody, String)> = attempts
            .into_iter()
            .map(|mut a| {
                let body = prepare_body(&self.redactor, std::mem::take(&mut a.entry));
                let at = a.at.text();
                (a, body, at)
            })
            .collect();
        // A unit per attempt: decisions arriving while a batch is recorded wait for a few
        // attempts, not for the batch (see `write_units`).
        self.write_units(attempts, write_attempt).await
    }

    async fn purge_outbox(&self, before: Timestamp, chunk: usize) -> Result<Purged> {
        // The rows to remove are found on a reader (a scan that would otherwise hold the one
        // writer, and the decisions behind it), then removed by id on the writer, each
        // condition checked again there.
        let cut = before;
        let rows: Vec<i64> = self
            .read(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT rowid FROM connector_deliveries WHERE state IN ('delivered', 'dead') AND updated_at < ?1 LIMIT ?2",
                )?;
                let ids = st.query_map(params![cut, chunk as i64], |r| r.get(0))?;
                Ok(ids.collect::<rusqlite::Result<Vec<i64>>>()?)
            })
            .await?;
        let cut = before;
        let deliveries = self
            .write_background(move |c, _| {
                atomic(c, |c| {
                    let mut st = c.prepare_cached(
                        "DELETE FROM connector_deliveries WHERE rowid = ?1 AND state IN ('delivered', 'dead') AND updated_at < ?2",
                    )?;
                    let mut n = 0u64;
                    for id in rows {
                        n += st.execute(params![id, cut])? as u64;
                    }
                    Ok(n)
                })
            })
            .await?;
        let cut = before;
        let seqs: Vec<i64> = self
            .read(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT seq FROM connector_events e WHERE e.created_at < ?1 AND NOT EXISTS (SELECT 1 FROM connector_deliveries d WHERE d.tenant = e.tenant AND d.event_id = e.id) ORDER BY seq LIMIT ?2",
                )?;
                let ids = st.query_map(params![cut, chunk as i64], |r| r.get(0))?;
                Ok(ids.collect::<rusqlite::Result<Vec<i64>>>()?)
            })
            .await?;
        let cut = before;
        let events = self
            .write_background(move |c, _| {
                atomic(c, |c| {
                    let mut st = c.prepare_cached(
                        "DELETE FROM connector_events WHERE seq = ?1 AND created_at < ?2 AND NOT EXISTS (SELECT 1 FROM connector_deliveries d WHERE d.tenant = connector_events.tenant AND d.event_id = connector_events.id)",
                    )?;
                    let mut n = 0u64;
                    for seq in seqs {
                        n += st.execute(params![seq, cut])? as u64;
                    }
                    Ok(n)
                })
            })
            .await?;
        Ok(Purged { deliveries, events })
    }

    async fn deliveries(&self, tenant: &str, f: &DeliveryFilter) -> Result<Vec<Delivery>> {
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

    async fn event(&self, tenant: &str, id: &str) -> Result<Option<OutboxEvent>> {
        let (tenant, id) = (tenant.to_string(), id.to_string());
        self.read(move |c| load_event(c, &tenant, &id)).await
    }

    async fn retry_dead(
        &self,
        tenant: &str,
        event_id: Option<&str>,
        destination: Option<&str>,
        now_ms: i64,
        at: Timestamp,
    ) -> Result<u64> {
        let (tenant, event_id, destination) = (
            tenant.to_string(),
            event_id.map(str::to_string),
            destination.map(str::to_string),
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

/// Leases up to `limit` due deliveries (every tenant) to `owner` until `until`, with their
/// events, by due time.
fn claim_due(
    c: &Connection,
    owner: &str,
    now_ms: i64,
    until: i64,
    limit: usize,
) -> Result<Vec<ClaimedDelivery>> {
    let claimed = {
        let mut st = c.prepare_cached(&format!(
            "UPDATE connector_deliveries SET lease_owner = ?1, lease_until = ?2 WHERE rowid IN (SELECT rowid FROM connector_deliveries WHERE state = 'pending' AND next_at <= ?3 AND lease_until <= ?3 ORDER BY next_at LIMIT ?4) RETURNING {DELIVERY_COLUMNS}"
        ))?;
        let rows = st.query_map(params![owner, until, now_ms, limit as i64], delivery_row)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    let mut out = Vec::with_capacity(claimed.len());
    for row in claimed {
        let delivery = finish_delivery(row)?;
        let event = load_event(c, &delivery.tenant, &delivery.event_id)?.ok_or_else(|| {
            StoreError::Corrupt(format!("delivery of a missing event {}", delivery.event_id))
        })?;
        out.push(ClaimedDelivery { delivery, event });
    }
    out.sort_by_key(|d| d.delivery.next_at_ms);
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The constant statements name the columns the rest of this file reads.
    #[test]
    fn the_constant_statements_match_the_columns() {
        assert!(INSERT_EVENT.contains(&format!("({EVENT_COLUMNS})")));
        assert!(INSERT_LEASED.contains(&format!("({DELIVERY_COLUMNS}, lease_owner, lease_until)")));
    }
}

//! The outbox on PostgreSQL: events inserted by the decision and approval writes (same
//! transaction), routed into delivery rows, and claims made with `FOR UPDATE SKIP LOCKED`,
//! so that workers on several replicas each take different rows and never wait on one
//! another; a lease that runs out lets another worker take a row over.

use tokio_postgres::Row;

use crate::log::{NewEntry, PreparedBody, prepare_body};
use crate::outbox::*;
use crate::postgres::{PgDb, append, append_many};
use crate::{Result, StoreError, Timestamp};

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
            &e.created_at.to_string(),
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
        times.push(e.created_at.to_string());
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
        created_at: crate::posture_days::pg_time(r.try_get(at + 7)?, &format!("event {id}"))?,
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
        updated_at: crate::posture_days::pg_time(
            r.try_get(8)?,
            &format!("delivery of {event_id}"),
        )?,
        last_status: r.try_get(9)?,
        last_error: r.try_get(10)?,
        event_id,
    })
}

impl crate::backend::Outbox for PgDb {
    async fn append_entry(
        &self,
        tenant: &str,
        kind: &str,
        ref_id: Option<&str>,
        at: Timestamp,
        body: serde_json::Value,
    ) -> Result<u64> {
        let at = at.to_string();
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let index = append(
            &tx,
            &self.settings,
            tenant,
            NewEntry {
                kind,
                ref_id,
                session_id: None,
                timestamp: &at,
                body: body.into(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(index)
    }

    async fn enqueue_event(
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
                    NewEntry {
                        kind: &kind,
                        ref_id: Some(&event.id),
                        session_id: None,
                        timestamp: &event.created_at.to_string(),
                        body: body.into(),
                    },
                )
                .await?,
            ),
            None => None,
        };
        insert_event(&tx, tenant, &event, index).await?;
        tx.commit().await?;
        Ok(index)
    }

    #[allow(clippy::too_many_arguments)]
    async fn claim(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
        at: Timestamp,
        route: Route,
    ) -> Result<Claim> {
        let until = now_ms + lease_ms;
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // No lease on the events themselves: they are routed in this same transaction, and
        // SKIP LOCKED gives each replica's claim different ones.
        let rows = tx
            .query(
                &tx.prepare_cached(&format!(
                    "UPDATE connector_events SET routed = TRUE, lease_owner = NULL, lease_until = 0 WHERE seq IN (SELECT seq FROM connector_events WHERE NOT routed ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING seq, {EVENT_COLUMNS}"
                ))
                .await?,
                &[&(limit as i64)],
            )
            .await?;
        let mut events = rows
            .iter()
            .map(|r| Ok((r.try_get::<_, i64>(0)?, event_row(r, 1)?)))
            .collect::<Result<Vec<_>>>()?;
        events.sort_by_key(|(seq, _)| *seq);
        let routed = events.len();
        let mut fresh = Vec::new();
        for (_, e) in events {
            let destinations = route(&e);
            fresh_deliveries(e, destinations, now_ms, at, &mut fresh);
        }
        let mut claim = Claim {
            routed,
            deliveries: Vec::with_capacity(fresh.len()),
        };
        if !fresh.is_empty() {
            // Leased until `until`, and due then: a claim looking for due deliveries does
            // not walk past the ones in flight.
            let col = |f: fn(&Delivery) -> &str| -> Vec<&str> {
                fresh.iter().map(|c| f(&c.delivery)).collect()
            };
            let inserted = tx
                .query(
                    &tx.prepare_cached(&format!(
                        "INSERT INTO connector_deliveries ({DELIVERY_COLUMNS}, lease_owner, lease_until) SELECT t, e, k, d, 'pending', 0, $8, $5, $6, NULL, NULL, $7, $8 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS u(t, e, k, d) ON CONFLICT DO NOTHING RETURNING tenant, event_id, destination"
                    ))
                    .await?,
                    &[
                        &col(|d| &d.tenant),
                        &col(|d| &d.event_id),
                        &col(|d| &d.event_kind),
                        &col(|d| &d.destination),
                        &now_ms,
                        &at.to_string(),
                        &owner,
                        &until,
                    ],
                )
                .await?;
            let mut made = std::collections::HashSet::with_capacity(inserted.len());
            for r in &inserted {
                made.insert((
                    r.try_get::<_, String>(0)?,
                    r.try_get::<_, String>(1)?,
                    r.try_get::<_, String>(2)?,
                ));
            }
            claim.deliveries.extend(fresh.into_iter().filter(|c| {
                let d = &c.delivery;
                made.contains(&(d.tenant.clone(), d.event_id.clone(), d.destination.clone()))
            }));
        }
        let rest = limit.saturating_sub(claim.deliveries.len());
        if rest > 0 {
            let rows = tx
                .query(
                    &tx.prepare_cached(
                        "WITH claimed AS (UPDATE connector_deliveries d SET lease_owner = $1, lease_until = $2 FROM (SELECT tenant, event_id, destination FROM connector_deliveries WHERE state = 'pending' AND next_at <= $3 AND lease_until <= $3 ORDER BY next_at LIMIT $4 FOR UPDATE SKIP LOCKED) c WHERE d.tenant = c.tenant AND d.event_id = c.event_id AND d.destination = c.destination RETURNING d.tenant, d.event_id, d.event_kind, d.destination, d.state, d.attempts, d.next_at, d.created_ms, d.updated_at, d.last_status, d.last_error) SELECT claimed.*, e.tenant, e.id, e.kind, e.ref_id, e.log_index, e.only_destination, e.not_destination, e.created_at, e.payload FROM claimed JOIN connector_events e ON e.tenant = claimed.tenant AND e.id = claimed.event_id ORDER BY claimed.next_at",
                    )
                    .await?,
                    &[&owner, &until, &now_ms, &(rest as i64)],
                )
                .await?;
            for r in &rows {
                claim.deliveries.push(ClaimedDelivery {
                    delivery: delivery_row(r)?,
                    event: event_row(r, 11)?,
                });
            }
        }
        tx.commit().await?;
        Ok(claim)
    }

    async fn release_deliveries(&self, owner: &str, releases: Vec<Release>) -> Result<u64> {
        let c = self.client().await?;
        let col = |f: fn(&Release) -> &str| -> Vec<&str> { releases.iter().map(f).collect() };
        let next: Vec<i64> = releases.iter().map(|r| r.next_at_ms).collect();
        let st = c
            .prepare_cached(
                "UPDATE connector_deliveries d SET next_at = u.n, lease_owner = NULL, lease_until = 0 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(t, e, dst, n) WHERE d.tenant = u.t AND d.event_id = u.e AND d.destination = u.dst AND d.lease_owner = $5 AND d.state = 'pending'",
            )
            .await?;
        Ok(c.execute(
            &st,
            &[
                &col(|r| &r.tenant),
                &col(|r| &r.event_id),
                &col(|r| &r.destination),
                &next,
                &owner,
            ],
        )
        .await?)
    }

    async fn record_attempts(
        &self,
        mut attempts: Vec<AttemptRecord>,
    ) -> Result<Vec<AttemptWritten>> {
        let bodies: Vec<PreparedBody> = attempts
            .iter_mut()
            .map(|a| prepare_body(&self.settings.redactor, std::mem::take(&mut a.entry)))
            .collect();
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // The delivery rows first, then the log heads (in tenant order): the order every
        // write takes, so two workers never wait on each other in a cycle.
        let (
            mut t,
            mut e,
            mut dst,
            mut owner,
            mut state,
            mut n,
            mut next,
            mut at,
            mut status,
            mut error,
        ) = (
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        );
        for a in &attempts {
            let (s, next_at) = outcome_row(&a.outcome);
            t.push(a.tenant.as_str());
            e.push(a.event_id.as_str());
            dst.push(a.destination.as_str());
            owner.push(a.owner.as_str());
            state.push(s.as_str());
            n.push(a.attempt as i64);
            next.push(next_at);
            at.push(a.at.to_string());
            status.push(a.status.as_str());
            error.push(a.error.as_deref());
        }
        let moved = tx
            .query(
                &tx.prepare_cached(
                    "UPDATE connector_deliveries d SET state = u.s, attempts = u.n, next_at = u.next, updated_at = u.at, last_status = u.status, last_error = u.error, lease_owner = NULL, lease_until = 0 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::text[], $10::text[]) AS u(t, e, dst, o, s, n, next, at, status, error) WHERE d.tenant = u.t AND d.event_id = u.e AND d.destination = u.dst AND d.lease_owner = u.o AND d.state = 'pending' RETURNING d.tenant, d.event_id, d.destination",
                )
                .await?,
                &[&t, &e, &dst, &owner, &state, &n, &next, &at, &status, &error],
            )
            .await?;
        let mut applied = std::collections::HashSet::with_capacity(moved.len());
        for r in &moved {
            applied.insert((
                r.try_get::<_, String>(0)?,
                r.try_get::<_, String>(1)?,
                r.try_get::<_, String>(2)?,
            ));
        }
        let mut indexes = vec![0u64; attempts.len()];
        for group in attempts_by_tenant(
            attempts
                .iter()
                .zip(&bodies)
                .zip(&at)
                .map(|((a, body), at)| (a, body, at.as_str())),
        ) {
            let got = append_many(&tx, &self.settings, group.tenant, group.entries).await?;
            for (i, index) in group.positions.into_iter().zip(got) {
                indexes[i] = index;
            }
        }
        let mut out = Vec::with_capacity(attempts.len());
        for (a, log_index) in attempts.iter().zip(indexes) {
            let applied =
                applied.contains(&(a.tenant.clone(), a.event_id.clone(), a.destination.clone()));
            if applied && let Some(f) = &a.follow_up {
                insert_event(&tx, &a.tenant, f, Some(log_index)).await?;
            }
            out.push(AttemptWritten { log_index, applied });
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn purge_outbox(&self, before: Timestamp, chunk: usize) -> Result<Purged> {
        let before = before.to_string();
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let chunk = chunk as i64;
        // SKIP LOCKED: rows a worker is claiming or recording right now are left for the
        // next purge; an event being routed is never deleted under its new deliveries.
        let deliveries = tx
            .execute(
                &tx.prepare_cached(
                    "DELETE FROM connector_deliveries WHERE ctid IN (SELECT ctid FROM connector_deliveries WHERE state IN ('delivered', 'dead') AND updated_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
                )
                .await?,
                &[&before, &chunk],
            )
            .await?;
        let events = tx
            .execute(
                &tx.prepare_cached(
                    "DELETE FROM connector_events WHERE seq IN (SELECT seq FROM connector_events e WHERE e.created_at < $1 AND NOT EXISTS (SELECT 1 FROM connector_deliveries d WHERE d.tenant = e.tenant AND d.event_id = e.id) ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)",
                )
                .await?,
                &[&before, &chunk],
            )
            .await?;
        tx.commit().await?;
        Ok(Purged { deliveries, events })
    }

    async fn deliveries(&self, tenant: &str, f: &DeliveryFilter) -> Result<Vec<Delivery>> {
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

    async fn event(&self, tenant: &str, id: &str) -> Result<Option<OutboxEvent>> {
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

    async fn retry_dead(
        &self,
        tenant: &str,
        event_id: Option<&str>,
        destination: Option<&str>,
        now_ms: i64,
        at: Timestamp,
    ) -> Result<u64> {
        let at = at.to_string();
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

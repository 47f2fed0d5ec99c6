//! The outbox on PostgreSQL: events inserted by the decision and approval writes (same
//! transaction), routed into delivery rows, and claims made with `FOR UPDATE SKIP LOCKED`,
//! so that workers on several replicas each take different rows and never wait on one
//! another; a lease that runs out lets another worker take a row over.

use tokio_postgres::Row;

use crate::log::{NewEntry, PreparedBody, prepare_body};
use crate::outbox::*;
use crate::postgres::{PgDb, Work, append};
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
        // Redacted and canonical here, before the tenant's appender takes them.
        let bodies: Vec<PreparedBody> = attempts
            .iter_mut()
            .map(|a| prepare_body(&self.settings.redactor, std::mem::take(&mut a.entry)))
            .collect();
        // Each tenant's attempts go to its appender, which writes them with the decisions
        // waiting (one transaction, one lock of the log head, see `postgres::group_commit`):
        // an attempt's entry, its delivery row's move and its follow-up event are committed
        // together, and the worker no longer holds a tenant's log head in a transaction of its
        // own. The tenants' shares are written at once, each whole or not at all.
        // Per tenant: its attempts' positions in the batch, the attempts and their bodies.
        type Share = (String, Vec<usize>, Vec<AttemptRecord>, Vec<PreparedBody>);
        let mut shares: Vec<Share> = Vec::new();
        for (i, (a, body)) in attempts.into_iter().zip(bodies).enumerate() {
            let at = match shares.iter().position(|(t, ..)| *t == a.tenant) {
                Some(at) => at,
                None => {
                    shares.push((a.tenant.clone(), Vec::new(), Vec::new(), Vec::new()));
                    shares.len() - 1
                }
            };
            shares[at].1.push(i);
            shares[at].2.push(a);
            shares[at].3.push(body);
        }
        let total = shares.iter().map(|s| s.1.len()).sum();
        let mut waiting = Vec::with_capacity(shares.len());
        for (tenant, positions, attempts, bodies) in shares {
            let (reply, answer) = tokio::sync::oneshot::channel();
            self.appender(&tenant)
                .send(Work::Attempts {
                    attempts,
                    bodies,
                    reply,
                })
                .await
                .map_err(|_| StoreError::Closed)?;
            waiting.push((positions, answer));
        }
        let mut out = vec![
            AttemptWritten {
                log_index: 0,
                applied: false,
            };
            total
        ];
        let mut first_error = None;
        for (positions, answer) in waiting {
            match answer.await.map_err(|_| StoreError::Closed) {
                Ok(Ok(written)) => {
                    for (i, w) in positions.into_iter().zip(written) {
                        out[i] = w;
                    }
                }
                Ok(Err(e)) | Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(out),
        }
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

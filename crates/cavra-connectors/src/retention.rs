//! The outbox's retention: finished deliveries (delivered, dead) and the events left without
//! any delivery are removed once they are older than the configured number of days
//! (`connector_retention_days`, 30 by default), by a sweep the service runs every hour. What
//! is still pending is never removed; the delivery audit records (the `delivery` entries of
//! the evidence log) stay whatever happens to the rows.

use cavra_tenant_store::Db;
use cavra_tenant_store::Outbox;
use cavra_tenant_store::outbox::Purged;

use crate::ConnectorError;

/// How often the service sweeps.
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Rows removed per write: small enough that decisions waiting for the same SQLite writer
/// are not held up.
const CHUNK: usize = 2000;

/// Removes what finished more than `days` days before `now_ms` (ms since the epoch), a chunk
/// at a time until nothing is left to remove; returns how much it removed.
pub async fn purge(db: &Db, days: u32, now_ms: i64) -> Result<Purged, ConnectorError> {
    let before = crate::retry::stamp_ms(now_ms.saturating_sub(i64::from(days) * 86_400_000));
    let mut total = Purged::default();
    loop {
        let p = db.purge_outbox(before, CHUNK).await?;
        total.deliveries += p.deliveries;
        total.events += p.events;
        if p.deliveries < CHUNK as u64 && p.events < CHUNK as u64 {
            return Ok(total);
        }
    }
}

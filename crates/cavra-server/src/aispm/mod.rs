//! A tenant's AISPM posture from its evidence log in the store: the entries read page by
//! page in log order and folded by `cavra-aispm`, exactly as `cavra aispm posture
//! --from-bundle` folds a bundle's entries.

use std::collections::VecDeque;
use std::sync::Arc;

use cavra_aispm::{Accumulator, Chunk, Posture};
use cavra_tenant_store::{Db, EntryRange, Evidence as _, Result, StoreError};

use crate::admin::AdminError;

pub mod trend;

/// Entries read and parsed as one piece of work: a chunk of events (a few bytes each) is
/// what a page leaves in memory until it is applied.
const PAGE: u64 = 8192;

/// The posture of `tenant`'s log as it is now (the entries up to its head when the read
/// starts; entries appended meanwhile wait for the next call).
pub async fn tenant_posture(db: &Db, tenant: &str) -> Result<Posture> {
    posture_at(db, tenant, None, None, None).await
}

/// The posture of the entries of `tenant`'s log written at or after `since` and before
/// `until` (RFC 3339 in the store's form, as `api::query_time` gives it; None: unbounded).
/// Only the period's entries are folded: an approval asked before `since` and answered in the
/// period counts as answered but not as asked. `tree_size` folds only the log's first entries
/// (the log as a checkpoint of that size signed it; None: up to the head).
pub async fn posture_at(
    db: &Db,
    tenant: &str,
    since: Option<&str>,
    until: Option<&str>,
    tree_size: Option<u64>,
) -> Result<Posture> {
    let window = Window {
        since: since.map(str::to_string),
        until: until.map(str::to_string),
    };
    let mut postures = fold_windows(db, tenant, vec![window], tree_size).await?;
    postures
        .pop()
        .ok_or_else(|| StoreError::Corrupt("posture: no window folded".into()))
}

/// A period of a tenant's log: the entries stamped at or after `since` and before `until`
/// (RFC 3339 in the store's form; None: unbounded), as `GET /v1/posture?since=&until=`
/// selects them. Kept as the stored text: each entry's stored time is compared with it as
/// the entries are folded, with no conversion per entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// From (inclusive).
    pub since: Option<String>,
    /// Until (exclusive).
    pub until: Option<String>,
}

impl Window {
    fn holds(&self, time: &str) -> bool {
        self.since.as_deref().is_none_or(|s| time >= s)
            && self.until.as_deref().is_none_or(|u| time < u)
    }
}

/// A window's bound as the stores' time, for the store's own filter.
fn stamp(bound: &Option<String>) -> Result<Option<cavra_tenant_store::Timestamp>> {
    bound
        .as_deref()
        .map(|t| {
            cavra_tenant_store::Timestamp::parse(t)
                .map_err(|e| StoreError::Time(format!("posture window: {e}")))
        })
        .transpose()
}

/// The window of `windows` (in time order, not overlapping) that holds `time`: the text
/// comparison the store's own `since`/`until` filter makes.
fn window_of(windows: &[Window], time: &str) -> Option<usize> {
    let after = windows.partition_point(|w| w.since.as_deref().is_none_or(|s| s <= time));
    let i = after.checked_sub(1)?;
    windows[i].holds(time).then_some(i)
}

/// The postures of several windows of `tenant`'s log (in time order, not overlapping), in one
/// pass over the entries up to its head: each entry is folded into the posture of the window
/// its time falls in, in log order, so each posture is exactly that of
/// [`posture_at`] over its window.
///
/// The pass reads pages of the log on several reader threads at once, each page's entries
/// parsed there into a [`Chunk`] (the JSON scanning, nearly all of the cost), and applies the
/// chunks here in log order: the figures are those of reading the entries one by one.
pub async fn postures_of(db: &Db, tenant: &str, windows: Vec<Window>) -> Result<Vec<Posture>> {
    fold_windows(db, tenant, windows, None).await
}

/// [`postures_of`] over the log's first `tree_size` entries (None: up to its head).
async fn fold_windows(
    db: &Db,
    tenant: &str,
    windows: Vec<Window>,
    tree_size: Option<u64>,
) -> Result<Vec<Posture>> {
    let head = db.log_head(tenant).await?.map(|h| h.size).unwrap_or(0);
    let size = tree_size.map_or(head, |n| n.min(head));
    let n = windows.len();
    let (since, until) = match (windows.first(), windows.last()) {
        (Some(first), Some(last)) => (stamp(&first.since)?, stamp(&last.until)?),
        _ => return Ok(Vec::new()),
    };
    let windows = Arc::new(windows);
    // As many pages in flight as there are cores, and one more being handed over.
    let ahead = std::thread::available_parallelism().map_or(2, |n| n.get()) + 1;
    let read = |start: u64| {
        let (db, tenant, windows) = (db.clone(), tenant.to_string(), windows.clone());
        let range = EntryRange {
            start,
            end: (start + PAGE).min(size),
            since,
            until,
        };
        tokio::spawn(async move {
            let chunks: Vec<Chunk> = (0..windows.len()).map(|_| Chunk::new()).collect();
            db.fold_entries(&tenant, range, chunks, move |chunks, _, time, bytes| {
                let w = if windows.len() == 1 {
                    // The store already selected the window's entries.
                    Some(0)
                } else {
                    window_of(&windows, time)
                };
                if let Some(chunk) = w.and_then(|w| chunks.get_mut(w)) {
                    chunk.push_line(bytes);
                }
            })
            .await
        })
    };
    let mut accs: Vec<Accumulator> = (0..n).map(|_| Accumulator::new()).collect();
    let mut starts = (0..size).step_by(PAGE as usize);
    let mut reading = VecDeque::new();
    loop {
        while reading.len() < ahead
            && let Some(start) = starts.next()
        {
            reading.push_back(read(start));
        }
        let Some(next) = reading.pop_front() else {
            break;
        };
        let chunks = next
            .await
            .map_err(|e| StoreError::Corrupt(format!("posture read: {e}")))??;
        for (acc, chunk) in accs.iter_mut().zip(chunks) {
            acc.push_chunk(chunk);
        }
    }
    Ok(accs
        .into_iter()
        .map(|acc| {
            let mut posture = acc.finish();
            // A log (or period) without entries still belongs to the tenant asked about.
            posture.tenant.get_or_insert_with(|| tenant.to_string());
            posture
        })
        .collect())
}

/// The posture of `tenant` read straight from the database at `url` (`cavra aispm posture
/// --database-url`); a tenant the database does not hold is a usage error.
pub async fn database_posture(url: &str, tenant: &str) -> std::result::Result<Posture, AdminError> {
    use cavra_tenant_store::Directory as _;
    let config = crate::ServerConfig {
        database_url: url.to_string(),
        ..crate::ServerConfig::default()
    };
    let db = crate::admin::open_existing(&config).await?;
    let other = |e: cavra_tenant_store::StoreError| AdminError::Other(e.to_string());
    if db.tenant(tenant).await.map_err(other)?.is_none() {
        return Err(AdminError::Usage(format!(
            "no tenant `{tenant}` in this database"
        )));
    }
    let mut posture = tenant_posture(&db, tenant).await.map_err(other)?;
    crate::inventory::apply_to_posture(&db, tenant, &config.inventory, &mut posture, None, None)
        .await
        .map_err(other)?;
    Ok(posture)
}

/// What `cavra aispm posture` shows: the posture of the whole log (None), or the trend over
/// the last N days (Some; None inside: the default).
#[derive(Debug, Clone, Copy)]
pub struct View(pub Option<Option<i64>>);

impl View {
    /// The service's path giving it.
    pub fn path(&self) -> String {
        match self.0 {
            None => "/v1/posture".into(),
            Some(days) => trend::path(days, None, None),
        }
    }

    /// Its JSON and words from the service's answer.
    pub fn of_answer(
        &self,
        answer: serde_json::Value,
    ) -> std::result::Result<(serde_json::Value, String), String> {
        let text = match self.0 {
            None => serde_json::from_value::<Posture>(answer["aispm"].clone())
                .map(|p| cavra_aispm::render(&p))
                .map_err(|e| format!("the service's answer holds no posture: {e}"))?,
            Some(_) => serde_json::from_value::<trend::Trend>(answer.clone())
                .map(|t| trend::render(&t))
                .map_err(|e| format!("the service's answer holds no trend: {e}"))?,
        };
        let value = match self.0 {
            None => answer["aispm"].clone(),
            Some(_) => answer,
        };
        Ok((value, text))
    }

    /// Its JSON and words read straight from the database at `url`.
    pub async fn of_database(
        &self,
        url: &str,
        tenant: &str,
    ) -> std::result::Result<(serde_json::Value, String), AdminError> {
        let json = |e: serde_json::Error| AdminError::Other(e.to_string());
        match self.0 {
            None => {
                let p = database_posture(url, tenant).await?;
                Ok((
                    serde_json::to_value(&p).map_err(json)?,
                    cavra_aispm::render(&p),
                ))
            }
            Some(days) => {
                let t = trend::database_trend(url, tenant, days, None, None).await?;
                Ok((serde_json::to_value(&t).map_err(json)?, trend::render(&t)))
            }
        }
    }
}

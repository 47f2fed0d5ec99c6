//! Daily posture snapshots and the trend made of them.
//!
//! A day's posture is the posture of the entries of the tenant's log stamped that UTC day
//! (`GET /v1/posture?since=DAYT00:00:00.000Z&until=NEXTT00:00:00.000Z`), computed from the log
//! like every other posture. Once a day is closed it is stored (`posture_days`, migration 7),
//! so that a trend over N days reads N stored rows instead of folding the whole history
//! again; a day not stored is computed (every missing day in one pass over the log) and
//! stored; the current day is always computed live and never stored.

use cavra_aispm::{FactorId, Posture};
use cavra_tenant_store::{Db, Evidence as _, PostureDay, Result, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::{Date, Duration, Month, OffsetDateTime};
use utoipa::ToSchema;

use super::Window;

/// `format` of a trend.
pub const TREND_FORMAT: &str = "cavra-aispm-trend/v1";

/// Days a trend covers at most.
pub const MAX_DAYS: i64 = 400;

/// Days a trend covers when neither `days` nor `since` is given.
pub const DEFAULT_DAYS: i64 = 30;

/// How long after midnight UTC a day counts as closed (and is stored): entries are stamped
/// when they are written, so this leaves writes in flight at midnight the time to land in
/// their day before its posture is kept.
pub const GRACE: Duration = Duration::minutes(10);

/// A tenant's posture day by day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Trend {
    /// [`TREND_FORMAT`].
    pub format: String,
    /// The tenant.
    pub tenant: String,
    /// The first day (`YYYY-MM-DD`, UTC).
    pub since: String,
    /// The last day (inclusive).
    pub until: String,
    /// One per day, oldest first.
    pub days: Vec<TrendDay>,
    /// Days read from stored snapshots.
    pub from_snapshots: u64,
    /// Closed days computed from the log for this answer (and stored).
    pub computed: u64,
    /// Days not yet closed, computed from the log and not stored.
    pub live: u64,
}

/// One day of a trend: the day's posture in brief (the whole posture of a day is
/// `GET /v1/posture?since=&until=` over it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TrendDay {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Whether the day is over (its posture can no longer change, and is stored).
    pub closed: bool,
    /// Entries stamped that day.
    pub entries: u64,
    /// The day's score, 0–100 (None: no factor applies).
    pub score: Option<f64>,
    /// Each scored factor's value that day (None: nothing to judge it on).
    #[schema(value_type = Object)]
    pub factors: BTreeMap<FactorId, Option<f64>>,
    /// Decisions recorded.
    pub decisions: u64,
    /// Share blocked.
    pub block_rate: Option<f64>,
    /// Share routed for approval.
    pub approval_rate: Option<f64>,
    /// Share warned.
    pub warn_rate: Option<f64>,
    /// Approvals asked for.
    pub approvals_requested: u64,
    /// Approvals that expired unanswered.
    pub approvals_expired_unanswered: u64,
    /// 95th percentile of the time to answer, in milliseconds.
    pub approval_latency_p95_ms: Option<u64>,
    /// Break-glass uses.
    pub break_glass: u64,
    /// Open dead letters of connector deliveries.
    pub dead_letters: u64,
    /// MCP servers registered untrusted.
    pub mcp_untrusted: u64,
    /// Repositories deciding that day.
    pub repositories: u64,
    /// Of which enforcing.
    pub repositories_enforcing: u64,
}

impl TrendDay {
    fn of(day: &str, closed: bool, p: &Posture) -> Self {
        TrendDay {
            day: day.to_string(),
            closed,
            entries: p.covers.entries,
            score: p.score,
            factors: p
                .factors
                .iter()
                .filter(|f| f.weight > 0)
                .map(|f| (f.id, f.value))
                .collect(),
            decisions: p.decisions.total,
            block_rate: p.decisions.block_rate,
            approval_rate: p.decisions.approval_rate,
            warn_rate: p.decisions.warn_rate,
            approvals_requested: p.approvals.requested,
            approvals_expired_unanswered: p.approvals.expired_unanswered,
            approval_latency_p95_ms: p.approvals.latency_p95_ms,
            break_glass: p.break_glass.total,
            dead_letters: p.connectors.dead_letters,
            mcp_untrusted: p.mcp.untrusted.len() as u64,
            repositories: p.repositories.total,
            repositories_enforcing: p.repositories.enforcing,
        }
    }
}

/// A day as `YYYY-MM-DD`.
pub fn day_text(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Reads `YYYY-MM-DD`.
pub fn parse_day(field: &str, text: &str) -> std::result::Result<Date, String> {
    let bad = || format!("`{field}` is not a day such as 2026-11-30: `{text}`");
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| text.get(r).and_then(|s| s.parse::<u16>().ok());
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return Err(bad());
    };
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(bad)?;
    Date::from_calendar_date(i32::from(y), month, u8::try_from(d).map_err(|_| bad())?)
        .map_err(|_| bad())
}

/// The days a trend covers: the last `days` days up to `today`, or `since` to `until`
/// (inclusive, `until` defaulting to `today`); the last [`DEFAULT_DAYS`] when neither is
/// given. An error in words for a usage mistake.
pub fn span(
    days: Option<i64>,
    since: Option<&str>,
    until: Option<&str>,
    today: Date,
) -> std::result::Result<(Date, Date), String> {
    let last = match until {
        Some(u) => parse_day("until", u)?,
        None => today,
    };
    if last > today {
        return Err(format!(
            "`until` ({}) is after today ({}): a day's posture is known once it has begun",
            day_text(last),
            day_text(today)
        ));
    }
    let first = match (days, since) {
        (Some(_), Some(_)) => return Err("give `days` or `since`, not both".into()),
        (Some(n), None) if !(1..=MAX_DAYS).contains(&n) => {
            return Err(format!("`days` must be from 1 to {MAX_DAYS}, not {n}"));
        }
        (n, None) => last - Duration::days(n.unwrap_or(DEFAULT_DAYS) - 1),
        (None, Some(s)) => parse_day("since", s)?,
    };
    if first > last {
        return Err(format!(
            "`since` ({}) is after `until` ({})",
            day_text(first),
            day_text(last)
        ));
    }
    if (last - first).whole_days() >= MAX_DAYS {
        return Err(format!("a trend covers at most {MAX_DAYS} days"));
    }
    Ok((first, last))
}

/// The entries stamped on `day`, as the store's text comparison selects them.
fn window(day: Date) -> Window {
    let next = day.next_day().unwrap_or(day);
    Window {
        since: Some(format!("{}T00:00:00.000Z", day_text(day))),
        until: Some(format!("{}T00:00:00.000Z", day_text(next))),
    }
}

/// Whether `day` is closed at `now`.
pub fn closed(day: Date, now: OffsetDateTime) -> bool {
    match day.next_day() {
        Some(next) => now >= next.midnight().assume_utc() + GRACE,
        None => false,
    }
}

/// The postures, as JSON text, of `days` of `tenant` (in order): stored ones read, the
/// others computed in one pass over the log; closed days computed are stored. Also gives how
/// many were read from snapshots and how many computed-and-stored.
async fn day_texts(
    db: &Db,
    tenant: &str,
    days: &[Date],
    now: OffsetDateTime,
) -> Result<(Vec<String>, u64, u64)> {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Ok((Vec::new(), 0, 0));
    };
    let mut stored: BTreeMap<String, String> = db
        .posture_days(tenant, &day_text(*first), &day_text(*last))
        .await?
        .into_iter()
        .map(|d| (d.day, d.posture))
        .collect();
    let missing: Vec<Date> = days
        .iter()
        .copied()
        .filter(|d| !closed(*d, now) || !stored.contains_key(&day_text(*d)))
        .collect();
    let from_snapshots = (days.len() - missing.len()) as u64;
    let mut computed = 0;
    if !missing.is_empty() {
        let size = db.log_head(tenant).await?.map(|h| h.size).unwrap_or(0);
        let postures =
            super::postures_of(db, tenant, missing.iter().map(|d| window(*d)).collect()).await?;
        let mut keep = Vec::new();
        for (day, posture) in missing.iter().zip(postures) {
            let text = serde_json::to_string(&posture)
                .map_err(|e| StoreError::Corrupt(format!("posture of {day}: {e}")))?;
            if closed(*day, now) {
                keep.push(PostureDay {
                    day: day_text(*day),
                    posture: text.clone(),
                    entries: posture.covers.entries,
                    log_size: size,
                    computed_at: cavra_store::Timestamp::at_or_epoch(now),
                });
            }
            stored.insert(day_text(*day), text);
        }
        computed = keep.len() as u64;
        db.put_posture_days(tenant, keep).await?;
    }
    let texts = days
        .iter()
        .map(|d| stored.remove(&day_text(*d)).unwrap_or_default())
        .collect();
    Ok((texts, from_snapshots, computed))
}

/// `tenant`'s trend from `first` to `last` (inclusive) at `now`.
pub async fn trend(
    db: &Db,
    tenant: &str,
    first: Date,
    last: Date,
    now: OffsetDateTime,
) -> Result<Trend> {
    let days: Vec<Date> = std::iter::successors(Some(first), |d| d.next_day())
        .take_while(|d| *d <= last)
        .collect();
    let (texts, from_snapshots, computed) = day_texts(db, tenant, &days, now).await?;
    let mut out = Vec::with_capacity(days.len());
    for (day, text) in days.iter().zip(&texts) {
        // Stored or just computed, a day's figures are read back from the same text: the
        // trend is the same whether its days were stored or not.
        let posture: Posture = serde_json::from_str(text)
            .map_err(|e| StoreError::Corrupt(format!("stored posture of {day}: {e}")))?;
        out.push(TrendDay::of(&day_text(*day), closed(*day, now), &posture));
    }
    let live = days.iter().filter(|d| !closed(**d, now)).count() as u64;
    Ok(Trend {
        format: TREND_FORMAT.into(),
        tenant: tenant.to_string(),
        since: day_text(first),
        until: day_text(last),
        days: out,
        from_snapshots,
        computed,
        live,
    })
}

/// The posture of one day of `tenant`, as JSON text: the stored snapshot of a closed day
/// (computed and stored first when missing), or the live posture of a day not yet closed.
pub async fn day_posture(db: &Db, tenant: &str, day: Date, now: OffsetDateTime) -> Result<String> {
    let (mut texts, _, _) = day_texts(db, tenant, &[day], now).await?;
    texts
        .pop()
        .ok_or_else(|| StoreError::Corrupt("posture day: none computed".into()))
}

/// The trend of `tenant` read straight from the database at `url` (`cavra aispm posture
/// --trend --database-url`): the days as [`span`] reads them; a usage error for bad days or
/// a tenant the database does not hold. Stores the closed days it computes, as the service
/// does.
pub async fn database_trend(
    url: &str,
    tenant: &str,
    days: Option<i64>,
    since: Option<&str>,
    until: Option<&str>,
) -> std::result::Result<Trend, crate::admin::AdminError> {
    use crate::admin::AdminError;
    use cavra_tenant_store::Directory as _;
    let now = OffsetDateTime::now_utc();
    let (first, last) = span(days, since, until, now.date()).map_err(AdminError::Usage)?;
    let config = crate::ServerConfig {
        database_url: url.to_string(),
        ..crate::ServerConfig::default()
    };
    let db = crate::admin::open_existing(&config).await?;
    let other = |e: StoreError| AdminError::Other(e.to_string());
    if db.tenant(tenant).await.map_err(other)?.is_none() {
        return Err(AdminError::Usage(format!(
            "no tenant `{tenant}` in this database"
        )));
    }
    trend(&db, tenant, first, last, now).await.map_err(other)
}

/// A trend in words: one line per day.
pub fn render(t: &Trend) -> String {
    let mut out = format!(
        "AISPM posture trend of {} from {} to {} ({} days from snapshots, {} computed, {} live)\n",
        t.tenant, t.since, t.until, t.from_snapshots, t.computed, t.live
    );
    out.push_str(
        "day         score  entries  decisions  block  approvals  break-glass  dead letters\n",
    );
    for d in &t.days {
        let score = d.score.map_or("-".to_string(), |s| format!("{s:.1}"));
        let block = d
            .block_rate
            .map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0));
        out.push_str(&format!(
            "{}{} {:>5} {:>8} {:>10} {:>6} {:>10} {:>12} {:>13}\n",
            d.day,
            if d.closed { " " } else { "*" },
            score,
            d.entries,
            d.decisions,
            block,
            d.approvals_requested,
            d.break_glass,
            d.dead_letters
        ));
    }
    out.push_str("(* today, not closed: computed live)");
    out
}

/// The path of `GET /v1/posture/trend` asking for these days.
pub fn path(days: Option<i64>, since: Option<&str>, until: Option<&str>) -> String {
    let days = days.map(|d| d.to_string());
    let query: Vec<String> = [
        ("days", days.as_deref()),
        ("since", since),
        ("until", until),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
    .collect();
    format!("/v1/posture/trend?{}", query.join("&"))
}

//! Step 3, the operating review report of a period for one tenant: decisions by outcome, the
//! rules that decided most, approval latency, the posture trend day by day, break-glass uses,
//! connector health and the readiness blockers still open. Written as Markdown and as HTML
//! whose charts are SVG drawn here ([`charts`]: no JavaScript, nothing fetched by a reader),
//! and signed as a record that names both files by digest.
//!
//! The figures are the service's own: the posture of the period and of each day
//! (`GET /v1/posture?since&until`, computed from the evidence log), the period's decisions
//! (`GET /v1/decisions`) and the readiness gate (`GET /v1/readiness`).

pub mod charts;
pub mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cavra_aispm::Posture;
use cavra_server::readiness::Readiness;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{FileDigest, Period, Record, ReviewError, Service, Step, Written};

/// The longest period a report covers, in days (one posture per day is asked for).
pub const MAX_DAYS: i64 = 366;
/// Decisions read per page.
const PAGE: usize = 1000;
/// How many rules the report names.
pub const TOP_RULES: usize = 10;

/// The posture of one day of the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Day {
    /// The day's start (RFC 3339).
    pub since: String,
    /// Its end (the period's end, for the last day).
    pub until: String,
    /// The posture score that day (none: nothing scored).
    pub score: Option<f64>,
    /// Decisions that day.
    pub decisions: u64,
    /// Of which blocked.
    pub blocked: u64,
}

/// A rule and the decisions it made in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCount {
    /// The rule.
    pub rule_id: String,
    /// Decisions it made.
    pub decisions: u64,
    /// By outcome.
    pub by_decision: BTreeMap<String, u64>,
}

/// Everything the report says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportData {
    /// The tenant.
    pub tenant: String,
    /// The period.
    pub period: Period,
    /// The posture over the whole period.
    pub posture: Posture,
    /// Day by day.
    pub days: Vec<Day>,
    /// The rules that decided most, most first.
    pub top_rules: Vec<RuleCount>,
    /// Decisions read for the rules (the period's, unless `rules_truncated`).
    pub decisions_read: u64,
    /// Whether some of the period's decisions could not be read for the rules.
    pub rules_truncated: bool,
    /// The readiness gate now: its open blockers.
    pub readiness: Readiness,
}

/// The days of `[since, until)`: whole days from `since`, the last one cut at `until`.
pub fn days(since: OffsetDateTime, until: OffsetDateTime) -> Vec<(OffsetDateTime, OffsetDateTime)> {
    let mut out = Vec::new();
    let mut start = since;
    while start < until {
        let end = (start + time::Duration::days(1)).min(until);
        out.push((start, end));
        start = end;
    }
    out
}

fn posture_path(since: &str, until: &str) -> String {
    format!("/v1/posture?since={since}&until={until}")
}

fn posture_of(service: &Service, since: &str, until: &str) -> Result<Posture, ReviewError> {
    let answer = service.get(&posture_path(since, until))?;
    serde_json::from_value(answer["aispm"].clone())
        .map_err(|e| ReviewError::Service(format!("the service's posture does not read: {e}")))
}

/// Gathers the report of `[since, until)` from the service (the token's tenant).
pub fn gather(
    service: &Service,
    since: OffsetDateTime,
    until: OffsetDateTime,
) -> Result<ReportData, ReviewError> {
    if until <= since {
        return Err(ReviewError::Usage(
            "the period ends before it starts".into(),
        ));
    }
    if until - since > time::Duration::days(MAX_DAYS) {
        return Err(ReviewError::Usage(format!(
            "a report covers at most {MAX_DAYS} days"
        )));
    }
    let fmt = cavra_server::format_time;
    let tenant = service.tenant()?;
    let period = Period {
        since: fmt(since),
        until: fmt(until),
    };
    let posture = posture_of(service, &period.since, &period.until)?;
    let mut out_days = Vec::new();
    for (a, b) in days(since, until) {
        let (a, b) = (fmt(a), fmt(b));
        let p = posture_of(service, &a, &b)?;
        out_days.push(Day {
            score: p.score,
            decisions: p.decisions.total,
            blocked: p.decisions.by_decision.get("block").copied().unwrap_or(0),
            since: a,
            until: b,
        });
    }
    let (top_rules, decisions_read, rules_truncated) = rules(service, &period)?;
    let readiness = service.read("/v1/readiness", "readiness report")?;
    Ok(ReportData {
        tenant,
        period,
        posture,
        days: out_days,
        top_rules,
        decisions_read,
        rules_truncated,
        readiness,
    })
}

/// The period's decisions counted by rule, newest page first; a page moves `until` back to
/// its oldest decision (kept, and counted once by id), so decisions sharing a millisecond
/// across pages are neither lost nor counted twice.
fn rules(service: &Service, period: &Period) -> Result<(Vec<RuleCount>, u64, bool), ReviewError> {
    let mut seen = std::collections::HashSet::new();
    let mut counts: BTreeMap<String, RuleCount> = BTreeMap::new();
    let mut until = period.until.clone();
    let mut truncated = false;
    loop {
        let page: Vec<Value> = service.read(
            &format!(
                "/v1/decisions?since={}&until={until}&limit={PAGE}",
                period.since
            ),
            "decision list",
        )?;
        let mut fresh = 0;
        let mut oldest: Option<String> = None;
        for d in &page {
            let id = d["decision_id"].as_str().unwrap_or_default().to_string();
            let at = d["timestamp"].as_str().unwrap_or_default().to_string();
            if oldest.as_ref().is_none_or(|o| at < *o) {
                oldest = Some(at);
            }
            if !seen.insert(id) {
                continue;
            }
            fresh += 1;
            let rule = d["rule_id"].as_str().unwrap_or("(none)").to_string();
            let outcome = d["decision"].as_str().unwrap_or("unknown").to_string();
            let c = counts.entry(rule.clone()).or_insert_with(|| RuleCount {
                rule_id: rule,
                decisions: 0,
                by_decision: BTreeMap::new(),
            });
            c.decisions += 1;
            *c.by_decision.entry(outcome).or_default() += 1;
        }
        if page.len() < PAGE {
            break;
        }
        if fresh == 0 {
            // A whole page within one millisecond: the rest cannot be reached by time.
            truncated = true;
            break;
        }
        let Some(oldest) = oldest else { break };
        // `until` is exclusive: one millisecond past the oldest keeps its neighbours.
        until = match OffsetDateTime::parse(&oldest, &time::format_description::well_known::Rfc3339)
        {
            Ok(t) => cavra_server::format_time(t + time::Duration::milliseconds(1)),
            Err(_) => {
                truncated = true;
                break;
            }
        };
    }
    let mut top: Vec<RuleCount> = counts.into_values().collect();
    top.sort_by(|a, b| {
        b.decisions
            .cmp(&a.decisions)
            .then(a.rule_id.cmp(&b.rule_id))
    });
    top.truncate(TOP_RULES);
    Ok((top, seen.len() as u64, truncated))
}

/// Writes `report.md`, `report.html` and `report.json` (the figures) in `dir` and the signed
/// record `dir/report.record.json` naming them by digest.
pub fn write(
    data: &ReportData,
    dir: &Path,
    signer: &cavra_runtime::keyfiles::LogSigner,
) -> Result<Written, ReviewError> {
    let markdown = render::markdown(data);
    let html = render::html(data)?;
    let figures =
        serde_json::to_vec_pretty(data).map_err(|e| ReviewError::Render(e.to_string()))?;
    let mut files: Vec<PathBuf> = Vec::new();
    let mut inputs = Vec::new();
    for (name, bytes) in [
        ("report.md", markdown.as_bytes()),
        ("report.html", html.as_bytes()),
        ("report.json", figures.as_slice()),
    ] {
        let path = dir.join(name);
        crate::write_file(&path, bytes)?;
        inputs.push(FileDigest::of(name, bytes));
        files.push(path);
    }
    let p = &data.posture;
    let body = json!({
        "score": p.score,
        "decisions": p.decisions.total,
        "by_decision": p.decisions.by_decision,
        "top_rules": data.top_rules.iter().map(|r| json!({"rule_id": r.rule_id, "decisions": r.decisions})).collect::<Vec<_>>(),
        "approval_latency_ms": {"p50": p.approvals.latency_p50_ms, "p95": p.approvals.latency_p95_ms},
        "break_glass": p.break_glass.total,
        "connectors": {"delivered": p.connectors.delivered, "dead_letters": p.connectors.dead_letters, "retrying": p.connectors.retrying},
        "trend": data.days.iter().map(|d| json!({"since": d.since, "score": d.score, "decisions": d.decisions})).collect::<Vec<_>>(),
        "open_blockers": data.readiness.blockers.iter().map(|b| &b.validator).collect::<Vec<_>>(),
    });
    // A report is a finding, not a gate: open blockers are reported in it, and it passes.
    let mut record = Record::new(Step::Report, Vec::new(), body);
    record.tenants = vec![data.tenant.clone()];
    record.period = Some(data.period.clone());
    record.inputs = inputs;
    crate::write_record(
        &dir.join("report.record.json"),
        signer,
        None,
        &record,
        files,
    )
}

//! The report as Markdown and as one self-contained HTML page (inline SVG charts and style;
//! no script, no external resource).

use std::fmt::Write as _;

use super::{ReportData, charts};
use crate::ReviewError;

fn ms(v: Option<u64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{:.1} s", v as f64 / 1000.0))
}

fn score(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.1}"))
}

/// The day of an RFC 3339 time (`2026-12-01`).
fn day(t: &str) -> String {
    t.get(..10).unwrap_or(t).to_string()
}

/// A section of the report: its title, column heads and rows of cells.
type Table = (&'static str, Vec<&'static str>, Vec<Vec<String>>);

/// The report's sections, shared by both renderings so they say the same.
fn tables(d: &ReportData) -> Vec<Table> {
    let p = &d.posture;
    let outcomes = p
        .decisions
        .by_decision
        .iter()
        .map(|(k, v)| vec![k.clone(), v.to_string()])
        .collect();
    let rules = d
        .top_rules
        .iter()
        .map(|r| {
            let by: Vec<String> = r
                .by_decision
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            vec![r.rule_id.clone(), r.decisions.to_string(), by.join(", ")]
        })
        .collect();
    let a = &p.approvals;
    let approvals = vec![
        vec!["asked".into(), a.requested.to_string()],
        vec!["answered".into(), a.answered.to_string()],
        vec![
            "expired unanswered".into(),
            a.expired_unanswered.to_string(),
        ],
        vec!["open".into(), a.open.to_string()],
        vec!["latency p50".into(), ms(a.latency_p50_ms)],
        vec!["latency p95".into(), ms(a.latency_p95_ms)],
    ];
    let trend = d
        .days
        .iter()
        .map(|x| {
            vec![
                day(&x.since),
                score(x.score),
                x.decisions.to_string(),
                x.blocked.to_string(),
            ]
        })
        .collect();
    let bg = &p.break_glass;
    let break_glass = vec![
        vec!["approvals by break glass".into(), bg.approvals.to_string()],
        vec![
            "decisions in break_glass mode".into(),
            bg.decisions.to_string(),
        ],
    ];
    let connectors = p
        .connectors
        .destinations
        .iter()
        .map(|(k, h)| {
            vec![
                k.clone(),
                h.attempts.to_string(),
                h.delivered.to_string(),
                h.retrying.to_string(),
                h.dead_letters.to_string(),
            ]
        })
        .collect();
    let blockers = d
        .readiness
        .blockers
        .iter()
        .map(|b| {
            vec![
                b.validator.clone(),
                b.tenant.clone().unwrap_or_else(|| "service".into()),
                b.problem.clone(),
                b.fix.clone(),
            ]
        })
        .collect();
    vec![
        (
            "Decisions by outcome",
            vec!["outcome", "decisions"],
            outcomes,
        ),
        ("Top rules", vec!["rule", "decisions", "by outcome"], rules),
        ("Approvals", vec!["figure", "value"], approvals),
        (
            "Posture trend",
            vec!["day", "score", "decisions", "blocked"],
            trend,
        ),
        ("Break glass", vec!["use", "count"], break_glass),
        (
            "Connector health",
            vec![
                "destination",
                "attempts",
                "delivered",
                "retrying",
                "dead letters",
            ],
            connectors,
        ),
        (
            "Open blockers",
            vec!["validator", "tenant", "problem", "fix"],
            blockers,
        ),
    ]
}

fn headline(d: &ReportData) -> String {
    format!(
        "Tenant {}, {} to {}: posture score {}, {} decisions, {} open blocker(s).",
        d.tenant,
        d.period.since,
        d.period.until,
        score(d.posture.score),
        d.posture.decisions.total,
        d.readiness.blockers.len()
    )
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The report in Markdown.
pub fn markdown(d: &ReportData) -> String {
    let mut out = format!("# Operating review: {}\n\n{}\n", d.tenant, headline(d));
    if d.rules_truncated {
        out.push_str("\nTop rules are counted over the decisions that could be read.\n");
    }
    for (title, head, rows) in tables(d) {
        let _ = write!(out, "\n## {title}\n\n");
        if rows.is_empty() {
            out.push_str("None in the period.\n");
            continue;
        }
        let _ = writeln!(out, "| {} |", head.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
        for r in rows {
            let cells: Vec<String> = r.iter().map(|c| md_cell(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }
    out
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The report as one HTML page with its charts inline.
pub fn html(d: &ReportData) -> Result<String, ReviewError> {
    let (labels, values): (Vec<String>, Vec<u64>) = d
        .posture
        .decisions
        .by_decision
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .unzip();
    let outcomes = charts::bars("Decisions by outcome", &labels, &values)?;
    let points: Vec<(String, Option<f64>)> = d
        .days
        .iter()
        .map(|x| (day(&x.since).get(5..).unwrap_or("").to_string(), x.score))
        .collect();
    let trend = charts::line("Posture score by day", &points, 100.0)?;
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Operating review: {t}</title>\
         <style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;color:#1a1a1a}}\
         table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}th,td{{border:1px solid #bbb;padding:.25rem .6rem;text-align:left}}\
         figure{{margin:1rem 0}}</style></head><body>\n<h1>Operating review: {t}</h1>\n<p>{h}</p>\n\
         <figure class=\"chart\" aria-label=\"Decisions by outcome\">{outcomes}</figure>\n\
         <figure class=\"chart\" aria-label=\"Posture score by day\">{trend}</figure>\n",
        t = esc(&d.tenant),
        h = esc(&headline(d)),
    );
    for (title, head, rows) in tables(d) {
        let _ = writeln!(out, "<h2>{}</h2>", esc(title));
        if rows.is_empty() {
            out.push_str("<p>None in the period.</p>\n");
            continue;
        }
        out.push_str("<table><tr>");
        for h in head {
            let _ = write!(out, "<th>{}</th>", esc(h));
        }
        out.push_str("</tr>\n");
        for r in rows {
            out.push_str("<tr>");
            for c in r {
                let _ = write!(out, "<td>{}</td>", esc(&c));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    Ok(out)
}

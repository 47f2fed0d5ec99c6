//! The score: each factor's value from the figures, its weight, and the points it adds.

use crate::{Factor, FactorId, Posture};

/// The weights of the scored factors (they add up to 100). Enforcement weighs most: a
/// repository not enforcing lets every other control pass unseen.
pub const WEIGHTS: [(FactorId, u32); 7] = [
    (FactorId::Enforcement, 25),
    (FactorId::ApprovalsAnswered, 15),
    (FactorId::McpTrust, 15),
    (FactorId::ConnectorHealth, 15),
    (FactorId::SignedPacks, 10),
    (FactorId::BreakGlass, 10),
    (FactorId::HookCoverage, 10),
];

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn percent(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// One factor's value and explanation from the figures.
fn judge(p: &Posture, id: FactorId) -> (Option<f64>, String) {
    match id {
        FactorId::Enforcement => {
            let r = &p.repositories;
            match share(r.enforcing, r.total) {
                Some(v) => (
                    Some(v),
                    format!(
                        "{} of {} repositories' latest decision ran in enforce or strict mode",
                        r.enforcing, r.total
                    ),
                ),
                None => (None, "no decisions recorded".into()),
            }
        }
        FactorId::SignedPacks => {
            let k = &p.packs;
            match share(k.signed + k.built_in, k.assigned) {
                Some(v) => (
                    Some(v),
                    format!(
                        "{} of {} assigned packs signed, {} built in; unsigned or upload not in the log: {}",
                        k.signed,
                        k.assigned,
                        k.built_in,
                        k.assigned - k.signed - k.built_in
                    ),
                ),
                None => (None, "no pack assignment recorded".into()),
            }
        }
        FactorId::ApprovalsAnswered => {
            let a = &p.approvals;
            match share(a.answered, a.answered + a.expired_unanswered) {
                Some(v) => (
                    Some(v),
                    format!(
                        "{} approvals answered, {} expired unanswered, {} open; latency p50 {} p95 {}",
                        a.answered,
                        a.expired_unanswered,
                        a.open,
                        millis(a.latency_p50_ms),
                        millis(a.latency_p95_ms)
                    ),
                ),
                None => (
                    None,
                    format!("no approval answered or expired yet ({} open)", a.open),
                ),
            }
        }
        FactorId::BreakGlass => {
            let gated = p.approvals.requested + p.break_glass.decisions;
            match share(p.break_glass.total.min(gated), gated) {
                Some(used) => (
                    Some(1.0 - used),
                    format!(
                        "{} break-glass uses ({} approvals, {} decisions) against {} gated actions",
                        p.break_glass.total,
                        p.break_glass.approvals,
                        p.break_glass.decisions,
                        gated
                    ),
                ),
                None => (None, "no action needed approval".into()),
            }
        }
        FactorId::McpTrust => {
            let m = &p.mcp;
            let mut bad: Vec<&String> = m.untrusted.iter().chain(&m.changed).collect();
            bad.sort();
            bad.dedup();
            match share(m.registered - bad.len() as u64, m.registered) {
                Some(v) => (
                    Some(v),
                    format!(
                        "{} MCP servers registered, {} untrusted, {} changed since registered; {} calls refused by the registry",
                        m.registered,
                        m.untrusted.len(),
                        m.changed.len(),
                        m.refused_calls
                    ),
                ),
                None => (
                    None,
                    format!(
                        "no MCP server registered ({} calls refused by the registry)",
                        m.refused_calls
                    ),
                ),
            }
        }
        FactorId::ConnectorHealth => {
            let c = &p.connectors;
            match share(c.delivered, c.delivered + c.dead_letters) {
                Some(v) => (
                    Some(v),
                    format!(
                        "{} deliveries arrived, {} dead letters open, {} retrying, over {} destinations",
                        c.delivered,
                        c.dead_letters,
                        c.retrying,
                        c.destinations.len()
                    ),
                ),
                None => (None, "no connector delivery finished".into()),
            }
        }
        FactorId::HookCoverage => {
            let h = &p.hook_coverage;
            match share(h.seen, h.inventory) {
                Some(v) => (
                    Some(v),
                    match h.inventory_version {
                        Some(version) => format!(
                            "{} of {} agents of the imported inventory (version {version}) seen deciding; {} unregistered agents decided",
                            h.seen, h.inventory, h.unregistered
                        ),
                        None => format!(
                            "{} of {} registered agents seen deciding; {} unregistered agents decided",
                            h.seen, h.inventory, h.unregistered
                        ),
                    },
                ),
                None => (None, "no agent registered (no inventory)".into()),
            }
        }
        FactorId::Outcomes => {
            let d = &p.decisions;
            let rate = |r: Option<f64>| r.map(percent).unwrap_or_else(|| "-".into());
            (
                None,
                format!(
                    "not scored: {} decisions, blocked {}, approval {}, warned {}; a high block rate says agents attempt what the policy forbids, not that its controls are weak",
                    d.total,
                    rate(d.block_rate),
                    rate(d.approval_rate),
                    rate(d.warn_rate)
                ),
            )
        }
    }
}

fn millis(ms: Option<u64>) -> String {
    match ms {
        Some(ms) if ms >= 60_000 => format!("{:.1} min", ms as f64 / 60_000.0),
        Some(ms) => format!("{:.1} s", ms as f64 / 1000.0),
        None => "-".into(),
    }
}

/// Fills in `p.factors` and `p.score` from its figures.
pub(crate) fn score(p: &mut Posture) {
    let judged: Vec<(FactorId, u32, Option<f64>, String)> = WEIGHTS
        .iter()
        .map(|&(id, w)| {
            let (v, why) = judge(p, id);
            (id, w, v, why)
        })
        .collect();
    let applicable: u32 = judged
        .iter()
        .filter(|(_, _, v, _)| v.is_some())
        .map(|(_, w, _, _)| w)
        .sum();
    let mut total = 0.0;
    let mut factors = Vec::with_capacity(judged.len() + 1);
    for (id, weight, value, explanation) in judged {
        let points = match value {
            Some(v) if applicable > 0 => 100.0 * f64::from(weight) * v / f64::from(applicable),
            _ => 0.0,
        };
        total += points;
        factors.push(Factor {
            id,
            weight,
            value,
            contribution: round1(points),
            explanation,
        });
    }
    let (value, explanation) = judge(p, FactorId::Outcomes);
    factors.push(Factor {
        id: FactorId::Outcomes,
        weight: 0,
        value,
        contribution: 0.0,
        explanation,
    });
    p.factors = factors;
    p.score = (applicable > 0).then(|| round1(total));
}

//! Prometheus metrics in the text exposition format: decisions by kind, decision latency
//! (evaluation plus the durable write), approval queue depth (read from the database at
//! scrape time, so every replica reports the shared queue).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use cavra_engine::Decision;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The service's counters.
pub struct Metrics {
    decisions: [AtomicU64; 6],
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    problems: AtomicU64,
}

const KINDS: [Decision; 6] = [
    Decision::Allow,
    Decision::Block,
    Decision::RequireApproval,
    Decision::Warn,
    Decision::AuditOnly,
    Decision::AllowWithAttestation,
];

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            decisions: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
            problems: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts one decision that took `seconds`.
    pub fn decision(&self, decision: Decision, seconds: f64) {
        if let Some(i) = KINDS.iter().position(|d| *d == decision) {
            self.decisions[i].fetch_add(1, Ordering::Relaxed);
        }
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// Counts one request answered with a problem.
    pub fn problem(&self) {
        self.problems.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text; `queue` is (tenant, group, pending).
    pub fn render(&self, queue: &[(String, String, i64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP cavra_decisions_total Decisions made, by effective decision.\n");
        out.push_str("# TYPE cavra_decisions_total counter\n");
        for (i, d) in KINDS.iter().enumerate() {
            let _ = writeln!(
                out,
                "cavra_decisions_total{{decision=\"{}\"}} {}",
                d.as_str(),
                self.decisions[i].load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP cavra_decision_duration_seconds Time to evaluate and durably record a decision.\n");
        out.push_str("# TYPE cavra_decision_duration_seconds histogram\n");
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "cavra_decision_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "cavra_decision_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "cavra_decision_duration_seconds_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "cavra_decision_duration_seconds_count {count}");
        out.push_str(
            "# HELP cavra_approvals_pending Pending approvals, by tenant and approver group.\n",
        );
        out.push_str("# TYPE cavra_approvals_pending gauge\n");
        for (tenant, group, n) in queue {
            let _ = writeln!(
                out,
                "cavra_approvals_pending{{tenant=\"{}\",approver_group=\"{}\"}} {n}",
                escape(tenant),
                escape(group)
            );
        }
        out.push_str("# HELP cavra_problems_total Requests answered with a problem document.\n");
        out.push_str("# TYPE cavra_problems_total counter\n");
        let _ = writeln!(
            out,
            "cavra_problems_total {}",
            self.problems.load(Ordering::Relaxed)
        );
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.decision(Decision::Block, 0.0007);
        m.decision(Decision::Allow, 0.2);
        let text = m.render(&[("a".into(), "IAM \"x\"".into(), 3)]);
        assert!(text.contains("cavra_decisions_total{decision=\"block\"} 1"));
        assert!(text.contains("cavra_decision_duration_seconds_bucket{le=\"0.0005\"} 0"));
        assert!(text.contains("cavra_decision_duration_seconds_bucket{le=\"0.001\"} 1"));
        assert!(text.contains("cavra_decision_duration_seconds_bucket{le=\"0.25\"} 2"));
        assert!(text.contains("cavra_decision_duration_seconds_count 2"));
        assert!(text.contains("approver_group=\"IAM \\\"x\\\"\"} 3"));
    }
}

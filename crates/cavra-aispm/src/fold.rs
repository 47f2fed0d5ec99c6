//! The fold: one pass over a tenant's entries in log order, keeping only what the figures
//! need (a few counters, the latest state of each repository, approval, registry record,
//! assignment and delivery).

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

use cavra_engine::{Decision, Mode, ServerApproval, TrustTier};
use cavra_store::ApprovalState;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::entry::Entry;
use crate::event::{self, AttemptOutcome, Chunk, Event, McpSignature, Read};
use crate::{
    ApprovalFigures, BreakGlassFigures, ConnectorFigures, Covers, DecisionFigures,
    DestinationHealth, HookCoverage, McpFigures, POSTURE_FORMAT, PackFigures, Posture,
    RepositoryFigures,
};

/// How many names a list in the posture shows at most.
pub(crate) const LIST_MAX: usize = 20;

/// One approval's course.
#[derive(Debug, Default)]
struct ApprovalTrack {
    requested_at: Option<OffsetDateTime>,
    answered: bool,
    last: Option<ApprovalState>,
}

#[derive(Debug)]
struct McpServer {
    current: McpSignature,
    changed: bool,
}

/// A posture being computed: feed it a tenant's entries in log order, then
/// [`Accumulator::finish`].
#[derive(Debug, Default)]
pub struct Accumulator {
    covers: Covers,
    last_time: String,
    tenant: Option<String>,
    decisions: u64,
    by_decision: [u64; 6],
    by_mode: [u64; 4],
    repositories: HashMap<String, Mode>,
    break_glass_decisions: u64,
    refused_mcp_calls: u64,
    agents_seen: HashMap<String, ()>,
    approvals: HashMap<String, ApprovalTrack>,
    latencies_ms: Vec<u64>,
    break_glass_approvals: u64,
    mcp: BTreeMap<String, McpServer>,
    agents: BTreeMap<String, bool>,
    assignments: BTreeMap<String, String>,
    packs: HashMap<String, bool>,
    deliveries: HashMap<(String, String), AttemptOutcome>,
    attempts: BTreeMap<String, u64>,
}

fn index_of<T: PartialEq + Copy>(all: &[T], x: T) -> usize {
    all.iter().position(|&y| y == x).unwrap_or(0)
}

impl Accumulator {
    /// An empty posture.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one entry given as its JSON text (a line of a bundle's `entries.jsonl`). An entry
    /// that does not read is counted as unreadable.
    pub fn push_line(&mut self, line: &[u8]) {
        match event::read_line(line) {
            Some(r) => self.push(r),
            None => self.damaged(),
        }
    }

    /// An entry that does not read as one.
    fn damaged(&mut self) {
        self.covers.entries += 1;
        self.covers.unreadable += 1;
    }

    /// Adds one entry given as a JSON value (as the service's store returns it).
    pub fn push_value(&mut self, entry: &serde_json::Value) {
        match Entry::deserialize(entry) {
            Ok(e) => self.push(event::read(e)),
            Err(_) => self.damaged(),
        }
    }

    /// Adds every line of `reader` (blank lines are skipped).
    pub fn push_lines(&mut self, mut reader: impl BufRead) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(4096);
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                return Ok(());
            }
            let text = line.trim_ascii();
            if !text.is_empty() {
                self.push_line(text);
            }
        }
    }

    /// Adds the entries of a chunk read ahead ([`Chunk`]): chunks given in log order add up
    /// to exactly what pushing their entries one by one gives.
    pub fn push_chunk(&mut self, chunk: Chunk) {
        if self.covers.first_index.is_none() {
            for (index, time, tenant) in chunk.head {
                self.covers.first_index = index;
                self.covers.first_time = time;
                self.tenant = tenant;
            }
        }
        if chunk.last_index.is_some() {
            self.covers.last_index = chunk.last_index;
        }
        if let Some(t) = chunk.last_time {
            self.last_time = t;
        }
        for e in chunk.events {
            match e {
                Some(e) => {
                    self.covers.entries += 1;
                    self.apply(e);
                }
                None => self.damaged(),
            }
        }
    }

    fn push(&mut self, r: Read<'_>) {
        self.covers.entries += 1;
        if self.covers.first_index.is_none() {
            self.covers.first_index = r.index;
            self.covers.first_time = r.time.as_deref().map(str::to_string);
            self.tenant = r.tenant.as_deref().map(str::to_string);
        }
        if r.index.is_some() {
            self.covers.last_index = r.index;
        }
        if let Some(t) = &r.time {
            // Reuses the buffer: no allocation per entry.
            self.last_time.clear();
            self.last_time.push_str(t);
        }
        self.apply(r.event);
    }

    /// Applies one entry's event (the entry itself is already counted).
    fn apply(&mut self, e: Event<'_>) {
        match e {
            Event::Decision {
                decision,
                mode,
                repository,
                break_glass,
                refused_mcp_call,
                agent,
            } => {
                self.decisions += 1;
                self.by_decision[index_of(Decision::ALL, decision)] += 1;
                self.by_mode[index_of(Mode::ALL, mode)] += 1;
                let repo = repository.as_deref().unwrap_or(NO_REPOSITORY);
                match self.repositories.get_mut(repo) {
                    Some(m) => *m = mode,
                    None => {
                        self.repositories.insert(repo.to_string(), mode);
                    }
                }
                if break_glass {
                    self.break_glass_decisions += 1;
                }
                if refused_mcp_call {
                    self.refused_mcp_calls += 1;
                }
                if let Some(agent) = agent.as_deref()
                    && !self.agents_seen.contains_key(agent)
                {
                    self.agents_seen.insert(agent.to_string(), ());
                }
            }
            Event::Approval { id, state, at } => self.approval(&id, state, at),
            Event::Mcp { name, signature } => match self.mcp.get_mut(name.as_ref()) {
                Some(s) => {
                    if s.current != signature {
                        s.changed = true;
                        s.current = signature;
                    }
                }
                None => {
                    self.mcp.insert(
                        name.into_owned(),
                        McpServer {
                            current: signature,
                            changed: false,
                        },
                    );
                }
            },
            Event::Agent { name, enabled } => {
                self.agents.insert(name.into_owned(), enabled);
            }
            Event::Assignment { scope, pack } => {
                self.assignments
                    .insert(scope.into_owned(), pack.into_owned());
            }
            Event::Pack { digest, signed } => {
                self.packs.insert(digest.into_owned(), signed);
            }
            Event::Delivery {
                event,
                destination,
                outcome,
            } => {
                match self.attempts.get_mut(destination.as_ref()) {
                    Some(n) => *n += 1,
                    None => {
                        self.attempts.insert(destination.to_string(), 1);
                    }
                }
                self.deliveries
                    .insert((event.into_owned(), destination.into_owned()), outcome);
            }
            Event::Other => self.covers.other += 1,
            Event::Unreadable => self.covers.unreadable += 1,
        }
    }

    fn approval(&mut self, id: &str, state: ApprovalState, at: Option<OffsetDateTime>) {
        let track = match self.approvals.get_mut(id) {
            Some(t) => t,
            None => self.approvals.entry(id.to_string()).or_default(),
        };
        match state {
            ApprovalState::Pending => {
                if track.requested_at.is_none() && track.last.is_none() {
                    track.requested_at = at;
                }
            }
            ApprovalState::Approved | ApprovalState::Denied | ApprovalState::BreakGlass => {
                if !track.answered {
                    track.answered = true;
                    if let (Some(from), Some(to)) = (track.requested_at, at) {
                        let ms = (to - from).whole_milliseconds().max(0);
                        self.latencies_ms
                            .push(u64::try_from(ms).unwrap_or(u64::MAX));
                    }
                }
                if state == ApprovalState::BreakGlass {
                    self.break_glass_approvals += 1;
                }
            }
            ApprovalState::Expired | ApprovalState::Consumed => {}
        }
        track.last = Some(state);
    }

    /// The posture of the entries added.
    pub fn finish(mut self) -> Posture {
        if self.covers.entries > 0 && !self.last_time.is_empty() {
            self.covers.last_time = Some(std::mem::take(&mut self.last_time));
        }
        let decisions = self.decision_figures();
        let approvals = self.approval_figures();
        let break_glass = BreakGlassFigures {
            approvals: self.break_glass_approvals,
            decisions: self.break_glass_decisions,
            total: self.break_glass_approvals + self.break_glass_decisions,
        };
        let repositories = self.repository_figures();
        let packs = self.pack_figures();
        let mcp = self.mcp_figures();
        let connectors = self.connector_figures();
        let hook_coverage = self.hook_coverage();
        let mut posture = Posture {
            format: POSTURE_FORMAT.to_string(),
            tenant: self.tenant,
            covers: self.covers,
            score: None,
            factors: Vec::new(),
            decisions,
            approvals,
            break_glass,
            repositories,
            packs,
            mcp,
            connectors,
            hook_coverage,
        };
        crate::score::score(&mut posture);
        posture
    }

    fn decision_figures(&self) -> DecisionFigures {
        let rate = |d: Decision| {
            (self.decisions > 0).then(|| {
                self.by_decision[index_of(Decision::ALL, d)] as f64 / self.decisions as f64
            })
        };
        DecisionFigures {
            total: self.decisions,
            by_decision: Decision::ALL
                .iter()
                .zip(self.by_decision)
                .filter(|(_, n)| *n > 0)
                .map(|(d, n)| (d.as_str().to_string(), n))
                .collect(),
            by_mode: Mode::ALL
                .iter()
                .zip(self.by_mode)
                .filter(|(_, n)| *n > 0)
                .map(|(m, n)| (m.as_str().to_string(), n))
                .collect(),
            block_rate: rate(Decision::Block),
            approval_rate: rate(Decision::RequireApproval),
            warn_rate: rate(Decision::Warn),
        }
    }

    fn approval_figures(&mut self) -> ApprovalFigures {
        let mut f = ApprovalFigures {
            requested: self.approvals.len() as u64,
            ..ApprovalFigures::default()
        };
        for t in self.approvals.values() {
            if t.answered {
                f.answered += 1;
            }
            match t.last {
                Some(ApprovalState::Pending) => f.open += 1,
                Some(ApprovalState::Expired) if !t.answered => f.expired_unanswered += 1,
                Some(ApprovalState::Expired) => f.expired_grants += 1,
                _ => {}
            }
        }
        // Approved and denied count the answer, whatever followed it (a grant is consumed
        // or expires afterwards).
        f.approved = self
            .approvals
            .values()
            .filter(|t| {
                t.answered
                    && !matches!(t.last, Some(ApprovalState::Denied))
                    && !matches!(t.last, Some(ApprovalState::BreakGlass))
            })
            .count() as u64;
        f.denied = self
            .approvals
            .values()
            .filter(|t| matches!(t.last, Some(ApprovalState::Denied)))
            .count() as u64;
        self.latencies_ms.sort_unstable();
        f.latency_p50_ms = percentile(&self.latencies_ms, 50);
        f.latency_p95_ms = percentile(&self.latencies_ms, 95);
        f
    }

    fn repository_figures(&self) -> RepositoryFigures {
        let mut by_mode = BTreeMap::new();
        let mut not_enforcing = Vec::new();
        let mut enforcing = 0;
        for (repo, mode) in &self.repositories {
            *by_mode.entry(mode.as_str().to_string()).or_insert(0) += 1;
            if enforces(*mode) {
                enforcing += 1;
            } else {
                not_enforcing.push(repo.clone());
            }
        }
        not_enforcing.sort();
        not_enforcing.truncate(LIST_MAX);
        RepositoryFigures {
            total: self.repositories.len() as u64,
            enforcing,
            by_mode,
            not_enforcing,
        }
    }

    fn pack_figures(&self) -> PackFigures {
        let mut f = PackFigures {
            assigned: self.assignments.len() as u64,
            ..PackFigures::default()
        };
        for (scope, pack) in &self.assignments {
            if pack.starts_with(BUILT_IN_PREFIX) {
                f.built_in += 1;
            } else if self.packs.get(pack.as_str()).copied().unwrap_or(false) {
                f.signed += 1;
            } else if f.unsigned.len() < LIST_MAX {
                f.unsigned.push(if scope.is_empty() {
                    format!("(tenant): {pack}")
                } else {
                    format!("{scope}: {pack}")
                });
            }
        }
        f
    }

    fn mcp_figures(&self) -> McpFigures {
        let mut untrusted = Vec::new();
        let mut changed = Vec::new();
        for (name, s) in &self.mcp {
            let trusted = matches!(
                s.current.tier,
                Some(TrustTier::Trusted | TrustTier::Approved)
            ) && s.current.approval == Some(ServerApproval::Approved);
            if !trusted {
                untrusted.push(name.clone());
            }
            if s.changed {
                changed.push(name.clone());
            }
        }
        McpFigures {
            registered: self.mcp.len() as u64,
            untrusted,
            changed,
            refused_calls: self.refused_mcp_calls,
        }
    }

    fn connector_figures(&self) -> ConnectorFigures {
        let mut f = ConnectorFigures::default();
        for (destination, attempts) in &self.attempts {
            f.destinations.insert(
                destination.clone(),
                DestinationHealth {
                    attempts: *attempts,
                    ..DestinationHealth::default()
                },
            );
        }
        for ((_, destination), outcome) in &self.deliveries {
            let d = f.destinations.entry(destination.clone()).or_default();
            match outcome {
                AttemptOutcome::Delivered => {
                    d.delivered += 1;
                    f.delivered += 1;
                }
                AttemptOutcome::Retry => {
                    d.retrying += 1;
                    f.retrying += 1;
                }
                AttemptOutcome::DeadLetter => {
                    d.dead_letters += 1;
                    f.dead_letters += 1;
                }
            }
        }
        f
    }

    fn hook_coverage(&self) -> HookCoverage {
        let inventory: Vec<&String> = self
            .agents
            .iter()
            .filter(|(_, enabled)| **enabled)
            .map(|(name, _)| name)
            .collect();
        let seen = inventory
            .iter()
            .filter(|a| self.agents_seen.contains_key(a.as_str()))
            .count() as u64;
        HookCoverage {
            inventory: inventory.len() as u64,
            seen,
            unseen: inventory
                .iter()
                .filter(|a| !self.agents_seen.contains_key(a.as_str()))
                .take(LIST_MAX)
                .map(|a| a.to_string())
                .collect(),
            unregistered: self
                .agents_seen
                .keys()
                .filter(|a| !self.agents.contains_key(a.as_str()))
                .count() as u64,
            inventory_version: None,
        }
    }
}

/// Whether decisions in `mode` take effect: enforce, and strict (which only tightens).
pub(crate) fn enforces(mode: Mode) -> bool {
    matches!(mode, Mode::Enforce | Mode::Strict)
}

/// The name decisions without a repository are counted under.
const NO_REPOSITORY: &str = "(none)";

/// How an assignment names a pack shipped with cavra rather than uploaded.
const BUILT_IN_PREFIX: &str = "builtin:";

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

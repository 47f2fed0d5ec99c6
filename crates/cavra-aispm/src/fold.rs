//! The fold: one pass over a tenant's entries in log order, keeping only what the figures
//! need (a few counters, the latest state of each repository, approval, registry record,
//! assignment and delivery).

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::str::FromStr;

use cavra_engine::registry::ids as registry_ids;
use cavra_engine::{Decision, Mode, ServerApproval, TrustTier};
use cavra_store::ApprovalState;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::entry::{Body, Entry, EntryKind, Text};
use crate::{
    ApprovalFigures, BreakGlassFigures, ConnectorFigures, Covers, DecisionFigures,
    DestinationHealth, HookCoverage, McpFigures, POSTURE_FORMAT, PackFigures, Posture,
    RepositoryFigures,
};

/// How many names a list in the posture shows at most.
pub(crate) const LIST_MAX: usize = 20;

/// What a delivery attempt left the delivery as (the connectors' words in the attempt's
/// evidence entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum AttemptOutcome {
    Delivered,
    Retry,
    DeadLetter,
}

/// What a registry entry is about (the tenant store's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RegistryKind {
    Agent,
    McpServer,
}

/// One approval's course.
#[derive(Debug, Default)]
struct ApprovalTrack {
    requested_at: Option<OffsetDateTime>,
    answered: bool,
    last: Option<ApprovalState>,
}

/// An MCP server's registered trust, tools and capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
struct McpSignature {
    tier: Option<TrustTier>,
    approval: Option<ServerApproval>,
    tools: Vec<String>,
    capabilities: Vec<String>,
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
        match serde_json::from_slice::<Entry<'_>>(line) {
            Ok(e) => self.push(e),
            Err(_) => self.damaged(),
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
            Ok(e) => self.push(e),
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

    fn push(&mut self, e: Entry<'_>) {
        self.covers.entries += 1;
        if self.covers.first_index.is_none() {
            self.covers.first_index = e.index;
            self.covers.first_time = e.time.as_deref().map(str::to_string);
            self.tenant = e.tenant.as_deref().map(str::to_string);
        }
        if e.index.is_some() {
            self.covers.last_index = e.index;
        }
        if let Some(t) = &e.time {
            // Reuses the buffer: no allocation per entry.
            self.last_time.clear();
            self.last_time.push_str(t);
        }
        let at = e.time.as_deref();
        let ok = match e.kind {
            EntryKind::Decision => self.decision(e.body),
            EntryKind::Approval => self.approval(e.body, at),
            EntryKind::Registry => self.registry(e.body),
            EntryKind::PolicyAssignment => self.assignment(e.body),
            EntryKind::PolicyPack => self.pack(e.body),
            EntryKind::Delivery => self.delivery(e.body),
            EntryKind::Other => {
                self.covers.other += 1;
                true
            }
        };
        if !ok {
            self.covers.unreadable += 1;
        }
    }

    fn decision(&mut self, b: Body<'_>) -> bool {
        let Some(Ok(decision)) = b.decision.as_deref().map(Decision::from_str) else {
            return false;
        };
        let record = b.record.unwrap_or_default();
        let mode = match record.mode.as_deref().map(Mode::from_str) {
            Some(Ok(m)) => m,
            Some(Err(_)) => return false,
            // A record without a mode was decided as packs decide by default.
            None => Mode::default(),
        };
        self.decisions += 1;
        self.by_decision[index_of(Decision::ALL, decision)] += 1;
        self.by_mode[index_of(Mode::ALL, mode)] += 1;
        let repo = record.repository.as_deref().unwrap_or(NO_REPOSITORY);
        match self.repositories.get_mut(repo) {
            Some(m) => *m = mode,
            None => {
                self.repositories.insert(repo.to_string(), mode);
            }
        }
        if record.break_glass.is_some() {
            self.break_glass_decisions += 1;
        }
        if b.rule_id.as_deref().is_some_and(|r| {
            [
                registry_ids::UNREGISTERED,
                registry_ids::BLOCKED,
                registry_ids::PENDING,
            ]
            .contains(&r)
        }) {
            self.refused_mcp_calls += 1;
        }
        if let Some(agent) = b.agent.as_deref()
            && !self.agents_seen.contains_key(agent)
        {
            self.agents_seen.insert(agent.to_string(), ());
        }
        true
    }

    fn approval(&mut self, b: Body<'_>, at: Option<&str>) -> bool {
        let (Some(id), Some(Ok(state))) = (
            b.approval_id.as_deref(),
            b.state.as_deref().map(ApprovalState::from_str),
        ) else {
            return false;
        };
        let at = || at.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        let track = match self.approvals.get_mut(id) {
            Some(t) => t,
            None => self.approvals.entry(id.to_string()).or_default(),
        };
        match state {
            ApprovalState::Pending => {
                if track.requested_at.is_none() && track.last.is_none() {
                    track.requested_at = at();
                }
            }
            ApprovalState::Approved | ApprovalState::Denied | ApprovalState::BreakGlass => {
                if !track.answered {
                    track.answered = true;
                    if let (Some(from), Some(to)) = (track.requested_at, at()) {
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
        true
    }

    fn registry(&mut self, b: Body<'_>) -> bool {
        let (Some(kind), Some(name)) = (b.kind.as_deref(), b.name.as_deref()) else {
            return false;
        };
        let record = b.record.unwrap_or_default();
        match word::<RegistryKind>(kind) {
            Some(RegistryKind::McpServer) => {
                let words = |v: Option<Vec<Text<'_>>>| {
                    let mut v: Vec<String> = v
                        .unwrap_or_default()
                        .iter()
                        .map(|t| t.to_string())
                        .collect();
                    v.sort();
                    v
                };
                let signature = McpSignature {
                    tier: record
                        .trust_tier
                        .as_deref()
                        .and_then(|t| TrustTier::from_str(t).ok()),
                    approval: record
                        .approval_state
                        .as_deref()
                        .and_then(|t| ServerApproval::from_str(t).ok()),
                    tools: words(record.allowed_tools),
                    capabilities: words(record.capabilities),
                };
                match self.mcp.get_mut(name) {
                    Some(s) => {
                        if s.current != signature {
                            s.changed = true;
                            s.current = signature;
                        }
                    }
                    None => {
                        self.mcp.insert(
                            name.to_string(),
                            McpServer {
                                current: signature,
                                changed: false,
                            },
                        );
                    }
                }
                true
            }
            Some(RegistryKind::Agent) => {
                self.agents
                    .insert(name.to_string(), record.enabled.unwrap_or(true));
                true
            }
            None => false,
        }
    }

    fn assignment(&mut self, b: Body<'_>) -> bool {
        let (Some(scope), Some(pack)) = (b.scope.as_deref(), b.pack.as_deref()) else {
            return false;
        };
        self.assignments.insert(scope.to_string(), pack.to_string());
        true
    }

    fn pack(&mut self, b: Body<'_>) -> bool {
        let Some(digest) = b.digest.as_deref() else {
            return false;
        };
        self.packs.insert(digest.to_string(), b.signed_by.is_some());
        true
    }

    fn delivery(&mut self, b: Body<'_>) -> bool {
        let (Some(event), Some(destination), Some(outcome)) = (
            b.event_id.as_deref(),
            b.destination.as_deref(),
            b.outcome.as_deref(),
        ) else {
            return false;
        };
        let Some(outcome) = word::<AttemptOutcome>(outcome) else {
            return false;
        };
        match self.attempts.get_mut(destination) {
            Some(n) => *n += 1,
            None => {
                self.attempts.insert(destination.to_string(), 1);
            }
        }
        self.deliveries
            .insert((event.to_string(), destination.to_string()), outcome);
        true
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

/// A word of a closed set, read with the set's own serde names (None: not one of them).
fn word<'de, T: Deserialize<'de>>(s: &'de str) -> Option<T> {
    T::deserialize(serde::de::value::BorrowedStrDeserializer::<
        serde::de::value::Error,
    >::new(s))
    .ok()
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

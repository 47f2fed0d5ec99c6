//! A tenant's AI security posture (AISPM), computed from its evidence log and nothing else.
//!
//! The posture is a fold over the log's entries in log order ([`Accumulator`]): no counter
//! kept beside the log can drift from it, and the same entries give the same figures
//! wherever they are read. The API service folds the entries of its store
//! (`GET /v1/posture`); `cavra aispm posture --from-bundle DIR` folds an evidence bundle's
//! `entries.jsonl`. Both feed the same [`Accumulator`], so a bundle of the whole log gives the
//! service's figures exactly.
//!
//! Each [`Factor`] has a weight, a value between 0 and 1 (None when the log holds nothing it
//! could be judged on), its contribution in points and an explanation; the score (0–100) is
//! the sum of the contributions, the weights of the factors that apply scaled to 100.

#![warn(missing_docs)]

mod entry;
mod event;
mod fold;
mod score;
mod text;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use event::Chunk;
pub use fold::Accumulator;
pub use score::WEIGHTS;
pub use text::render;

/// `format` of a posture.
pub const POSTURE_FORMAT: &str = "cavra-aispm-posture/v1";

/// Errors reading entries for a posture.
#[derive(Debug, thiserror::Error)]
pub enum AispmError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A tenant's posture, as the API service and the CLI give it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Posture {
    /// [`POSTURE_FORMAT`].
    pub format: String,
    /// The tenant the entries belong to (from the entries themselves).
    pub tenant: Option<String>,
    /// Which entries the figures cover.
    pub covers: Covers,
    /// The score, 0–100: the sum of the factors' contributions (None: no factor applies).
    pub score: Option<f64>,
    /// Every factor, with its weight, value, contribution and explanation.
    pub factors: Vec<Factor>,
    /// Decisions by outcome and mode.
    pub decisions: DecisionFigures,
    /// Approvals: asked, answered, expired, latency.
    pub approvals: ApprovalFigures,
    /// Break-glass uses.
    pub break_glass: BreakGlassFigures,
    /// Repositories by the mode their latest decision ran in.
    pub repositories: RepositoryFigures,
    /// The packs assigned, signed or not.
    pub packs: PackFigures,
    /// MCP servers registered, untrusted, changed; calls the registry refused.
    pub mcp: McpFigures,
    /// Connector deliveries by destination.
    pub connectors: ConnectorFigures,
    /// Registered agents seen deciding.
    pub hook_coverage: HookCoverage,
}

/// Which entries a posture covers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Covers {
    /// Entries read.
    pub entries: u64,
    /// The first entry's index.
    pub first_index: Option<u64>,
    /// The last entry's index.
    pub last_index: Option<u64>,
    /// The first entry's time.
    pub first_time: Option<String>,
    /// The last entry's time.
    pub last_time: Option<String>,
    /// Entries that could not be read as an entry of a kind they claim (damage: verify the
    /// log or bundle).
    pub unreadable: u64,
    /// Entries of kinds the posture does not read (connector tests, release records, …).
    pub other: u64,
}

/// What a factor measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorId {
    /// Repositories whose latest decision ran in enforce (or strict) mode.
    Enforcement,
    /// Assigned packs that are signed (or built in).
    SignedPacks,
    /// Approval requests answered before they expired.
    ApprovalsAnswered,
    /// Gated actions that did not need break glass.
    BreakGlass,
    /// Registered MCP servers that are trusted, approved and unchanged.
    McpTrust,
    /// Connector deliveries that arrived rather than being given up.
    ConnectorHealth,
    /// Registered agents whose decisions reach the log.
    HookCoverage,
    /// Block, approval and warn rates: reported, not scored.
    Outcomes,
}

/// One factor of the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    /// What it measures.
    pub id: FactorId,
    /// Its weight (the weights of all scored factors add up to 100).
    pub weight: u32,
    /// How well the tenant does on it, 0–1 (None: nothing in the log to judge it on; the
    /// factor then counts for nothing and the others are scaled up).
    pub value: Option<f64>,
    /// The points it adds to the score.
    pub contribution: f64,
    /// What the value is made of, in words.
    pub explanation: String,
}

/// Decisions by outcome and mode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DecisionFigures {
    /// Decisions recorded.
    pub total: u64,
    /// By effective decision.
    pub by_decision: BTreeMap<String, u64>,
    /// By the mode they ran in.
    pub by_mode: BTreeMap<String, u64>,
    /// Share blocked (0–1; None without decisions).
    pub block_rate: Option<f64>,
    /// Share routed for approval.
    pub approval_rate: Option<f64>,
    /// Share warned.
    pub warn_rate: Option<f64>,
}

/// Approvals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApprovalFigures {
    /// Asked for.
    pub requested: u64,
    /// Answered (approved, denied or granted by break glass) before expiring.
    pub answered: u64,
    /// Approved.
    pub approved: u64,
    /// Denied.
    pub denied: u64,
    /// Expired before anyone answered.
    pub expired_unanswered: u64,
    /// Granted, then expired unused.
    pub expired_grants: u64,
    /// Still waiting at the last entry.
    pub open: u64,
    /// Median time from request to answer, in milliseconds.
    pub latency_p50_ms: Option<u64>,
    /// 95th percentile of the same.
    pub latency_p95_ms: Option<u64>,
}

/// Break-glass uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BreakGlassFigures {
    /// Approvals granted by break glass.
    pub approvals: u64,
    /// Decisions recorded under break glass (actor and reason on the request).
    pub decisions: u64,
    /// Both.
    pub total: u64,
}

/// Repositories by the mode of their latest decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RepositoryFigures {
    /// Repositories seen (decisions without a repository count as one, `(none)`).
    pub total: u64,
    /// Of which enforcing (enforce or strict).
    pub enforcing: u64,
    /// By mode.
    pub by_mode: BTreeMap<String, u64>,
    /// The repositories not enforcing (at most 20, sorted).
    pub not_enforcing: Vec<String>,
}

/// The packs assigned (the latest assignment of each scope).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PackFigures {
    /// Scopes with an assigned pack (`""` is the whole tenant).
    pub assigned: u64,
    /// Of which signed packs (their upload recorded the verified signer).
    pub signed: u64,
    /// Of which built-in packs (shipped inside the signed release).
    pub built_in: u64,
    /// Scopes whose pack is unsigned, or whose upload the log does not hold (at most 20).
    pub unsigned: Vec<String>,
}

/// MCP servers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct McpFigures {
    /// Registered servers.
    pub registered: u64,
    /// Registered servers not trusted or approved, or whose own approval is not granted.
    pub untrusted: Vec<String>,
    /// Registered servers whose trust, tools or capabilities changed after they were first
    /// registered.
    pub changed: Vec<String>,
    /// Tool calls the MCP registry refused or sent for approval: an unregistered, blocked
    /// or not yet approved server.
    pub refused_calls: u64,
}

/// Connector deliveries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectorFigures {
    /// Deliveries whose last attempt arrived.
    pub delivered: u64,
    /// Deliveries whose last attempt gave up (open dead letters).
    pub dead_letters: u64,
    /// Deliveries still being retried.
    pub retrying: u64,
    /// By destination.
    pub destinations: BTreeMap<String, DestinationHealth>,
}

/// One destination's deliveries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DestinationHealth {
    /// Attempts made.
    pub attempts: u64,
    /// Deliveries whose last attempt arrived.
    pub delivered: u64,
    /// Open dead letters.
    pub dead_letters: u64,
    /// Still being retried.
    pub retrying: u64,
}

/// Hook coverage: the registered agents (the inventory) against the agents deciding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HookCoverage {
    /// Registered, enabled agents.
    pub inventory: u64,
    /// Of which seen deciding.
    pub seen: u64,
    /// Registered agents never seen deciding (at most 20, sorted).
    pub unseen: Vec<String>,
    /// Agents deciding that are not registered.
    pub unregistered: u64,
    /// When set, `inventory`, `seen` and `unseen` count the agents of this version of the
    /// tenant's imported inventory instead of the registry's (the service's
    /// `/v1/inventory/coverage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory_version: Option<u64>,
}

impl Posture {
    /// Replaces the hook coverage (with one from an imported inventory) and scores again.
    pub fn set_hook_coverage(&mut self, h: HookCoverage) {
        self.hook_coverage = h;
        score::score(self);
    }
}

/// The posture of the entries of an evidence bundle folder (its `entries.jsonl`, read a
/// line at a time). It does not check the bundle: verify it first (`cavra evidence verify`).
pub fn posture_from_bundle(dir: &std::path::Path) -> Result<Posture, AispmError> {
    let path = dir.join("entries.jsonl");
    let io = |source| AispmError::Io {
        path: path.clone(),
        source,
    };
    let file = std::fs::File::open(&path).map_err(io)?;
    let mut acc = Accumulator::new();
    acc.push_lines(std::io::BufReader::with_capacity(1 << 20, file))
        .map_err(io)?;
    Ok(acc.finish())
}

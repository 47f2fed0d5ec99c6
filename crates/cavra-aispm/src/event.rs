//! What one entry tells the posture, read from the entry and nothing else: reading (the
//! costly part, JSON scanning) is kept apart from applying (a few map updates), so that
//! entries can be read on several threads at once and applied in log order on one
//! ([`Chunk`]) with exactly the figures of a fold that reads and applies one entry at a time.

use std::borrow::Cow;
use std::str::FromStr;

use cavra_engine::registry::ids as registry_ids;
use cavra_engine::{Decision, Mode, ServerApproval, TrustTier};
use cavra_store::ApprovalState;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::entry::{Body, Entry, EntryKind, Text};

/// What a delivery attempt left the delivery as (the connectors' words in the attempt's
/// evidence entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AttemptOutcome {
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

/// An MCP server's registered trust, tools and capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct McpSignature {
    pub(crate) tier: Option<TrustTier>,
    pub(crate) approval: Option<ServerApproval>,
    pub(crate) tools: Vec<String>,
    pub(crate) capabilities: Vec<String>,
}

/// One entry's contribution, its strings borrowed from the entry's text where they can be.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    /// A decision.
    Decision {
        decision: Decision,
        mode: Mode,
        repository: Option<Cow<'a, str>>,
        break_glass: bool,
        refused_mcp_call: bool,
        agent: Option<Cow<'a, str>>,
    },
    /// An approval step.
    Approval {
        id: Cow<'a, str>,
        state: ApprovalState,
        at: Option<OffsetDateTime>,
    },
    /// An MCP server registered.
    Mcp {
        name: Cow<'a, str>,
        signature: McpSignature,
    },
    /// An agent registered.
    Agent { name: Cow<'a, str>, enabled: bool },
    /// A pack assigned.
    Assignment {
        scope: Cow<'a, str>,
        pack: Cow<'a, str>,
    },
    /// A pack uploaded.
    Pack { digest: Cow<'a, str>, signed: bool },
    /// A delivery attempt.
    Delivery {
        event: Cow<'a, str>,
        destination: Cow<'a, str>,
        outcome: AttemptOutcome,
    },
    /// An entry of a kind the posture does not read.
    Other,
    /// An entry of a kind the posture reads that lacks what it needs (damage).
    Unreadable,
}

fn owned(c: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(c.into_owned())
}

impl Event<'_> {
    /// The same event, owning its strings (to outlive the entry's text).
    pub(crate) fn into_owned(self) -> Event<'static> {
        match self {
            Event::Decision {
                decision,
                mode,
                repository,
                break_glass,
                refused_mcp_call,
                agent,
            } => Event::Decision {
                decision,
                mode,
                repository: repository.map(owned),
                break_glass,
                refused_mcp_call,
                agent: agent.map(owned),
            },
            Event::Approval { id, state, at } => Event::Approval {
                id: owned(id),
                state,
                at,
            },
            Event::Mcp { name, signature } => Event::Mcp {
                name: owned(name),
                signature,
            },
            Event::Agent { name, enabled } => Event::Agent {
                name: owned(name),
                enabled,
            },
            Event::Assignment { scope, pack } => Event::Assignment {
                scope: owned(scope),
                pack: owned(pack),
            },
            Event::Pack { digest, signed } => Event::Pack {
                digest: owned(digest),
                signed,
            },
            Event::Delivery {
                event,
                destination,
                outcome,
            } => Event::Delivery {
                event: owned(event),
                destination: owned(destination),
                outcome,
            },
            Event::Other => Event::Other,
            Event::Unreadable => Event::Unreadable,
        }
    }
}

/// Where an entry stands in the log, and what it tells.
pub(crate) struct Read<'a> {
    pub(crate) index: Option<u64>,
    pub(crate) time: Option<Text<'a>>,
    pub(crate) tenant: Option<Text<'a>>,
    pub(crate) event: Event<'a>,
}

/// Reads one entry's text (None: it does not read as an entry at all).
pub(crate) fn read_line(line: &[u8]) -> Option<Read<'_>> {
    serde_json::from_slice::<Entry<'_>>(line).ok().map(read)
}

/// Reads one parsed entry.
pub(crate) fn read(e: Entry<'_>) -> Read<'_> {
    let event = match e.kind {
        EntryKind::Decision => decision(e.body),
        EntryKind::Approval => approval(e.body, e.time.as_deref()),
        EntryKind::Registry => registry(e.body),
        EntryKind::PolicyAssignment => assignment(e.body),
        EntryKind::PolicyPack => pack(e.body),
        EntryKind::Delivery => delivery(e.body),
        EntryKind::Other => Some(Event::Other),
    };
    Read {
        index: e.index,
        time: e.time,
        tenant: e.tenant,
        event: event.unwrap_or(Event::Unreadable),
    }
}

fn cow(t: Option<Text<'_>>) -> Option<Cow<'_, str>> {
    t.map(|t| t.0)
}

fn decision(b: Body<'_>) -> Option<Event<'_>> {
    let decision = Decision::from_str(b.decision.as_deref()?).ok()?;
    let record = b.record.unwrap_or_default();
    let mode = match record.mode.as_deref().map(Mode::from_str) {
        Some(Ok(m)) => m,
        Some(Err(_)) => return None,
        // A record without a mode was decided as packs decide by default.
        None => Mode::default(),
    };
    let refused_mcp_call = b.rule_id.as_deref().is_some_and(|r| {
        [
            registry_ids::UNREGISTERED,
            registry_ids::BLOCKED,
            registry_ids::PENDING,
        ]
        .contains(&r)
    });
    Some(Event::Decision {
        decision,
        mode,
        repository: cow(record.repository),
        break_glass: record.break_glass.is_some(),
        refused_mcp_call,
        agent: cow(b.agent),
    })
}

fn approval<'a>(b: Body<'a>, at: Option<&str>) -> Option<Event<'a>> {
    let state = ApprovalState::from_str(b.state.as_deref()?).ok()?;
    let id = cow(b.approval_id)?;
    // Only a request and the first answer need the time; parsed here, off the applying
    // thread, either way.
    let at = match state {
        ApprovalState::Expired | ApprovalState::Consumed => None,
        _ => at.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok()),
    };
    Some(Event::Approval { id, state, at })
}

fn registry(b: Body<'_>) -> Option<Event<'_>> {
    let kind = word::<RegistryKind>(b.kind.as_deref()?)?;
    let name = cow(b.name)?;
    let record = b.record.unwrap_or_default();
    Some(match kind {
        RegistryKind::McpServer => {
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
            Event::Mcp { name, signature }
        }
        RegistryKind::Agent => Event::Agent {
            name,
            enabled: record.enabled.unwrap_or(true),
        },
    })
}

fn assignment(b: Body<'_>) -> Option<Event<'_>> {
    Some(Event::Assignment {
        scope: cow(b.scope)?,
        pack: cow(b.pack)?,
    })
}

fn pack(b: Body<'_>) -> Option<Event<'_>> {
    Some(Event::Pack {
        digest: cow(b.digest)?,
        signed: b.signed_by.is_some(),
    })
}

fn delivery(b: Body<'_>) -> Option<Event<'_>> {
    let outcome = word::<AttemptOutcome>(b.outcome.as_deref()?)?;
    Some(Event::Delivery {
        event: cow(b.event_id)?,
        destination: cow(b.destination)?,
        outcome,
    })
}

/// A word of a closed set, read with the set's own serde names (None: not one of them).
fn word<'de, T: Deserialize<'de>>(s: &'de str) -> Option<T> {
    T::deserialize(serde::de::value::BorrowedStrDeserializer::<
        serde::de::value::Error,
    >::new(s))
    .ok()
}

/// Entries read ahead of applying them: a run of consecutive entries of the log (a page
/// read from the store, a stretch of a bundle's lines), read on any thread and then given to
/// [`crate::Accumulator::push_chunk`] in log order. Applying chunks in order gives exactly
/// the figures of pushing their entries one by one.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The entries up to and including the first with an index: the posture's first entry
    /// is among them when this chunk comes first.
    pub(crate) head: Vec<(Option<u64>, Option<String>, Option<String>)>,
    pub(crate) last_index: Option<u64>,
    pub(crate) last_time: Option<String>,
    /// One per entry; None for an entry that does not read as one.
    pub(crate) events: Vec<Option<Event<'static>>>,
}

impl Chunk {
    /// A chunk without entries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the next entry, given as its JSON text.
    pub fn push_line(&mut self, line: &[u8]) {
        let Some(r) = read_line(line) else {
            self.events.push(None);
            return;
        };
        if self.head.last().is_none_or(|h| h.0.is_none()) {
            self.head.push((
                r.index,
                r.time.as_deref().map(str::to_string),
                r.tenant.as_deref().map(str::to_string),
            ));
        }
        if r.index.is_some() {
            self.last_index = r.index;
        }
        if let Some(t) = &r.time {
            let last = self.last_time.get_or_insert_with(String::new);
            last.clear();
            last.push_str(t);
        }
        self.events.push(Some(r.event.into_owned()));
    }

    /// Entries read.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no entry was read.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

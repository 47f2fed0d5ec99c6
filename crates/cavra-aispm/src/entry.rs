//! The parts of an evidence entry the posture reads, borrowed from the entry's text where it
//! can be: every kind's body is read into one struct of optional fields (the canonical entry
//! puts `body` before `kind`, so the kind is not known while the body is read), and every
//! field the posture does not use is skipped without being built.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};

/// A string borrowed from the entry's text when it holds no escape, else owned. (serde
/// borrows a `Cow` field only when the field is exactly `Cow<str>`, never inside an
/// `Option`, so the posture reads strings through this type.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The kinds of entry a tenant's log holds that the posture reads. Anything else (a
/// connector test, a release record) is counted and otherwise passed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EntryKind {
    /// A decision and its record.
    Decision,
    /// An approval asked for or moved.
    Approval,
    /// A registry record written (agent or MCP server).
    Registry,
    /// A pack assigned to the tenant or a repository.
    PolicyAssignment,
    /// A pack uploaded (with its verified signer, when signed).
    PolicyPack,
    /// One connector delivery attempt.
    Delivery,
    /// Anything else.
    #[serde(other)]
    Other,
}

/// One entry.
#[derive(Debug, Deserialize)]
pub(crate) struct Entry<'a> {
    pub(crate) kind: EntryKind,
    #[serde(borrow, default)]
    pub(crate) time: Option<Text<'a>>,
    #[serde(default)]
    pub(crate) index: Option<u64>,
    #[serde(borrow, default)]
    pub(crate) tenant: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(crate) body: Body<'a>,
}

/// The body fields of every kind the posture reads.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Body<'a> {
    // decision
    #[serde(borrow, default)]
    pub(crate) decision: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(crate) rule_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(crate) agent: Option<Text<'a>>,
    // decision (the engine's record) and registry (the registered record)
    #[serde(borrow, default)]
    pub(crate) record: Option<Record<'a>>,
    // approval
    #[serde(borrow, default)]
    pub(crate) approval_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(crate) state: Option<Text<'a>>,
    // registry
    #[serde(borrow, default)]
    pub(crate) kind: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(crate) name: Option<Text<'a>>,
    // policy assignment and pack
    #[serde(borrow, default)]
    pub(crate) scope: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(crate) pack: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(crate) digest: Option<Text<'a>>,
    #[serde(default)]
    pub(crate) signed_by: Option<IgnoredAny>,
    // delivery
    #[serde(borrow, default)]
    pub(crate) event_id: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(crate) destination: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(crate) outcome: Option<Text<'a>>,
}

/// A decision's record or a registry record: the fields of both the posture reads.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Record<'a> {
    // the engine's decision record
    #[serde(borrow, default)]
    pub(crate) mode: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(crate) repository: Option<Text<'a>>,
    #[serde(default)]
    pub(crate) break_glass: Option<IgnoredAny>,
    // an MCP server's registry record
    #[serde(borrow, default)]
    pub(crate) trust_tier: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(crate) approval_state: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub(crate) allowed_tools: Option<Vec<Text<'a>>>,
    #[serde(borrow, default)]
    pub(crate) capabilities: Option<Vec<Text<'a>>>,
    // an agent's registry record
    #[serde(default)]
    pub(crate) enabled: Option<bool>,
}

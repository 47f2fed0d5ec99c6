//! The repository's local store: opened to record or only to read, and approvals against it
//! (the hook and the MCP governor): the store calls around [`crate::approvals::resolve`],
//! written once.

use crate::approvals::{Asker, Route, Settled, approval_write, note_new, settle};
use cavra_engine::{DecisionRecord, Request};
use cavra_store::{Approval, ApprovalWrite, Store, StoreError};
use std::time::Duration;
use time::OffsetDateTime;

/// Where a missing approval is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// Nowhere: the record's decision stands (an agent that cannot ask its person).
    Nowhere,
    /// A pending approval in the store, for a member of the approver group (headless runs).
    Approver,
    /// The agent's own permission prompt (ask mode): a pending approval routed to the person
    /// there records the question; the agent's tool result or expiry closes it.
    AgentPrompt {
        /// The agent's id of the tool call, which its result carries too.
        tool_use_id: Option<String>,
    },
}

/// Who asks, and where a missing approval is asked for.
#[derive(Debug, Clone)]
pub struct Asking {
    /// The requester (`agent:session`); only they can use a grant.
    pub requested_by: String,
    /// The agent session.
    pub session_id: Option<String>,
    /// How long a new approval stays valid.
    pub ttl: Duration,
    /// Where a missing approval is asked for.
    pub ask: Ask,
    /// What is asked for, redacted, for the approver's list.
    pub summary: String,
}

/// What came of a decision that needs approval.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A grant for exactly this context was used: the record allows.
    Used(Approval),
    /// The approval was denied: the record blocks.
    Denied(Approval),
    /// An approval is pending (or granted to another requester).
    Pending(Approval),
    /// A pending approval was created, for the approver group.
    Created(Approval),
    /// The person at the agent's prompt is asked; this pending approval records it.
    Asked(Approval),
    /// None exists and none was asked for ([`Ask::Nowhere`]).
    None,
}

/// The approval step of a decision that needs one, settled against the repository's store
/// and not yet written: what was found, what recording the call writes
/// ([`LocalStep::write`], the record already noting a new approval's id), and the agent
/// prompt's approval of the same tool call when it already holds one.
#[derive(Debug, Clone)]
pub struct LocalStep {
    /// What [`settle`] found.
    pub settled: Settled<Approval>,
    /// What recording the call writes with its decisions.
    pub write: ApprovalWrite,
    /// The pending agent-prompt approval of the same tool call, asked already (its
    /// PreToolUse and then its PermissionRequest): kept, nothing new written.
    pub asked_before: Option<Approval>,
}

impl LocalStep {
    /// Nothing to settle: the decision needs no approval.
    pub fn none() -> Self {
        LocalStep {
            settled: Settled::NotNeeded,
            write: ApprovalWrite::None,
            asked_before: None,
        }
    }

    /// What came of it once the call is recorded; `written` is what recording gave back
    /// (the grant as used, the approval as asked).
    pub fn outcome(self, written: Option<Approval>) -> Result<Outcome, StoreError> {
        let written = || {
            written.ok_or_else(|| {
                StoreError::Corrupt("recording gave back no approval for the call".into())
            })
        };
        Ok(match self.settled {
            Settled::Use(_) => Outcome::Used(written()?),
            Settled::Denied(a) => Outcome::Denied(a),
            Settled::Pending(a) => Outcome::Pending(a),
            Settled::Ask(_) => match (self.asked_before, &self.write) {
                (Some(a), _) => Outcome::Asked(a),
                (None, ApprovalWrite::AskAtPrompt { .. }) => Outcome::Asked(written()?),
                (None, _) => Outcome::Created(written()?),
            },
            Settled::Unasked | Settled::NotNeeded => Outcome::None,
        })
    }
}

/// Looks up the approval of `record` (which needs one), bound to its full context, and says
/// what recording the call writes for it: the grant it uses, or the approval it asks for
/// (for the approver group, or the agent's prompt, which may already hold one for the same
/// tool call). The record is updated as [`crate::approvals::resolve`] says, and notes the id
/// of an approval asked for. Nothing is written here but overdue approvals' expiry.
pub fn settle_in_store(
    store: &mut Store,
    request: &Request,
    record: &mut DecisionRecord,
    asking: &Asking,
    now: OffsetDateTime,
) -> Result<LocalStep, StoreError> {
    let group = record
        .approver_group
        .clone()
        .unwrap_or_else(|| cavra_engine::evaluate::DEFAULT_APPROVER_GROUP.to_string());
    let asker = Asker {
        session_id: asking.session_id.clone(),
        requested_by: asking.requested_by.clone(),
        summary: asking.summary.clone(),
    };
    // Past what a time can hold, the expiry is refused when an approval is asked for.
    let ttl = time::Duration::try_from(asking.ttl).unwrap_or(time::Duration::MAX);
    // The store's futures are ready when returned: no executor on the hook's path.
    let settling = settle(
        store,
        request,
        record,
        &group,
        asker,
        cavra_store::stamp(now)?,
        (asking.ask != Ask::Nowhere).then_some(ttl),
    );
    let (_, settled) =
        cavra_store::now_or_never(settling).ok_or(StoreError::Waiting("the approval step"))??;
    let asked_before = match (&settled, &asking.ask) {
        (
            Settled::Ask(_),
            Ask::AgentPrompt {
                tool_use_id: Some(id),
            },
        ) => store.pending_at_prompt(id)?,
        _ => None,
    };
    let route = match &asking.ask {
        Ask::AgentPrompt { tool_use_id } => Route::AgentPrompt {
            tool_use_id: tool_use_id.clone(),
        },
        _ => Route::Approver,
    };
    let write = match &asked_before {
        Some(a) => {
            note_new(record, &a.id);
            ApprovalWrite::None
        }
        None => approval_write(record, &settled, &asking.requested_by, route),
    };
    Ok(LocalStep {
        settled,
        write,
        asked_before,
    })
}

/// A time given by a person (a flag) that is not RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag} {value:?} is not an RFC 3339 time (for example 2026-11-25T09:00:00Z)")]
pub struct BadTime {
    /// The flag it was given with (`--since`).
    pub flag: String,
    /// What was given.
    pub value: String,
}

/// Reads a time given with `flag` (RFC 3339).
pub fn parse_time(value: &str, flag: &str) -> Result<OffsetDateTime, BadTime> {
    OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).map_err(|_| {
        BadTime {
            flag: flag.to_string(),
            value: value.to_string(),
        }
    })
}

/// The evidence log's entries of one session, or from `since` until `until` (RFC 3339, as
/// given with `--since` and `--until`; the store compares its own fixed format).
pub fn entry_filter(
    session: Option<&str>,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<cavra_store::EntryFilter, BadTime> {
    let store_time = |value: Option<&str>, flag: &str| {
        value
            .map(|v| {
                let t = parse_time(v, flag)?;
                // Only a year past 9999 is not a store's time, and RFC 3339 cannot name one.
                cavra_store::stamp(t).map_err(|_| BadTime {
                    flag: flag.to_string(),
                    value: v.to_string(),
                })
            })
            .transpose()
    };
    Ok(cavra_store::EntryFilter {
        session_id: session.map(str::to_string),
        since: store_time(since, "--since")?,
        until: store_time(until, "--until")?,
        below: None,
    })
}

/// The repository's store opened to record, its log key attached (read only when a
/// checkpoint is due); `None` when nothing was ever recorded there (nothing is created).
pub fn open_existing(repo_root: &std::path::Path) -> Result<Option<Store>, StoreError> {
    let path = cavra_store::store_path(repo_root);
    if !path.exists() {
        return Ok(None);
    }
    let mut store = Store::open(&path)?;
    crate::keyfiles::attach_log_key(&mut store, repo_root);
    Ok(Some(store))
}

/// The repository's store opened only to read (listings, verification): creates nothing, not
/// even its `-wal` file; `None` when nothing was ever recorded there.
pub fn open_readable(repo_root: &std::path::Path) -> Result<Option<Store>, StoreError> {
    let path = cavra_store::store_path(repo_root);
    if !path.exists() {
        return Ok(None);
    }
    Store::open_read_only(&path).map(Some)
}

/// Why a recorded decision could not be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// Nothing was ever recorded in the repository.
    #[error("no decision `{id}`: nothing is recorded in this repository (no {})", path.display())]
    NothingRecorded {
        /// The decision asked for.
        id: String,
        /// Where the store would be.
        path: std::path::PathBuf,
    },
    /// The store holds no such decision.
    #[error("no decision `{id}` in {} (`cavra decision list` shows the ids)", path.display())]
    Unknown {
        /// The decision asked for.
        id: String,
        /// The store.
        path: std::path::PathBuf,
    },
    /// The store could not be opened.
    #[error("{}: {error}", path.display())]
    Open {
        /// The store.
        path: std::path::PathBuf,
        /// Why.
        error: StoreError,
    },
    /// The store could not be read.
    #[error("{0}")]
    Store(StoreError),
    /// The stored record is not a decision record.
    #[error("decision `{id}`: {error}")]
    NotARecord {
        /// The decision.
        id: String,
        /// Why.
        error: crate::recorded::NotARecord,
    },
}

/// Explains decision `id` of the repository's store, read-only, as
/// [`crate::recorded::explain_recorded`] does: from its record, its evidence log entry, the
/// pack kept under its digest, and the digest of the pack that applies now (loaded without
/// the pack cache: nothing is written). Also returns the stored record.
pub fn explain_stored(
    repo_root: &std::path::Path,
    id: &str,
    resolver: &dyn cavra_engine::PathResolver,
) -> Result<(crate::recorded::RecordedExplanation, serde_json::Value), ExplainError> {
    use crate::recorded::{Recorded, explain_recorded};
    use serde_json::Value;
    let path = cavra_store::store_path(repo_root);
    if !path.exists() {
        return Err(ExplainError::NothingRecorded {
            id: id.to_string(),
            path,
        });
    }
    let store = Store::open_read_only(&path).map_err(|error| ExplainError::Open {
        path: path.clone(),
        error,
    })?;
    let stored = store
        .decision(id)
        .map_err(ExplainError::Store)?
        .ok_or_else(|| ExplainError::Unknown {
            id: id.to_string(),
            path: path.clone(),
        })?;
    let entry = store
        .log_entries_about(id)
        .map_err(ExplainError::Store)?
        .into_iter()
        .find(|e| e.kind == cavra_store::EntryKind::Decision.as_str());
    let logged: Option<(Value, bool)> = entry.as_ref().map(|e| {
        let body = e
            .json()
            .and_then(|v| v.get("body").and_then(|b| b.get("record")).cloned())
            .unwrap_or(Value::Null);
        (body, e.hash_matches())
    });
    let digest = stored.record["policy_digest"].as_str().unwrap_or_default();
    let kept = store.policy(digest).map_err(ExplainError::Store)?;
    let reference = crate::policy::Source::cli(None, repo_root, repo_root)
        .reference()
        .unwrap_or_else(|_| crate::policy::DEFAULT_PACK.to_string());
    let current = crate::policy::resolve_pack_with_cache(&reference, repo_root, None)
        .ok()
        .map(|p| p.digest);
    let explanation = explain_recorded(
        Recorded {
            stored: &stored.record,
            logged: logged.as_ref().map(|(v, intact)| (v, *intact)),
            pack: kept.as_ref().map(|(o, d)| (o.as_str(), d.as_str())),
            current_digest: current.as_deref(),
        },
        resolver,
    )
    .map_err(|error| ExplainError::NotARecord {
        id: id.to_string(),
        error,
    })?;
    Ok((explanation, stored.record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cavra_engine::{ActionType, Env, NoSymlinks};

    #[test]
    fn a_recorded_decision_is_explained_and_unknown_ids_say_where_they_were_looked_for() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            explain_stored(dir.path(), "d1", &NoSymlinks),
            Err(ExplainError::NothingRecorded { .. })
        ));
        let resolved = cavra_policy::load_pack_str(
            "metadata: {id: t, version: '1'}\nrules:\n  - id: r\n    action: read_file\n    paths: ['**/.env']\n    decision: block\n",
            "t.yaml",
            std::path::Path::new("/"),
        )
        .expect("pack");
        let pack = cavra_policy::compile(&resolved).expect("compile");
        let request = Request::new(ActionType::ReadFile, ".env");
        let env = Env {
            timestamp: "2026-01-01T00:00:00.000Z",
            decision_id: "d1",
            resolver: &NoSymlinks,
        };
        let record = cavra_engine::evaluate::evaluate(&pack, &request, &env);
        let mut store = Store::open_repo(dir.path()).expect("store");
        crate::record::record_decision(
            &mut store,
            pack.redactor(),
            &crate::record::Caller::default(),
            &Vec::new(),
            &request,
            &record,
            true,
        )
        .expect("recorded");
        drop(store);
        let (explained, stored) = explain_stored(dir.path(), "d1", &NoSymlinks).expect("explained");
        assert_eq!(explained.record.decision_id, "d1");
        assert_eq!(explained.record.rule_id, "r");
        assert_eq!(stored["decision_id"], "d1");
        let unknown = explain_stored(dir.path(), "d2", &NoSymlinks).expect_err("unknown");
        assert!(unknown.to_string().starts_with("no decision `d2` in "));
    }

    #[test]
    fn an_entry_filter_reads_rfc3339_and_names_the_flag_of_a_bad_time() {
        let f = entry_filter(Some("s1"), Some("2026-11-25T09:00:00+01:00"), None).expect("ok");
        assert_eq!(f.session_id.as_deref(), Some("s1"));
        assert_eq!(
            f.since.map(|t| t.text()).as_deref(),
            Some("2026-11-25T08:00:00.000Z")
        );
        assert_eq!((f.until, f.below), (None, None));
        let bad = entry_filter(None, None, Some("yesterday")).expect_err("not a time");
        assert_eq!(bad.flag, "--until");
        assert_eq!(
            bad.to_string(),
            "--until \"yesterday\" is not an RFC 3339 time (for example 2026-11-25T09:00:00Z)"
        );
        assert!(parse_time("2026-13-01T00:00:00Z", "--at").is_err());
    }
}

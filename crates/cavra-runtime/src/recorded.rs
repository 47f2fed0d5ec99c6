//! A recorded decision explained exactly as it was decided: by the pack kept in the store under
//! the digest the record names (checked against that digest), its deciding rule as written,
//! the rules that matched as recorded, and — when the request was recorded without a secret in
//! it — the decision made again from that request under the kept pack, every rule considered,
//! and compared with the record. What cannot be shown exactly is said, never guessed: the pack
//! gone or altered, the record not matching its evidence log entry, a replay that differs.
//!
//! Pure: the caller reads the store and hands the texts in.

use cavra_engine::evaluate::Consideration;
use cavra_engine::{DecisionRecord, Env, PathResolver, Request, RuleMatch};
use cavra_policy::retained::{RuleView, from_canonical, rule_views};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What the store holds about one decision.
#[derive(Debug, Clone, Copy)]
pub struct Recorded<'a> {
    /// The stored record: the engine's record plus, as the hook stores it, `tool_name`,
    /// `tool_input`, `request` and `redactions` (JSON pointers of what was masked).
    pub stored: &'a Value,
    /// The record as the decision's evidence log entry holds it (`body.record`), with whether
    /// the entry still hashes to its leaf; none when the log has no entry for it.
    pub logged: Option<(&'a Value, bool)>,
    /// The pack kept under the record's digest: (origin, canonical JSON); none when gone.
    pub pack: Option<(&'a str, &'a str)>,
    /// The digest of the pack that applies now, when it loads.
    pub current_digest: Option<&'a str>,
}

/// How the kept pack stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PackStatus {
    /// Kept, and its text hashes to the recorded digest.
    Retained,
    /// Kept, but its text does not hash to the recorded digest: it was changed.
    Altered,
    /// Not kept: the store has no pack under that digest.
    Missing,
}

/// The pack that decided.
#[derive(Debug, Clone, Serialize)]
pub struct PackState {
    /// How it stands.
    pub status: PackStatus,
    /// Its id, version and digest, as recorded.
    pub id: String,
    /// Its version.
    pub version: String,
    /// Its digest.
    pub digest: String,
    /// Where it was loaded from when it decided, as kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Whether the pack that applies now is the same one (none: it does not load now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_is_same: Option<bool>,
}

/// Whether the record is the one the evidence log holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceStatus {
    /// The log entry holds the same decision, and the entry hashes to its leaf.
    Matches,
    /// The stored record and the log entry disagree, or the entry no longer hashes to its leaf.
    Differs,
    /// The log has no entry for this decision.
    Absent,
}

/// The decision made again from the recorded request under the kept pack.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Replay {
    /// Made again, with the same rule, decisions, mode and matches as recorded.
    Identical {
        /// How the request was understood, subject by subject.
        subjects: Vec<String>,
        /// Every rule that applied to a subject's action type, and what came of it.
        considered: Vec<Consideration>,
    },
    /// Made again, and it came out otherwise (the files or registry it read changed since).
    Differs {
        /// What differs.
        differences: Vec<String>,
        /// How the request is understood now.
        subjects: Vec<String>,
    },
    /// Not possible; why.
    NotPossible {
        /// Why.
        why: String,
    },
}

/// A recorded decision, explained.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedExplanation {
    /// The decision record explained (the evidence log's when it has one).
    pub record: DecisionRecord,
    /// The pack that decided.
    pub pack: PackState,
    /// The deciding rule as written in the kept pack (none for defaults and built-in rules
    /// the pack does not list, or when the pack is not kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deciding_rule: Option<RuleView>,
    /// Every rule that matched, with the sub-request it matched, as recorded.
    pub matched: Vec<RuleMatch>,
    /// Whether the record is the one its evidence log entry holds.
    pub evidence: EvidenceStatus,
    /// The decision made again.
    pub replay: Replay,
    /// True when everything above is exact: the pack kept and unaltered, the record matching
    /// its log entry, and a replay (when possible) identical.
    pub exact: bool,
    /// What keeps the explanation from being exact.
    pub problems: Vec<String>,
}

/// Why a stored record is not a decision record.
#[derive(Debug, thiserror::Error)]
#[error("the stored record is not a decision record: {0}")]
pub struct NotARecord(String);

/// The fields that make a decision, for comparing two records of it.
fn deciding_fields(r: &DecisionRecord, approved: bool) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("rule", r.rule_id.clone()),
        ("base decision", r.base_decision.as_str().to_string()),
        ("mode", r.mode.as_str().to_string()),
        ("severity", r.severity.as_str().to_string()),
        ("policy digest", r.policy_digest.clone()),
        (
            "matched rules",
            r.matched_rules
                .iter()
                .map(|m| format!("{} {} <- {}", m.rule_id, m.decision.as_str(), m.subject))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    ];
    // An approval turns the recorded decision into an allow; the rule and base stay.
    if !approved {
        fields.push(("decision", r.decision.as_str().to_string()));
    }
    fields
}

fn differences(recorded: &DecisionRecord, other: &DecisionRecord, approved: bool) -> Vec<String> {
    deciding_fields(recorded, approved)
        .into_iter()
        .zip(deciding_fields(other, approved))
        .filter(|(a, b)| a.1 != b.1)
        .map(|(a, b)| format!("{}: recorded `{}`, now `{}`", a.0, a.1, b.1))
        .collect()
}

fn sha256_digest(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// Explains a recorded decision. `resolver` resolves symlinks as the hook did (the replay
/// reads the file system as it is now, which the comparison accounts for).
pub fn explain_recorded(
    recorded: Recorded<'_>,
    resolver: &dyn PathResolver,
) -> Result<RecordedExplanation, NotARecord> {
    let parse = |v: &Value| {
        serde_json::from_value::<DecisionRecord>(v.clone()).map_err(|e| NotARecord(e.to_string()))
    };
    let stored = parse(recorded.stored)?;
    let mut problems = Vec::new();
    let approved = stored
        .evidence_refs
        .iter()
        .any(|r| r.starts_with("approval:"));

    // The evidence log's entry is the tamper-evident copy: it is what gets explained.
    let (record, evidence) = match recorded.logged {
        None => {
            problems.push("the evidence log has no entry for this decision".to_string());
            (stored, EvidenceStatus::Absent)
        }
        Some((logged, intact)) => match parse(logged) {
            Ok(logged_record) => {
                let diff = differences(&logged_record, &stored, false);
                if !intact {
                    problems.push(
                        "the decision's evidence log entry no longer hashes to its leaf: it was changed (run `cavra evidence log verify`)".to_string(),
                    );
                }
                if !diff.is_empty() {
                    problems.push(format!(
                        "the stored record differs from its evidence log entry ({}); the log's is explained",
                        diff.join("; ").replace("recorded", "logged").replace("now", "stored")
                    ));
                }
                let status = if intact && diff.is_empty() {
                    EvidenceStatus::Matches
                } else {
                    EvidenceStatus::Differs
                };
                (logged_record, status)
            }
            Err(e) => {
                problems.push(format!("the evidence log entry cannot be read: {}", e.0));
                (stored, EvidenceStatus::Differs)
            }
        },
    };

    // The pack, by the digest the record names.
    let mut pack_state = PackState {
        status: PackStatus::Missing,
        id: record.policy_pack.clone(),
        version: record.policy_version.clone(),
        digest: record.policy_digest.clone(),
        origin: None,
        current_is_same: recorded.current_digest.map(|d| d == record.policy_digest),
    };
    let mut compiled = None;
    match recorded.pack {
        None => problems.push(format!(
            "the pack that decided ({} {}, {}) is not kept in this store (it was removed, or the API service decided with its own pack); the rule and matches below are as recorded",
            record.policy_pack, record.policy_version, record.policy_digest
        )),
        Some((origin, canonical)) => {
            pack_state.origin = Some(origin.to_string());
            if sha256_digest(canonical) == record.policy_digest {
                pack_state.status = PackStatus::Retained;
                let pack = from_canonical(canonical, origin)
                    .map_err(|e| e.to_string())
                    .and_then(|r| cavra_policy::compile(&r).map_err(|e| e.to_string()));
                match pack {
                    Ok(pack) => compiled = Some(pack),
                    Err(e) => problems.push(format!("the kept pack does not compile: {e}")),
                }
            } else {
                pack_state.status = PackStatus::Altered;
                problems.push(format!(
                    "the pack kept under {} was changed: its text no longer hashes to that digest",
                    record.policy_digest
                ));
            }
        }
    }
    let deciding_rule = compiled
        .as_ref()
        .and_then(|pack| rule_views(pack).remove(&record.rule_id));

    let replay = match (&compiled, recorded.stored.get("request")) {
        (None, _) => Replay::NotPossible {
            why: "the pack that decided is not available unaltered".into(),
        },
        (Some(_), None) => Replay::NotPossible {
            why: "no request was recorded with this decision (an agent rule decided it without the policy's rules, or an older cavra recorded it)".into(),
        },
        (Some(pack), Some(request)) => {
            let masked_request = recorded
                .stored
                .get("redactions")
                .and_then(Value::as_array)
                .is_some_and(|r| {
                    r.iter().any(|f| {
                        f.get("pointer")
                            .and_then(Value::as_str)
                            .is_some_and(|p| p.starts_with("/request"))
                    })
                });
            match serde_json::from_value::<Request>(request.clone()) {
                _ if masked_request => Replay::NotPossible {
                    why: "the request held a secret, masked before it was stored, so it cannot be decided again as it was".into(),
                },
                Err(e) => Replay::NotPossible {
                    why: format!("the recorded request cannot be read: {e}"),
                },
                Ok(request) => {
                    let env = Env {
                        timestamp: &record.timestamp,
                        decision_id: &record.decision_id,
                        resolver,
                    };
                    let again = cavra_engine::explain_with_registry(pack, &request, &env, None);
                    let subjects = again
                        .normalization
                        .subjects
                        .iter()
                        .map(|s| s.describe())
                        .collect();
                    let diff = differences(&record, &again.record, approved);
                    if diff.is_empty() {
                        Replay::Identical {
                            subjects,
                            considered: again.considered,
                        }
                    } else {
                        problems.push(format!(
                            "decided again from the recorded request, it comes out otherwise ({}): what it read (files, links, the MCP registry) changed since",
                            diff.join("; ")
                        ));
                        Replay::Differs {
                            differences: diff,
                            subjects,
                        }
                    }
                }
            }
        }
    };
    let exact = problems.is_empty();
    Ok(RecordedExplanation {
        matched: record.matched_rules.clone(),
        record,
        pack: pack_state,
        deciding_rule,
        evidence,
        replay,
        exact,
        problems,
    })
}

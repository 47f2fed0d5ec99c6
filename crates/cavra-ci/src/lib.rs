//! The CI gate: what changed between two refs, judged by the policy *as it is on the base ref*
//! and bound to verified evidence that governed agent actions produced exactly that content.
//!
//! For every changed path:
//! 1. the change is evaluated as a `write_file` (or `delete_file`) request against the base
//!    ref's policy — a branch cannot loosen the policy that judges it, and a change to the
//!    policy itself is judged like any other protected file;
//! 2. with an evidence bundle (verified first: signature, key status, hashes, Merkle proof),
//!    the path must be covered by a governed write that was allowed and whose recorded
//!    post-write SHA-256 equals the file's content at head. No such write: `bypass`; a write
//!    whose hash differs: `altered after decision`; a write that was blocked or never
//!    approved: `blocked write`.
//!
//! Git is asked through the `git` command; the gate writes nothing to the repository. [`trailer`]
//! links an agent's commits to its session (`Cavra-Session`), which the gate reads back.

#![warn(missing_docs)]

pub mod attest;
pub mod git;
pub mod render;
pub mod trailer;

use std::collections::BTreeMap;
use std::path::Path;

use cavra_bundle::{VerifyOptions, verify_bundle};
use cavra_engine::{ActionType, Decision, NoSymlinks, Request};
use cavra_evidence::trust::TrustRoot;
use serde::Serialize;

pub use git::{Change, ChangeKind};

/// Errors that stop the check before it can judge anything.
#[derive(Debug, thiserror::Error)]
pub enum CiError {
    /// Git failed or said something unexpected.
    #[error("{0}")]
    Git(String),
    /// The base policy cannot be used.
    #[error("the policy on the base ref cannot be used: {0}")]
    Policy(String),
    /// The evidence cannot be read.
    #[error("{0}")]
    Evidence(String),
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The base policy blocks this change.
    PolicyBlock,
    /// The base policy routes this change to a person, and no approval covers it.
    RequiresApproval,
    /// The path changed with no governed write behind it.
    Bypass,
    /// A governed write exists, but the content at head is not what it wrote.
    AlteredAfterDecision,
    /// The only governed writes of this path were blocked or not approved.
    BlockedWrite,
    /// The evidence bundle does not verify.
    EvidenceInvalid,
    /// A commit's `Cavra-Session` trailer names a session the evidence does not hold.
    SessionNotInEvidence,
    /// The base policy requires a PR attestation (`git.require_ai_attestation`) and none
    /// that verifies was given.
    AttestationMissing,
}

impl FindingKind {
    /// The finding's word as reports print it (`bypass`, `altered after decision`, …).
    pub fn label(self) -> &'static str {
        match self {
            FindingKind::PolicyBlock => "blocked by policy",
            FindingKind::RequiresApproval => "requires approval",
            FindingKind::Bypass => "bypass",
            FindingKind::AlteredAfterDecision => "altered after decision",
            FindingKind::BlockedWrite => "blocked write",
            FindingKind::EvidenceInvalid => "evidence invalid",
            FindingKind::SessionNotInEvidence => "session not in evidence",
            FindingKind::AttestationMissing => "attestation missing",
        }
    }
}

/// One problem with the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What kind.
    pub kind: FindingKind,
    /// The changed path (empty for bundle-wide findings).
    pub path: String,
    /// The rule or check that found it.
    pub rule: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

/// How to run the check.
pub struct CheckOptions<'a> {
    /// The repository.
    pub repo: &'a Path,
    /// The base ref (the policy is read here).
    pub base: &'a str,
    /// The head ref.
    pub head: &'a str,
    /// The policy file, relative to the repository root, read at the base ref
    /// (default `.cavra/policy.yaml`; the built-in baseline when the base has none).
    pub policy_path: Option<&'a str>,
    /// The evidence bundle folder.
    pub evidence: Option<&'a Path>,
    /// The trust root the bundle must verify against.
    pub trust: Option<&'a TrustRoot>,
    /// The check's time (for the decision records).
    pub timestamp: &'a str,
    /// Author e-mail addresses whose commits need no evidence: a path every commit of which
    /// is by one of them is exempt from the evidence binding (never from the policy).
    pub exempt_authors: &'a [String],
    /// The PR attestation (DSSE envelope JSON), checked when the base policy requires one.
    pub attestation: Option<&'a str>,
    /// Do not require the attestation (used by `attest` itself, which makes it).
    pub skip_attestation: bool,
}

/// A path the evidence binding did not apply to, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exemption {
    /// The path.
    pub path: String,
    /// The authors of every commit that touched it.
    pub authors: Vec<String>,
    /// The finding it would otherwise have had.
    pub waived: FindingKind,
}

/// One changed path and what was decided about it.
#[derive(Debug, Clone, Serialize)]
pub struct JudgedChange {
    /// The change.
    #[serde(flatten)]
    pub change: Change,
    /// The base policy's decision.
    pub decision: Decision,
    /// The deciding rule.
    pub rule_id: String,
    /// Why.
    pub reason: String,
    /// The content's `sha256:…` at head (none for deletions and submodules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Whether governed evidence covers it.
    pub covered: bool,
}

/// A commit and the sessions it says it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitSessions {
    /// The commit id.
    pub commit: String,
    /// `Cavra-Session` trailer values.
    pub sessions: Vec<String>,
}

/// The whole result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Base commit.
    pub base: String,
    /// Head commit.
    pub head: String,
    /// Where the judging policy came from, and its digest.
    pub policy: String,
    /// `sha256:…` of the judging policy.
    pub policy_digest: String,
    /// Every changed path.
    pub changes: Vec<JudgedChange>,
    /// Everything wrong, in path order.
    pub findings: Vec<Finding>,
    /// Entries in the evidence bundle, when one was given and verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_entries: Option<u64>,
    /// Each commit of the range and the agent sessions its `Cavra-Session` trailers name.
    pub commits: Vec<CommitSessions>,
    /// Paths exempted from the evidence binding by `exempt_authors`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exempted: Vec<Exemption>,
    /// Decisions in the evidence by word.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub evidence_decisions: BTreeMap<String, u64>,
}

impl CheckReport {
    /// True when every check holds.
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }
}

/// A governed write recorded in the evidence: its decision and the content it left.
#[derive(Debug, Clone)]
struct Write {
    decision: String,
    sha256: Option<String>,
}

/// What the binding needs from a verified bundle, read in one pass over its entries.
struct BundleFacts {
    /// The governed writes, by the path they wrote (as recorded: absolute).
    writes: Vec<(String, Write)>,
    /// The agent sessions the entries belong to.
    sessions: std::collections::BTreeSet<String>,
}

fn read_bundle_facts(bundle: &Path) -> Result<BundleFacts, CiError> {
    let text = std::fs::read_to_string(bundle.join(cavra_bundle::files::ENTRIES))
        .map_err(|e| CiError::Evidence(format!("reading the bundle's entries: {e}")))?;
    let mut decisions: BTreeMap<String, String> = BTreeMap::new();
    let mut outcomes = Vec::new();
    let mut sessions = std::collections::BTreeSet::new();
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let body = &entry["body"];
        if let Some(s) = body["session_id"].as_str() {
            sessions.insert(s.to_string());
        }
        match entry["kind"].as_str() {
            Some("decision") => {
                if let (Some(id), Some(d)) =
                    (body["decision_id"].as_str(), body["decision"].as_str())
                {
                    decisions.insert(id.to_string(), d.to_string());
                }
            }
            // A failed tool call wrote nothing.
            Some("outcome") if body["success"].as_bool() != Some(false) => {
                if let Some(path) = body["path"].as_str() {
                    outcomes.push((
                        path.to_string(),
                        body["decision_id"].as_str().map(str::to_string),
                        body["sha256"].as_str().map(str::to_string),
                    ));
                }
            }
            _ => {}
        }
    }
    let writes = outcomes
        .into_iter()
        .map(|(path, decision_id, sha256)| {
            let decision = decision_id
                .and_then(|id| decisions.get(&id).cloned())
                .unwrap_or_else(|| "unknown".into());
            (path, Write { decision, sha256 })
        })
        .collect();
    Ok(BundleFacts { writes, sessions })
}

/// The writes by every path suffix that starts a component (`/r/src/a.rs` → `src/a.rs`,
/// `a.rs`, …), so that a repository-relative path finds the writes recorded under the
/// agent's absolute path in one lookup.
fn index_writes(writes: &[(String, Write)]) -> BTreeMap<&str, Vec<usize>> {
    let mut by_suffix: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (path, _)) in writes.iter().enumerate() {
        by_suffix.entry(path.as_str()).or_default().push(i);
        for (at, _) in path.match_indices('/') {
            let suffix = &path[at + 1..];
            if !suffix.is_empty() {
                by_suffix.entry(suffix).or_default().push(i);
            }
        }
    }
    by_suffix
}

fn may_proceed(word: &str) -> bool {
    matches!(
        word,
        "allow" | "warn" | "audit_only" | "allow_with_attestation"
    )
}

/// Runs the check.
pub fn check(options: &CheckOptions<'_>) -> Result<CheckReport, CiError> {
    let base = git::resolve(options.repo, options.base)?;
    let head = git::resolve(options.repo, options.head)?;
    let policy_path = options.policy_path.unwrap_or(".cavra/policy.yaml");

    // The policy as it is on the base ref. File parents are not read from the working tree
    // (the branch's version): only built-in parents resolve, since relative parents are looked
    // for in a folder that does not exist (a check creates nothing, not even that folder).
    let empty = std::env::temp_dir().join(format!(
        "cavra-ci-no-parents-{}-does-not-exist",
        std::process::id()
    ));
    let (resolved, origin) = match git::file_at(options.repo, &base, policy_path)? {
        Some(text) => {
            let origin = format!("{}:{policy_path}", &base[..12.min(base.len())]);
            (
                cavra_policy::load_pack_str(&text, &origin, &empty)
                    .map_err(|e| CiError::Policy(e.message.clone()))?,
                origin,
            )
        }
        None => (
            cavra_policy::load_pack("cavra-baseline", &empty)
                .map_err(|e| CiError::Policy(e.message.clone()))?,
            "builtin:cavra-baseline (the base ref has no policy)".to_string(),
        ),
    };
    let _ = std::fs::remove_dir(&empty);
    let pack = cavra_policy::compile(&resolved).map_err(|e| CiError::Policy(e.message.clone()))?;

    // cavra's own local state (the store, keys, evidence bundles under `.cavra/evidence/`, the
    // `.gitignore` that keeps them out) is not source: committing it changes no code, and a
    // bundle cannot carry evidence of its own writing.
    let changes: Vec<_> = git::changes(options.repo, &base, &head)?
        .into_iter()
        .filter(|c| !cavra_store::is_local_state(&c.path))
        .collect();
    let blobs: Vec<(usize, String)> = changes
        .iter()
        .enumerate()
        .filter(|(_, c)| c.kind != ChangeKind::Deleted && !c.is_submodule())
        .map(|(i, c)| (i, c.new_blob.clone()))
        .collect();
    let digests = git::blob_digests(
        options.repo,
        &blobs.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>(),
    )?;
    let mut sha_of: BTreeMap<usize, String> = BTreeMap::new();
    for ((i, _), d) in blobs.into_iter().zip(digests) {
        sha_of.insert(i, d);
    }

    let mut findings = Vec::new();
    let mut evidence_entries = None;
    let mut evidence_decisions = BTreeMap::new();
    let facts = match (options.evidence, options.trust) {
        (Some(dir), Some(trust)) => {
            let report = verify_bundle(dir, trust, &VerifyOptions::default());
            if report.ok() {
                evidence_entries = Some(report.entries);
                evidence_decisions = report.decisions.clone();
                Some(read_bundle_facts(dir)?)
            } else {
                for f in &report.failures {
                    findings.push(Finding {
                        kind: FindingKind::EvidenceInvalid,
                        path: String::new(),
                        rule: "evidence.verify".into(),
                        message: f.clone(),
                        fix: "produce the bundle with `cavra evidence bundle` from the agent's session and sign it with a trusted key".into(),
                    });
                }
                None
            }
        }
        (Some(_), None) => {
            return Err(CiError::Evidence(
                "--evidence needs --trust-root: a bundle is only evidence once its signature is checked".into(),
            ));
        }
        _ => None,
    };

    let writes = facts.as_ref().map(|f| f.writes.as_slice());
    let by_suffix = writes.map(index_writes).unwrap_or_default();
    let repo_root = options.repo.to_string_lossy().into_owned();
    let mut judged = Vec::new();
    for (i, change) in changes.into_iter().enumerate() {
        let action = if change.kind == ChangeKind::Deleted {
            ActionType::DeleteFile
        } else {
            ActionType::WriteFile
        };
        let mut request = Request::new(action, change.path.clone());
        request.repo_root = Some(repo_root.clone());
        request.cwd = Some(repo_root.clone());
        let record = cavra_runtime::decide::decide_one(
            &pack,
            &request,
            None,
            options.timestamp,
            "ci-check",
            &NoSymlinks,
        );
        match record.decision {
            Decision::Block => findings.push(Finding {
                kind: FindingKind::PolicyBlock,
                path: change.path.clone(),
                rule: record.rule_id.clone(),
                message: record.reason.clone(),
                fix: if record.rule_id.starts_with("cavra.") {
                    // A built-in guard: no pack allows an agent this change, so a person
                    // makes it and the gate is passed by the repository's own review.
                    "an agent may never make this change (a built-in guard); a person makes it and merges it past this check through the repository's review".into()
                } else {
                    "revert this change; the base branch's policy does not allow it".into()
                },
            }),
            Decision::RequireApproval => findings.push(Finding {
                kind: FindingKind::RequiresApproval,
                path: change.path.clone(),
                rule: record.rule_id.clone(),
                message: format!(
                    "{} (approver group: {})",
                    record.reason,
                    record.approver_group.as_deref().unwrap_or("Repository Owners")
                ),
                fix: "get the change approved through cavra (an approved, governed write in the evidence covers it)".into(),
            }),
            _ => {}
        }
        // Renamed files also removed their old path; the new content is what is bound.
        let sha256 = sha_of.get(&i).cloned();
        let mut covered = false;
        if let Some(writes) = &writes {
            let mine: Vec<&Write> = by_suffix
                .get(change.path.as_str())
                .map(|ids| ids.iter().map(|&i| &writes[i].1).collect())
                .unwrap_or_default();
            if change.kind == ChangeKind::Deleted || change.is_submodule() {
                // A deletion or a submodule bump leaves no content to bind: it counts as
                // governed only through an allowed decision about that path.
                covered = !mine.is_empty() && mine.iter().any(|w| may_proceed(&w.decision));
            } else if let Some(sha) = &sha256 {
                let allowed: Vec<&&Write> =
                    mine.iter().filter(|w| may_proceed(&w.decision)).collect();
                covered = allowed.iter().any(|w| w.sha256.as_deref() == Some(sha));
                if !covered {
                    let (kind, message, fix) = if !allowed.is_empty() {
                        (
                            FindingKind::AlteredAfterDecision,
                            format!(
                                "the content at head ({sha}) is not what the governed write left ({})",
                                allowed
                                    .iter()
                                    .filter_map(|w| w.sha256.as_deref())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            "make the change through the agent (governed), or revert the edit made after the decision",
                        )
                    } else if !mine.is_empty() {
                        (
                            FindingKind::BlockedWrite,
                            format!(
                                "the governed write of this path was {}",
                                mine.iter()
                                    .map(|w| w.decision.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            "revert the change, or get it approved through cavra",
                        )
                    } else {
                        (
                            FindingKind::Bypass,
                            "changed outside governed actions: no evidence of a governed write of this path".into(),
                            "make the change through a governed agent session, or have it approved",
                        )
                    };
                    findings.push(Finding {
                        kind,
                        path: change.path.clone(),
                        rule: "evidence.binding".into(),
                        message,
                        fix: fix.into(),
                    });
                }
            }
            if !covered && (change.kind == ChangeKind::Deleted || change.is_submodule()) {
                findings.push(Finding {
                    kind: FindingKind::Bypass,
                    path: change.path.clone(),
                    rule: "evidence.binding".into(),
                    message:
                        "changed outside governed actions: no allowed governed action on this path"
                            .into(),
                    fix: "make the change through a governed agent session, or have it approved"
                        .into(),
                });
            }
        } else if options.evidence.is_none() {
            findings.push(Finding {
                kind: FindingKind::Bypass,
                path: change.path.clone(),
                rule: "evidence.binding".into(),
                message: "no evidence bundle was given, so nothing shows this change was governed"
                    .into(),
                fix: "pass the session's bundle with --evidence DIR --trust-root FILE".into(),
            });
        }
        judged.push(JudgedChange {
            change,
            decision: record.decision,
            rule_id: record.rule_id,
            reason: record.reason,
            sha256,
            covered,
        });
    }
    // Commits link to sessions through their trailers; a session the evidence lacks is a
    // finding when evidence was given.
    let commits: Vec<CommitSessions> = git::session_trailers(options.repo, &base, &head)?
        .into_iter()
        .map(|(commit, sessions)| CommitSessions { commit, sessions })
        .collect();
    if let Some(facts) = &facts {
        let held = &facts.sessions;
        for c in &commits {
            for s in &c.sessions {
                if !held.contains(s) {
                    findings.push(Finding {
                        kind: FindingKind::SessionNotInEvidence,
                        path: String::new(),
                        rule: "evidence.sessions".into(),
                        message: format!(
                            "commit {} says it came from agent session {s}, which the evidence does not hold",
                            &c.commit[..12.min(c.commit.len())]
                        ),
                        fix: format!("bundle that session too: cavra evidence bundle --session {s} …"),
                    });
                }
            }
        }
    }
    // The PR attestation, when the base policy asks for one.
    if pack.require_ai_attestation && !options.skip_attestation {
        let problem = match (options.attestation, options.trust) {
            (None, _) => Some("the base policy requires a PR attestation (git.require_ai_attestation) and none was given".to_string()),
            (Some(_), None) => Some("an attestation is only checked against a trust root; give --trust-root".to_string()),
            (Some(text), Some(trust)) => match cavra_evidence::dsse::Envelope::from_json(text) {
                Err(e) => Some(format!("the attestation is unreadable: {e}")),
                Ok(env) => attest::verify_attestation(&env, trust, options.repo, &head, options.evidence)
                    .err()
                    .map(|e| format!("the attestation does not hold: {e}")),
            },
        };
        if let Some(message) = problem {
            findings.push(Finding {
                kind: FindingKind::AttestationMissing,
                path: String::new(),
                rule: "git.pull_request.require_ai_attestation".into(),
                message,
                fix: "attest the change with `cavra ci attest` (a trusted key) and pass it with --attestation".into(),
            });
        }
    }
    // Exemptions by author: only the evidence binding is waived, and only for paths whose
    // every commit is by an exempt author.
    let mut exempted = Vec::new();
    if !options.exempt_authors.is_empty() {
        let exempt: std::collections::BTreeSet<String> = options
            .exempt_authors
            .iter()
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        let authors = git::authors_by_path(options.repo, &base, &head)?;
        findings.retain(|f| {
            let binding = matches!(
                f.kind,
                FindingKind::Bypass | FindingKind::AlteredAfterDecision | FindingKind::BlockedWrite
            );
            let by = authors.get(&f.path);
            let waived = binding && by.is_some_and(|a| !a.is_empty() && a.is_subset(&exempt));
            if waived {
                exempted.push(Exemption {
                    path: f.path.clone(),
                    authors: by.map(|a| a.iter().cloned().collect()).unwrap_or_default(),
                    waived: f.kind,
                });
            }
            !waived
        });
    }
    findings.sort_by(|a, b| (a.path.as_str(), a.kind).cmp(&(b.path.as_str(), b.kind)));
    Ok(CheckReport {
        base,
        head,
        policy: origin,
        policy_digest: pack.digest.clone(),
        changes: judged,
        findings,
        commits,
        exempted,
        evidence_entries,
        evidence_decisions,
    })
}

#[cfg(test)]
mod tests;

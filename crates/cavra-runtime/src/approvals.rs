//! Approvals bound to their exact context, and the one step that applies them to a decision.
//!
//! An approval unlocks the decision it was asked for and nothing else: the same action (the
//! request's normalised [`Request::fingerprint`]) in the same environment, branch, repository,
//! for the same actor and tenant, decided by the same rule of the same pack, approved by that
//! rule's approver group. [`approval_fingerprint`] folds all of it into the key an approval is
//! stored and looked up under, so a change to any of them finds no grant; [`resolve`] checks the
//! group once more when a grant is about to be used.

use cavra_engine::{Decision, DecisionRecord, Request};
use cavra_store::{ApprovalState, GrantUse, NewApproval, TimeError, Timestamp, Transition};

/// The key an approval is stored under: the normalised action plus every part of the context
/// it was granted in (environment, branch, repository, actor, tenant), the rule that asked for
/// it, the digest of the pack that rule came from and the approver group it was routed to.
pub fn approval_fingerprint(request: &Request, record: &DecisionRecord, group: &str) -> String {
    use sha2::{Digest, Sha256};
    let parts = serde_json::json!({
        "action": request.fingerprint(),
        "environment": request.environment,
        "branch": request.branch,
        "repository": request.repository,
        "actor": request.actor,
        "tenant": request.tenant,
        "rule_id": record.rule_id,
        "policy_digest": record.policy_digest,
        "approver_group": group,
    });
    let digest = Sha256::digest(parts.to_string().as_bytes());
    format!("sha256:{}", hex::encode(digest))
}

/// The state of an approval, as far as deciding is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantState {
    /// Asked for, not decided yet.
    Pending,
    /// Approved by a person of its group; usable once.
    Approved,
    /// Granted by break glass; usable once.
    BreakGlass,
    /// Denied.
    Denied,
}

impl GrantState {
    /// A stored approval's state as far as deciding is concerned: `None` for one that decides
    /// nothing any more (expired, or a once-use grant already used). Both stores keep the same
    /// states, so the service and the local store read them alike.
    pub fn of(state: cavra_store::ApprovalState) -> Option<Self> {
        use cavra_store::ApprovalState as S;
        match state {
            S::Pending => Some(GrantState::Pending),
            S::Approved => Some(GrantState::Approved),
            S::BreakGlass => Some(GrantState::BreakGlass),
            S::Denied => Some(GrantState::Denied),
            S::Expired | S::Consumed => None,
        }
    }
}

/// What the store found for a decision's approval fingerprint (unexpired, not used up).
#[derive(Debug, Clone, Copy)]
pub struct Found<'a> {
    /// The approval's id.
    pub id: &'a str,
    /// Its state.
    pub state: GrantState,
    /// The group it was routed to (and whose member decided it).
    pub approver_group: &'a str,
    /// Who decided it.
    pub decided_by: Option<&'a str>,
    /// Why.
    pub reason: Option<&'a str>,
}

/// What an approval does to a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The decision needs no approval.
    NotNeeded,
    /// A grant applies: the record now allows, and the caller marks the grant used.
    Use {
        /// The grant.
        id: String,
    },
    /// The approval was denied: the record now blocks.
    Denied {
        /// The approval.
        id: String,
    },
    /// An approval is pending: the agent waits for it.
    Pending {
        /// The approval.
        id: String,
    },
    /// No approval yet: the caller asks for one, for this group.
    Ask {
        /// The approver group.
        group: String,
    },
}

/// Applies what the store found (if anything) to a decision that may need approval, and says
/// what the caller must do. `group` is the approver group the deciding rule routes to now; a
/// grant decided for another group is not used (it is left as it is, and a new approval is
/// asked for).
pub fn resolve(record: &mut DecisionRecord, found: Option<Found<'_>>, group: &str) -> Resolution {
    if record.decision != Decision::RequireApproval {
        return Resolution::NotNeeded;
    }
    record.approver_group = Some(group.to_string());
    let Some(found) = found.filter(|f| f.approver_group == group) else {
        return Resolution::Ask {
            group: group.to_string(),
        };
    };
    let who = found.decided_by.unwrap_or_default();
    let why = found.reason.unwrap_or_default();
    match found.state {
        GrantState::Approved | GrantState::BreakGlass => {
            let how = if found.state == GrantState::BreakGlass {
                "break glass"
            } else {
                "approved once"
            };
            record.allow_by_approval(how, found.id, who, why);
            Resolution::Use {
                id: found.id.to_string(),
            }
        }
        GrantState::Denied => {
            record.reason = format!(
                "{} [approval {} was denied by {who}: {why}]",
                record.reason, found.id
            );
            record.decision = Decision::Block;
            record.evidence_refs.push(format!("approval:{}", found.id));
            Resolution::Denied {
                id: found.id.to_string(),
            }
        }
        GrantState::Pending => {
            record.evidence_refs.push(format!("approval:{}", found.id));
            Resolution::Pending {
                id: found.id.to_string(),
            }
        }
    }
}

/// Who asks for an approval, and what the approver reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asker {
    /// The agent session.
    pub session_id: Option<String>,
    /// The requester (the authenticated caller, or `agent:session` locally): only they can
    /// use the grant, and they can never decide it.
    pub requested_by: String,
    /// What is asked for, redacted (`execute_command: make deploy`, [`crate::decide::summary`]).
    pub summary: String,
}

/// The terms of the approval [`Resolution::Ask`] asks for, at `now` and open for `ttl`: a new
/// id, the decision it is for, the action's `fingerprint`, the approver `group` the policy
/// routes it to, who asks. Pure: the repository's store and the service's store both write
/// exactly these (the caller notes the id in the record with [`note_new`]). Refused only
/// when the expiry is past the years a [`Timestamp`] holds.
pub fn ask_terms(
    record: &DecisionRecord,
    group: String,
    fingerprint: String,
    asker: Asker,
    now: Timestamp,
    ttl: time::Duration,
) -> Result<NewApproval, TimeError> {
    let expires_at = now
        .checked_add(ttl)
        .ok_or_else(|| TimeError::new(format!("{now} + {ttl} is not a time the stores hold")))?;
    Ok(NewApproval {
        id: cavra_store::new_approval_id(),
        decision_id: record.decision_id.clone(),
        fingerprint,
        session_id: asker.session_id,
        approver_group: group,
        requested_by: asker.requested_by,
        summary: asker.summary,
        requested_at: now,
        expires_at,
    })
}

/// Where a new approval is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Of the approver group (the service, and the repository's headless runs).
    Approver,
    /// Of the person at the agent's own permission prompt (the repository's ask mode).
    AgentPrompt {
        /// The agent's id of the tool call.
        tool_use_id: Option<String>,
    },
}

/// What the store writes with a decision for its settled approval step, for either store:
/// the grant it uses (by `requested_by`), the approval it asks for (noted in `record`, on
/// `route`), or nothing (pending, denied, none needed or asked).
pub fn approval_write<G>(
    record: &mut DecisionRecord,
    settled: &Settled<cavra_store::Approval<G>>,
    requested_by: &str,
    route: Route,
) -> cavra_store::ApprovalWrite {
    use cavra_store::ApprovalWrite;
    match settled {
        Settled::Use(a) => ApprovalWrite::Use {
            id: a.id.clone(),
            requested_by: requested_by.to_string(),
        },
        Settled::Ask(terms) => {
            note_new(record, &terms.id);
            match route {
                Route::Approver => ApprovalWrite::Ask(terms.clone()),
                Route::AgentPrompt { tool_use_id } => ApprovalWrite::AskAtPrompt {
                    approval: terms.clone(),
                    tool_use_id,
                },
            }
        }
        Settled::Denied(_) | Settled::Pending(_) | Settled::Unasked | Settled::NotNeeded => {
            ApprovalWrite::None
        }
    }
}

/// Notes a newly asked-for approval in the record.
pub fn note_new(record: &mut DecisionRecord, id: &str) {
    record.evidence_refs.push(format!("approval:{id}"));
}

/// What [`settle`] found for a decision that needs approval, and what the store is to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled<A> {
    /// A grant for exactly this context applies: the record now allows. Both stores mark it
    /// used in the decision's own write ([`cavra_store::ApprovalWrite::Use`]).
    Use(A),
    /// The approval was denied: the record now blocks.
    Denied(A),
    /// An approval is pending (or granted to another request): the agent waits.
    Pending(A),
    /// None applies; the store writes this new approval with the decision, and the caller
    /// notes in the record the id of the one written ([`note_new`]: the agent's prompt may
    /// already have one for the same tool call).
    Ask(NewApproval),
    /// None applies and none is asked for (no `ttl` was given); the record's decision
    /// stands.
    Unasked,
    /// The record's decision needs no approval.
    NotNeeded,
}

/// The approval step after the engine, written once for both stores: the approval bound to
/// the decision's full context ([`approval_fingerprint`] of `request`, `record` and the routed
/// `group`) looked up in `book` for `asker`, applied to the record by [`resolve`], and, when
/// none applies and `ttl` is given, the terms of a new one ([`ask_terms`], open for `ttl` from
/// `now`; None: none is asked for). Returns the fingerprint and what the store is to write.
pub async fn settle<B: cavra_store::DecisionBook>(
    book: &mut B,
    request: &Request,
    record: &mut DecisionRecord,
    group: &str,
    asker: Asker,
    now: Timestamp,
    ttl: Option<time::Duration>,
) -> Result<(String, Settled<cavra_store::Approval<B::Granted>>), cavra_store::StoreError> {
    use cavra_store::Decisive;
    let fingerprint = approval_fingerprint(request, record, group);
    if record.decision != Decision::RequireApproval {
        return Ok((fingerprint, Settled::NotNeeded));
    }
    let found = book
        .decisive_approval(&fingerprint, &asker.requested_by, now)
        .await?;
    let state = found.as_ref().and_then(|f| match f {
        Decisive::Grant(a) if a.state == ApprovalState::BreakGlass => Some(GrantState::BreakGlass),
        Decisive::Grant(_) => Some(GrantState::Approved),
        Decisive::Open(a) => match a.state {
            ApprovalState::Denied => Some(GrantState::Denied),
            ApprovalState::Expired | ApprovalState::Consumed => None,
            _ => Some(GrantState::Pending),
        },
    });
    let view = match (&found, state) {
        (Some(f), Some(state)) => {
            let a = f.approval();
            Some(Found {
                id: &a.id,
                state,
                approver_group: &a.approver_group,
                decided_by: a.decided_by.as_deref(),
                reason: a.reason.as_deref(),
            })
        }
        _ => None,
    };
    let settled = match resolve(record, view, group) {
        Resolution::NotNeeded => Settled::NotNeeded,
        Resolution::Use { .. } => {
            found.map_or(Settled::Unasked, |f| Settled::Use(f.into_approval()))
        }
        Resolution::Denied { .. } => {
            found.map_or(Settled::Unasked, |f| Settled::Denied(f.into_approval()))
        }
        Resolution::Pending { .. } => {
            found.map_or(Settled::Unasked, |f| Settled::Pending(f.into_approval()))
        }
        Resolution::Ask { group } if let Some(ttl) = ttl => {
            let terms = ask_terms(record, group, fingerprint.clone(), asker, now, ttl)
                .map_err(|e| cavra_store::StoreError::Time(e.to_string()))?;
            Settled::Ask(terms)
        }
        Resolution::Ask { .. } => Settled::Unasked,
    };
    Ok((fingerprint, settled))
}

/// What a person does to an approval the service keeps: the steps of its approve, deny,
/// expire and break-glass routes, of a chat button press and of the console. [`transition`]
/// turns one into the store's compare-and-set terms; [`refusal`] reads what the store found
/// when it refused them. The caller keeps only the checks of who it is (roles, groups) and
/// the database calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Approve a pending approval, unlocking one retry or every retry until expiry.
    Approve(GrantUse),
    /// Deny a pending approval.
    Deny,
    /// End a request or a grant now (pending, approved or break-glass).
    Expire,
    /// Grant a pending or denied approval at once, for this many minutes (see
    /// [`break_glass_minutes`]), usable once.
    BreakGlass {
        /// How long the grant lasts.
        minutes: u64,
    },
}

impl Step {
    /// The states an approval may leave by this step.
    pub fn from(self) -> &'static [ApprovalState] {
        match self {
            Step::Approve(_) | Step::Deny => &[ApprovalState::Pending],
            Step::Expire => &[
                ApprovalState::Pending,
                ApprovalState::Approved,
                ApprovalState::BreakGlass,
            ],
            Step::BreakGlass { .. } => &[ApprovalState::Pending, ApprovalState::Denied],
        }
    }

    /// The state it enters.
    pub fn to(self) -> ApprovalState {
        match self {
            Step::Approve(_) => ApprovalState::Approved,
            Step::Deny => ApprovalState::Denied,
            Step::Expire => ApprovalState::Expired,
            Step::BreakGlass { .. } => ApprovalState::BreakGlass,
        }
    }

    /// The past participle messages use (`it can no longer be approved`).
    pub fn done(self) -> &'static str {
        match self {
            Step::Approve(_) => "approved",
            Step::Deny => "denied",
            Step::Expire => "expired",
            Step::BreakGlass { .. } => "broken open",
        }
    }

    /// Whether the one who asked for an approval in `state` is refused this step: nobody
    /// decides their own request while it can still take the step. Expiring is not deciding:
    /// a requester may withdraw their own request.
    pub fn refuses_requester(self, state: ApprovalState) -> bool {
        self != Step::Expire && self.from().contains(&state)
    }
}

/// The minutes a break-glass grant lasts: `asked`, or the service's maximum `max` up to 15
/// when none is asked for; an error (for the person) outside 1 to `max`.
pub fn break_glass_minutes(asked: Option<u64>, max: u64) -> Result<u64, String> {
    let minutes = asked.unwrap_or(max.min(15));
    if minutes == 0 || minutes > max {
        return Err(format!("break glass lasts 1 to {max} minutes"));
    }
    Ok(minutes)
}

/// The store's terms for `step` taken by `actor` for `reason` at `now`: which states it may
/// leave, the state it enters, the history line, the grant; a decision (approve, deny, break
/// glass) is refused to the requester and after expiry, in the store's own condition so that
/// a request decided or expired elsewhere in the meantime does not move.
pub fn transition(
    step: Step,
    actor: &str,
    reason: &str,
    now: time::OffsetDateTime,
) -> Result<Transition, cavra_store::StoreError> {
    let at = cavra_store::stamp(now)?;
    let decides = step != Step::Expire;
    let (reason, expires_at, grant) = match step {
        Step::Approve(grant) => (reason.to_string(), None, Some(grant)),
        Step::Deny => (reason.to_string(), None, None),
        Step::Expire => (reason.to_string(), Some(at), None),
        Step::BreakGlass { minutes } => {
            let minutes = i64::try_from(minutes)
                .map_err(|_| cavra_store::StoreError::Time(format!("{minutes} minutes")))?;
            let until = cavra_store::stamp(now + time::Duration::minutes(minutes))?;
            (
                format!("BREAK GLASS: {reason}"),
                Some(until),
                Some(GrantUse::Once),
            )
        }
    };
    Ok(Transition {
        to: step.to(),
        from: step.from().to_vec(),
        actor: actor.to_string(),
        reason: Some(reason),
        at,
        expires_at,
        grant,
        not_requested_by: decides.then(|| actor.to_string()),
        unexpired_at: decides.then_some(at),
    })
}

/// Why the store refused a [`transition`], read from the approval as it found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The caller asked for it and it could still take the step: nobody decides their own
    /// request.
    OwnRequest,
    /// It expired (at this time) while it could still have been used or decided.
    Expired(Timestamp),
    /// It is in a state the step cannot leave.
    State(ApprovalState),
}

impl Refusal {
    /// What the person reads, for the approval `id` and the refused `step`.
    pub fn message(&self, id: &str, step: Step) -> String {
        let done = step.done();
        match self {
            Refusal::OwnRequest => "nobody decides their own request".to_string(),
            Refusal::Expired(at) => {
                format!("approval {id} expired at {at}; it can no longer be {done}")
            }
            Refusal::State(state) => {
                format!("approval {id} is {state}; it can no longer be {done}")
            }
        }
    }
}

/// Why `step` by `caller` at `now` (the store's text form) was refused, given the approval
/// as the store found it: its `state`, who asked for it and when it expires.
pub fn refusal(
    step: Step,
    state: ApprovalState,
    requested_by: &str,
    expires_at: Timestamp,
    caller: &str,
    now: Timestamp,
) -> Refusal {
    if requested_by == caller && step.refuses_requester(state) {
        Refusal::OwnRequest
    } else if expires_at <= now
        && matches!(
            state,
            ApprovalState::Pending | ApprovalState::Approved | ApprovalState::BreakGlass
        )
    {
        Refusal::Expired(expires_at)
    } else {
        Refusal::State(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cavra_engine::{ActionType, CompiledPack, Env, NoSymlinks};
    use proptest::prelude::*;
    use std::collections::HashMap;

    const PACK: &str = r#"
metadata: {id: envs, version: "1"}
rules:
  - id: deploy.dev
    action: execute_command
    commands: ["make deploy*"]
    when: {environment: [dev]}
    decision: require_approval
    approver_group: Repository Owners
  - id: deploy.prod
    action: execute_command
    commands: ["make deploy*"]
    when: {environment: [prod]}
    decision: require_approval
    approver_group: Platform Security
"#;

    fn pack() -> CompiledPack {
        let resolved = cavra_policy::load_pack_str(PACK, "<test>", std::path::Path::new("."))
            .expect("pack loads");
        cavra_policy::compile(&resolved).expect("pack compiles")
    }

    fn decided(pack: &CompiledPack, request: &Request) -> DecisionRecord {
        let env = Env {
            timestamp: "2026-01-01T00:00:00Z",
            decision_id: "d",
            resolver: &NoSymlinks,
        };
        cavra_engine::evaluate(pack, request, &env)
    }

    fn base() -> Request {
        let mut r = Request::new(ActionType::ExecuteCommand, "make deploy");
        r.environment = Some("dev".into());
        r.branch = Some("feature/x".into());
        r.repository = Some("acme/app".into());
        r.actor = Some("bot".into());
        r.tenant = Some("acme".into());
        r.repo_root = Some("/r".into());
        r
    }

    /// A store of grants keyed by fingerprint, as the real stores are.
    fn grant_for(pack: &CompiledPack, request: &Request) -> HashMap<String, String> {
        let record = decided(pack, request);
        let group = record.approver_group.clone().unwrap_or_default();
        HashMap::from([(approval_fingerprint(request, &record, &group), group)])
    }

    /// Whether the grant stored for `granted` is used by a decision about `asked`.
    fn usable(pack: &CompiledPack, grants: &HashMap<String, String>, asked: &Request) -> bool {
        let mut record = decided(pack, asked);
        let group = record.approver_group.clone().unwrap_or_default();
        let key = approval_fingerprint(asked, &record, &group);
        let found = grants.get(&key).map(|g| Found {
            id: "apr_1",
            state: GrantState::Approved,
            approver_group: g,
            decided_by: Some("alice"),
            reason: Some("ok"),
        });
        matches!(resolve(&mut record, found, &group), Resolution::Use { .. })
    }

    #[test]
    fn a_dev_approval_never_allows_prod() {
        let pack = pack();
        let grants = grant_for(&pack, &base());
        assert!(usable(&pack, &grants, &base()));
        let mut prod = base();
        prod.environment = Some("prod".into());
        assert_eq!(decided(&pack, &prod).rule_id, "deploy.prod");
        assert!(!usable(&pack, &grants, &prod));
    }

    #[test]
    fn a_grant_of_another_group_is_not_used() {
        let pack = pack();
        let request = base();
        let mut record = decided(&pack, &request);
        let found = Found {
            id: "apr_1",
            state: GrantState::Approved,
            approver_group: "Repository Owners",
            decided_by: Some("alice"),
            reason: Some("ok"),
        };
        assert_eq!(
            resolve(&mut record, Some(found), "Platform Security"),
            Resolution::Ask {
                group: "Platform Security".into()
            }
        );
        assert_eq!(record.decision, Decision::RequireApproval);
    }

    #[test]
    fn resolution_states() {
        let pack = pack();
        let request = base();
        let group = "Repository Owners";
        let found = |state| Found {
            id: "apr_1",
            state,
            approver_group: group,
            decided_by: Some("alice"),
            reason: Some("why"),
        };
        let mut r = decided(&pack, &request);
        assert_eq!(
            resolve(&mut r, Some(found(GrantState::Denied)), group),
            Resolution::Denied { id: "apr_1".into() }
        );
        assert_eq!(r.decision, Decision::Block);
        let mut r = decided(&pack, &request);
        assert_eq!(
            resolve(&mut r, Some(found(GrantState::Pending)), group),
            Resolution::Pending { id: "apr_1".into() }
        );
        assert_eq!(r.decision, Decision::RequireApproval);
        let mut r = decided(&pack, &request);
        assert!(matches!(
            resolve(&mut r, Some(found(GrantState::BreakGlass)), group),
            Resolution::Use { .. }
        ));
        assert_eq!(r.decision, Decision::Allow);
        let mut allowed = decided(&pack, &Request::new(ActionType::ReadFile, "x"));
        assert_eq!(
            resolve(&mut allowed, Some(found(GrantState::Approved)), group),
            Resolution::NotNeeded
        );
    }

    #[test]
    fn the_terms_of_an_ask_are_what_both_stores_write() {
        let pack = pack();
        let mut record = decided(&pack, &base());
        let now = Timestamp::parse("2026-03-01T12:00:00.000Z").expect("time");
        let summary = crate::decide::summary(pack.redactor(), &record);
        let asker = || Asker {
            session_id: Some("s1".into()),
            requested_by: "agent-1".into(),
            summary: summary.clone(),
        };
        let asked = ask_terms(
            &record,
            "Repository Owners".into(),
            "fp".into(),
            asker(),
            now,
            time::Duration::minutes(30),
        )
        .expect("terms");
        assert!(asked.id.starts_with("apr_"), "{}", asked.id);
        assert_eq!(asked.decision_id, record.decision_id);
        assert_eq!(asked.approver_group, "Repository Owners");
        assert_eq!(asked.fingerprint, "fp");
        assert_eq!(asked.session_id.as_deref(), Some("s1"));
        assert_eq!(asked.requested_by, "agent-1");
        assert_eq!(asked.summary, "execute_command: make deploy");
        assert_eq!(asked.requested_at, now);
        assert_eq!(asked.expires_at, "2026-03-01T12:30:00.000Z");
        let again = ask_terms(
            &record,
            "g".into(),
            "fp".into(),
            asker(),
            now,
            time::Duration::ZERO,
        )
        .expect("terms");
        assert_ne!(again.id, asked.id, "every ask has an id of its own");
        // Pure: the record is noted by the caller, once.
        assert!(record.evidence_refs.is_empty());
        note_new(&mut record, &asked.id);
        assert_eq!(record.evidence_refs, [format!("approval:{}", asked.id)]);
        // An expiry the stores cannot hold is refused, not wrapped.
        let late = Timestamp::parse("9999-12-31T23:00:00.000Z").expect("time");
        assert!(
            ask_terms(
                &record,
                "g".into(),
                "fp".into(),
                asker(),
                late,
                time::Duration::hours(2)
            )
            .is_err()
        );
    }

    fn field() -> impl Strategy<Value = Option<String>> {
        prop_oneof![Just(None), "[a-z/]{1,8}".prop_map(Some)]
    }

    proptest! {
        /// Changing any context field of an approved request makes the grant unusable.
        #[test]
        fn any_changed_context_field_makes_the_grant_unusable(
            which in 0usize..7,
            value in field(),
        ) {
            let pack = pack();
            let granted = base();
            let grants = grant_for(&pack, &granted);
            let mut asked = granted.clone();
            match which {
                0 => asked.environment = value.clone(),
                1 => asked.branch = value.clone(),
                2 => asked.repository = value.clone(),
                3 => asked.actor = value.clone(),
                4 => asked.tenant = value.clone(),
                5 => asked.target = format!("make deploy -{}", value.clone().unwrap_or_default()),
                _ => asked.cwd = value.clone().map(|v| format!("/r/{v}")),
            }
            prop_assume!(asked != granted);
            prop_assert!(!usable(&pack, &grants, &asked));
        }

        /// One resolution step for every state a store can hold: a grant allows (and is used),
        /// a denial blocks, a pending approval waits, a grant of another group or none at all
        /// asks; a decision that needs no approval is left exactly as it was.
        #[test]
        fn resolution_follows_the_stored_state_and_group(
            state in prop::sample::select(vec![
                cavra_store::ApprovalState::Pending,
                cavra_store::ApprovalState::Approved,
                cavra_store::ApprovalState::BreakGlass,
                cavra_store::ApprovalState::Denied,
                cavra_store::ApprovalState::Expired,
                cavra_store::ApprovalState::Consumed,
            ]),
            found_at_all in any::<bool>(),
            same_group in any::<bool>(),
            needs_approval in any::<bool>(),
        ) {
            let pack = pack();
            let request = if needs_approval {
                base()
            } else {
                Request::new(ActionType::ReadFile, "README.md")
            };
            let mut record = decided(&pack, &request);
            let before = record.clone();
            let group = "Repository Owners";
            let stored_group = if same_group { group } else { "Someone Else" };
            let found = GrantState::of(state).filter(|_| found_at_all).map(|s| Found {
                id: "apr_1",
                state: s,
                approver_group: stored_group,
                decided_by: Some("alice"),
                reason: Some("why"),
            });
            let resolution = resolve(&mut record, found, group);
            if !needs_approval {
                prop_assert_eq!(resolution, Resolution::NotNeeded);
                prop_assert_eq!(record, before);
                return Ok(());
            }
            prop_assert_eq!(record.approver_group.as_deref(), Some(group));
            let applies = found.is_some() && same_group;
            let noted = record.evidence_refs.iter().any(|r| r == "approval:apr_1");
            match (applies, found.map(|f| f.state)) {
                (true, Some(GrantState::Approved | GrantState::BreakGlass)) => {
                    prop_assert_eq!(resolution, Resolution::Use { id: "apr_1".into() });
                    prop_assert_eq!(record.decision, Decision::Allow);
                    prop_assert!(noted);
                }
                (true, Some(GrantState::Denied)) => {
                    prop_assert_eq!(resolution, Resolution::Denied { id: "apr_1".into() });
                    prop_assert_eq!(record.decision, Decision::Block);
                    prop_assert!(noted);
                }
                (true, Some(GrantState::Pending)) => {
                    prop_assert_eq!(resolution, Resolution::Pending { id: "apr_1".into() });
                    prop_assert_eq!(record.decision, Decision::RequireApproval);
                    prop_assert!(noted);
                }
                _ => {
                    prop_assert_eq!(resolution, Resolution::Ask { group: group.into() });
                    prop_assert_eq!(record.decision, Decision::RequireApproval);
                    prop_assert!(!noted);
                }
            }
        }

        /// The same request in the same context always finds its grant.
        #[test]
        fn the_same_context_finds_its_grant(branch in field()) {
            let pack = pack();
            let mut granted = base();
            granted.branch = branch;
            let grants = grant_for(&pack, &granted);
            prop_assert!(usable(&pack, &grants, &granted.clone()));
        }
    }

    const NOW: time::OffsetDateTime = time::macros::datetime!(2026-06-01 12:00 UTC);
    const STEPS: [Step; 5] = [
        Step::Approve(GrantUse::Once),
        Step::Approve(GrantUse::UntilExpiry),
        Step::Deny,
        Step::Expire,
        Step::BreakGlass { minutes: 10 },
    ];

    #[test]
    fn each_step_has_the_terms_the_service_applies() {
        let t = transition(Step::Approve(GrantUse::UntilExpiry), "ann", "ok", NOW).expect("terms");
        assert_eq!(t.to, ApprovalState::Approved);
        assert_eq!(t.from, vec![ApprovalState::Pending]);
        assert_eq!(t.at, "2026-06-01T12:00:00.000Z");
        assert_eq!(t.reason.as_deref(), Some("ok"));
        assert_eq!(t.grant, Some(GrantUse::UntilExpiry));
        assert_eq!(t.expires_at, None);
        assert_eq!(t.not_requested_by.as_deref(), Some("ann"));
        assert_eq!(
            t.unexpired_at.map(|t| t.to_string()).as_deref(),
            Some("2026-06-01T12:00:00.000Z")
        );

        let t = transition(Step::Deny, "ann", "no", NOW).expect("terms");
        assert_eq!((t.to, t.grant), (ApprovalState::Denied, None));
        assert_eq!(t.not_requested_by.as_deref(), Some("ann"));

        // Expiring ends the approval now, for anyone allowed to, the requester included, and
        // whether or not it has expired already.
        let t = transition(Step::Expire, "bob", "withdrawn", NOW).expect("terms");
        assert_eq!(t.to, ApprovalState::Expired);
        assert_eq!(
            t.from,
            vec![
                ApprovalState::Pending,
                ApprovalState::Approved,
                ApprovalState::BreakGlass
            ]
        );
        assert_eq!(
            t.expires_at.map(|t| t.to_string()).as_deref(),
            Some("2026-06-01T12:00:00.000Z")
        );
        assert_eq!((t.not_requested_by, t.unexpired_at), (None, None));

        // Break glass is loud, short and once.
        let t = transition(Step::BreakGlass { minutes: 10 }, "cy", "outage", NOW).expect("terms");
        assert_eq!(t.to, ApprovalState::BreakGlass);
        assert_eq!(t.from, vec![ApprovalState::Pending, ApprovalState::Denied]);
        assert_eq!(t.reason.as_deref(), Some("BREAK GLASS: outage"));
        assert_eq!(
            t.expires_at.map(|t| t.to_string()).as_deref(),
            Some("2026-06-01T12:10:00.000Z")
        );
        assert_eq!(t.grant, Some(GrantUse::Once));
        assert_eq!(t.not_requested_by.as_deref(), Some("cy"));
    }

    #[test]
    fn break_glass_lasts_one_to_the_maximum_minutes() {
        assert_eq!(break_glass_minutes(None, 60), Ok(15));
        assert_eq!(break_glass_minutes(None, 5), Ok(5));
        assert_eq!(break_glass_minutes(Some(60), 60), Ok(60));
        assert!(break_glass_minutes(Some(0), 60).is_err());
        assert_eq!(
            break_glass_minutes(Some(61), 60),
            Err("break glass lasts 1 to 60 minutes".to_string())
        );
    }

    #[test]
    fn a_refusal_names_the_requester_then_the_expiry_then_the_state() {
        let at = |t: &str| Timestamp::parse(t).expect("time");
        let (past, future) = (
            at("2026-06-01T11:00:00.000Z"),
            at("2026-06-01T13:00:00.000Z"),
        );
        let now = at("2026-06-01T12:00:00.000Z");
        let step = Step::Approve(GrantUse::Once);
        let r = refusal(step, ApprovalState::Pending, "bob", past, "bob", now);
        assert_eq!(r, Refusal::OwnRequest);
        assert_eq!(r.message("apr_1", step), "nobody decides their own request");
        // Once it has moved on, the requester hears what anyone hears.
        let r = refusal(step, ApprovalState::Denied, "bob", future, "bob", now);
        assert_eq!(
            r.message("apr_1", step),
            "approval apr_1 is denied; it can no longer be approved"
        );
        let r = refusal(step, ApprovalState::Pending, "bob", past, "ann", now);
        assert_eq!(
            r.message("apr_1", step),
            format!("approval apr_1 expired at {past}; it can no longer be approved")
        );
        // A consumed or expired approval is refused for its state, whatever its expiry.
        for state in [
            ApprovalState::Consumed,
            ApprovalState::Expired,
            ApprovalState::Denied,
        ] {
            assert_eq!(
                refusal(step, state, "bob", past, "ann", now),
                Refusal::State(state)
            );
        }
        let r = refusal(
            Step::BreakGlass { minutes: 5 },
            ApprovalState::Approved,
            "b",
            future,
            "a",
            now,
        );
        assert_eq!(
            r.message("apr_2", Step::BreakGlass { minutes: 5 }),
            "approval apr_2 is approved; it can no longer be broken open"
        );
    }

    proptest! {
        /// Nobody takes a deciding step on their own request while it could take it; anyone
        /// may expire their own request.
        #[test]
        fn only_expiring_is_open_to_the_requester(
            step in proptest::sample::select(STEPS.to_vec()),
            state in proptest::sample::select(ApprovalState::ALL.to_vec()),
        ) {
            let own = step.refuses_requester(state);
            prop_assert_eq!(own, step != Step::Expire && step.from().contains(&state));
            let t = transition(step, "ann", "why", NOW).expect("terms");
            prop_assert_eq!(t.not_requested_by.is_some(), step != Step::Expire);
            prop_assert_eq!(t.unexpired_at.is_some(), step != Step::Expire);
            prop_assert_eq!(&t.from[..], step.from());
            prop_assert_eq!(t.to, step.to());
            prop_assert!(!t.from.contains(&t.to));
        }
    }
}

//! Approvals bound to their exact context, and the one step that applies them to a decision.
//!
//! An approval unlocks the decision it was asked for and nothing else: the same action (the
//! request's normalised [`Request::fingerprint`]) in the same environment, branch, repository,
//! for the same actor and tenant, decided by the same rule of the same pack, approved by that
//! rule's approver group. [`approval_fingerprint`] folds all of it into the key an approval is
//! stored and looked up under, so a change to any of them finds no grant; [`resolve`] checks the
//! group once more when a grant is about to be used.

use cavra_engine::{Decision, DecisionRecord, Request};

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

/// Notes a newly asked-for approval in the record.
pub fn note_new(record: &mut DecisionRecord, id: &str) {
    record.evidence_refs.push(format!("approval:{id}"));
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
}

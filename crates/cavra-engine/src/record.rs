//! The decision record: what was decided, by which rule, under which pack and mode.

use cavra_policy::{ActionType, Decision, Mode, Severity};
use serde::{Deserialize, Serialize};

/// Who broke the glass, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakGlass {
    /// The actor who invoked it.
    pub actor: String,
    /// The reason (an incident reference).
    pub reason: String,
}

/// A rule that matched one of the request's subjects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleMatch {
    /// The rule id.
    pub rule_id: String,
    /// Its decision.
    pub decision: Decision,
    /// Its severity.
    pub severity: Severity,
    /// The pattern that matched, as written in the pack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The (derived) sub-request it matched: `read of .env (operand of cat in `cat .env`)`.
    pub subject: String,
    /// False for defaults and built-in floors.
    pub explicit: bool,
}

/// Everything recorded about one decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// Unique id of this decision.
    pub decision_id: String,
    /// Links related decisions (the request's, or the decision id).
    pub correlation_id: String,
    /// When (RFC 3339), from the caller's clock.
    pub timestamp: String,
    /// The agent session.
    pub session_id: Option<String>,
    /// The agent.
    pub agent_id: Option<String>,
    /// The actor.
    pub actor: Option<String>,
    /// The tenant.
    pub tenant: Option<String>,
    /// The repository.
    pub repository: Option<String>,
    /// The environment.
    pub environment: Option<String>,
    /// The branch.
    pub branch: Option<String>,
    /// The action type.
    pub action_type: ActionType,
    /// The target as requested.
    pub target: String,
    /// The requested operation (git).
    pub requested_operation: Option<String>,
    /// The pack's id.
    pub policy_pack: String,
    /// The pack's version.
    pub policy_version: String,
    /// The pack's digest (`sha256:…`).
    pub policy_digest: String,
    /// The deciding rule.
    pub rule_id: String,
    /// Its severity.
    pub severity: Severity,
    /// Why, in words for the agent and the approver.
    pub reason: String,
    /// Who approves (for require_approval).
    pub approver_group: Option<String>,
    /// The mode applied.
    pub mode: Mode,
    /// The decision before the mode was applied.
    pub base_decision: Decision,
    /// The effective decision.
    pub decision: Decision,
    /// Whether an explicit rule decided (false: a default or built-in floor).
    pub explicit: bool,
    /// Break glass, when invoked with an actor and a reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<BreakGlass>,
    /// References to evidence entries (filled by the evidence log).
    #[serde(default)]
    pub evidence_refs: Vec<String>,
    /// Every rule that matched, with the sub-request it matched.
    pub matched_rules: Vec<RuleMatch>,
}

impl DecisionRecord {
    /// Turns a decision that needed approval into an explicit allow because of approval `id`
    /// (`how`: "approved once", "approved", "break glass"), saying so in the reason and
    /// referencing the approval as evidence.
    pub fn allow_by_approval(&mut self, how: &str, id: &str, by: &str, why: &str) {
        self.reason = format!("{} [{how} by {by} in {id}: {why}]", self.reason);
        self.decision = Decision::Allow;
        self.explicit = true;
        self.evidence_refs.push(format!("approval:{id}"));
    }
}

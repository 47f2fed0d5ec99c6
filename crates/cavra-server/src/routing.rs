//! Approval routing: which approver group decides a request that needs approval.
//!
//! The operator's rules are tried first, in order (first match wins); then the group the
//! deciding pack rule names; then the built-in defaults of the original system (IAM, Platform
//! Security, Cloud Security, AI Governance); then Repository Owners.

use cavra_engine::{ActionType, Severity};
use globset::{Glob, GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

/// The group for whatever nothing else routes.
pub const REPOSITORY_OWNERS: &str = "Repository Owners";

/// One routing rule. Every given condition must hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// A name for logs.
    #[serde(default)]
    pub id: Option<String>,
    /// A glob over the deciding rule's id (`*iam*`).
    #[serde(default)]
    pub rule_id: Option<String>,
    /// The action type.
    #[serde(default)]
    pub action_type: Option<ActionType>,
    /// The least severity.
    #[serde(default)]
    pub min_severity: Option<Severity>,
    /// The deciding pack's id.
    #[serde(default)]
    pub pack: Option<String>,
    /// A glob over the target (`**/iam/**`, `terraform *`).
    #[serde(default)]
    pub target: Option<String>,
    /// Where it goes.
    pub approver_group: String,
}

fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .case_insensitive(true)
        .literal_separator(false)
        .build()
        .map(|g: Glob| g.compile_matcher())
        .map_err(|e| format!("bad glob `{pattern}`: {e}"))
}

impl RoutingRule {
    /// Checks the globs and the group.
    pub fn check(&self) -> Result<(), String> {
        if self.approver_group.trim().is_empty() {
            return Err("approver_group must not be empty".into());
        }
        for p in [&self.rule_id, &self.target].into_iter().flatten() {
            glob(p)?;
        }
        Ok(())
    }
}

struct Compiled {
    rule: RoutingRule,
    rule_id: Option<GlobMatcher>,
    target: Option<GlobMatcher>,
}

/// What routing looks at.
#[derive(Debug, Clone)]
pub struct RouteInput<'a> {
    /// The deciding rule.
    pub rule_id: &'a str,
    /// The action type.
    pub action_type: ActionType,
    /// The severity.
    pub severity: Option<Severity>,
    /// The pack id.
    pub pack: &'a str,
    /// The target.
    pub target: &'a str,
    /// The group the pack rule names, if any.
    pub pack_group: Option<&'a str>,
}

/// The routing table.
pub struct Routing {
    operator: Vec<Compiled>,
    defaults: Vec<Compiled>,
}

fn compile(rules: &[RoutingRule]) -> Result<Vec<Compiled>, String> {
    rules
        .iter()
        .map(|r| {
            Ok(Compiled {
                rule: r.clone(),
                rule_id: r.rule_id.as_deref().map(glob).transpose()?,
                target: r.target.as_deref().map(glob).transpose()?,
            })
        })
        .collect()
}

/// The original system's routing defaults.
pub fn default_rules() -> Vec<RoutingRule> {
    let rule = |id: &str,
                rule_id: Option<&str>,
                target: Option<&str>,
                action: Option<ActionType>,
                group: &str| RoutingRule {
        id: Some(id.into()),
        rule_id: rule_id.map(Into::into),
        action_type: action,
        min_severity: None,
        pack: None,
        target: target.map(Into::into),
        approver_group: group.into(),
    };
    vec![
        rule("iam-rule", Some("*iam*"), None, None, "IAM"),
        rule("iam-path", None, Some("*iam/*"), None, "IAM"),
        rule(
            "security-rule",
            Some("*security*"),
            None,
            None,
            "Platform Security",
        ),
        rule(
            "security-path",
            None,
            Some("*security/*"),
            None,
            "Platform Security",
        ),
        rule(
            "policy-path",
            None,
            Some("*polic*/*"),
            None,
            "Platform Security",
        ),
        rule(
            "cloud-terraform",
            None,
            Some("terraform *"),
            Some(ActionType::ExecuteCommand),
            "Cloud Security",
        ),
        rule(
            "cloud-kubectl",
            None,
            Some("kubectl *"),
            Some(ActionType::ExecuteCommand),
            "Cloud Security",
        ),
        rule(
            "cloud-aws",
            None,
            Some("aws *"),
            Some(ActionType::ExecuteCommand),
            "Cloud Security",
        ),
        rule(
            "cloud-gcloud",
            None,
            Some("gcloud *"),
            Some(ActionType::ExecuteCommand),
            "Cloud Security",
        ),
        rule(
            "cloud-az",
            None,
            Some("az *"),
            Some(ActionType::ExecuteCommand),
            "Cloud Security",
        ),
        rule(
            "mcp",
            None,
            None,
            Some(ActionType::McpToolCall),
            "AI Governance",
        ),
    ]
}

fn matches(c: &Compiled, input: &RouteInput<'_>) -> bool {
    let r = &c.rule;
    if r.action_type.is_some_and(|a| a != input.action_type) {
        return false;
    }
    if let Some(min) = r.min_severity
        && input.severity.is_none_or(|s| s < min)
    {
        return false;
    }
    if r.pack.as_deref().is_some_and(|p| p != input.pack) {
        return false;
    }
    if c.rule_id
        .as_ref()
        .is_some_and(|g| !g.is_match(input.rule_id))
    {
        return false;
    }
    if c.target.as_ref().is_some_and(|g| !g.is_match(input.target)) {
        return false;
    }
    true
}

impl Routing {
    /// Builds the table from the operator's rules.
    pub fn new(operator: &[RoutingRule]) -> Result<Routing, String> {
        Ok(Routing {
            operator: compile(operator)?,
            defaults: compile(&default_rules())?,
        })
    }

    /// The group that decides `input`.
    pub fn route(&self, input: &RouteInput<'_>) -> String {
        if let Some(c) = self.operator.iter().find(|c| matches(c, input)) {
            return c.rule.approver_group.clone();
        }
        if let Some(g) = input
            .pack_group
            .filter(|g| !g.trim().is_empty() && *g != REPOSITORY_OWNERS)
        {
            return g.to_string();
        }
        if let Some(c) = self.defaults.iter().find(|c| matches(c, input)) {
            return c.rule.approver_group.clone();
        }
        REPOSITORY_OWNERS.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(
        rule_id: &'a str,
        action: ActionType,
        target: &'a str,
        group: Option<&'a str>,
    ) -> RouteInput<'a> {
        RouteInput {
            rule_id,
            action_type: action,
            severity: Some(Severity::High),
            pack: "cavra-baseline",
            target,
            pack_group: group,
        }
    }

    #[test]
    fn defaults_follow_the_original_groups() {
        let r = Routing::new(&[]).unwrap();
        assert_eq!(
            r.route(&input(
                "filesystem.write.require_approval",
                ActionType::WriteFile,
                "infra/iam/admin.tf",
                None
            )),
            "IAM"
        );
        assert_eq!(
            r.route(&input(
                "x",
                ActionType::WriteFile,
                "config/security/policy.yaml",
                None
            )),
            "Platform Security"
        );
        assert_eq!(
            r.route(&input(
                "commands.default",
                ActionType::ExecuteCommand,
                "terraform apply",
                None
            )),
            "Cloud Security"
        );
        assert_eq!(
            r.route(&input(
                "mcp.default",
                ActionType::McpToolCall,
                "github",
                None
            )),
            "AI Governance"
        );
        assert_eq!(
            r.route(&input(
                "commands.default",
                ActionType::ExecuteCommand,
                "make deploy",
                None
            )),
            REPOSITORY_OWNERS
        );
    }

    #[test]
    fn operator_rules_come_first_then_the_pack_group() {
        let rules = vec![RoutingRule {
            id: None,
            rule_id: None,
            action_type: Some(ActionType::ExecuteCommand),
            min_severity: Some(Severity::Critical),
            pack: None,
            target: Some("make *".into()),
            approver_group: "Release".into(),
        }];
        let r = Routing::new(&rules).unwrap();
        let mut i = input(
            "commands.default",
            ActionType::ExecuteCommand,
            "make deploy",
            None,
        );
        assert_eq!(
            r.route(&i),
            REPOSITORY_OWNERS,
            "severity below the rule's minimum"
        );
        i.severity = Some(Severity::Critical);
        assert_eq!(r.route(&i), "Release");
        let j = input(
            "custom",
            ActionType::WriteFile,
            "infra/iam/x",
            Some("Data Owners"),
        );
        assert_eq!(
            r.route(&j),
            "Data Owners",
            "the pack's group beats the defaults"
        );
    }

    #[test]
    fn bad_globs_are_refused() {
        let rule = RoutingRule {
            id: None,
            rule_id: Some("[".into()),
            action_type: None,
            min_severity: None,
            pack: None,
            target: None,
            approver_group: "X".into(),
        };
        assert!(rule.check().is_err());
        assert!(Routing::new(&[rule]).is_err());
    }
}

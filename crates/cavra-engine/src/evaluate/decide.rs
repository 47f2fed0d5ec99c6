//! Deciding: the strictest candidate decides, the mode is applied last, and what was
//! considered is kept for `explain`.

use super::*;

pub(crate) fn decide(
    pack: &CompiledPack,
    request: &Request,
    env: &Env<'_>,
    norm: &Normalization,
    registry: Option<&McpRegistry>,
) -> DecisionRecord {
    let candidates = collect(pack, request, norm, registry);
    // A built-in guard decides whatever else matched. Otherwise the strictest decides; on a
    // tie an explicit rule beats a default, then the first found.
    let guarded = candidates.iter().position(|c| c.guard);
    let deciding = guarded.or_else(|| {
        candidates
            .iter()
            .enumerate()
            .fold(None::<usize>, |best, (i, c)| match best {
                None => Some(i),
                Some(b) => {
                    let cur = &candidates[b];
                    let better = c.decision.strictness() > cur.decision.strictness()
                        || (c.decision.strictness() == cur.decision.strictness()
                            && c.explicit
                            && !cur.explicit);
                    Some(if better { i } else { b })
                }
            })
    });

    // Each subject is described once, however many rules matched it.
    let mut descriptions: Vec<Option<String>> = vec![None; norm.subjects.len()];
    for c in &candidates {
        if let Some(slot) = descriptions.get_mut(c.subject).filter(|d| d.is_none()) {
            *slot = norm.subjects.get(c.subject).map(Subject::describe);
        }
    }
    let describe = |c: &Candidate<'_>| {
        descriptions
            .get(c.subject)
            .and_then(|d| d.clone())
            .unwrap_or_default()
    };
    let matched_rules: Vec<RuleMatch> = candidates
        .iter()
        .map(|c| RuleMatch {
            rule_id: c.rule_id.to_string(),
            decision: c.decision,
            severity: c.severity,
            pattern: c.pattern.map(str::to_string),
            subject: describe(c),
            explicit: c.explicit,
        })
        .collect();

    let (base, rule_id, severity, mut reason, approver_group, explicit) =
        match deciding.and_then(|i| candidates.get(i)) {
            Some(c) => {
                let case = " ignoring letter case";
                let reason = match (&c.reason, &c.pattern) {
                    (Some(r), Some(p)) if c.ignoring_case => {
                        let described = describe(c);
                        format!(
                            "{described}: {} (matches `{p}`{case})",
                            r.render(&described)
                        )
                    }
                    (Some(r), _) => {
                        let described = describe(c);
                        format!("{described}: {}", r.render(&described))
                    }
                    (None, Some(p)) if c.ignoring_case => format!(
                        "{} matches `{p}`{case} ({} {})",
                        describe(c),
                        c.rule_id,
                        c.decision
                    ),
                    (None, Some(p)) => format!(
                        "{} matches `{p}` ({} {})",
                        describe(c),
                        c.rule_id,
                        c.decision
                    ),
                    (None, None) => format!("{} ({} {})", describe(c), c.rule_id, c.decision),
                };
                let group = match c.decision {
                    Decision::RequireApproval => Some(
                        c.approver_group
                            .as_deref()
                            .unwrap_or(DEFAULT_APPROVER_GROUP)
                            .to_string(),
                    ),
                    _ => c.approver_group.as_deref().map(str::to_string),
                };
                (
                    c.decision,
                    c.rule_id.to_string(),
                    c.severity,
                    reason,
                    group,
                    c.explicit,
                )
            }
            // Only an execute_command line can yield no subject at all (a comment, a bare
            // assignment): nothing known runs, but nothing is proven harmless either.
            None if request.action == ActionType::ExecuteCommand => (
                Decision::RequireApproval,
                "commands.default".to_string(),
                Severity::Medium,
                "no command to run was found in the line".to_string(),
                Some(DEFAULT_APPROVER_GROUP.to_string()),
                false,
            ),
            None => (
                Decision::Block,
                "request.invalid".to_string(),
                Severity::High,
                "nothing to evaluate".to_string(),
                None,
                false,
            ),
        };

    let mode = request.mode.unwrap_or(pack.mode);
    let break_glass = match (&request.break_glass_actor, &request.break_glass_reason) {
        (Some(a), Some(r)) if !a.trim().is_empty() && !r.trim().is_empty() => Some(BreakGlass {
            actor: a.trim().to_string(),
            reason: r.trim().to_string(),
        }),
        _ => None,
    };
    let effective = match mode {
        // No mode turns a guard off: they protect the means of deciding.
        _ if guarded.is_some() => base,
        Mode::Enforce => base,
        Mode::AuditOnly if base != Decision::Allow => {
            reason =
                format!("{reason} [audit_only mode: recorded, not enforced; base decision {base}]");
            Decision::AuditOnly
        }
        Mode::AuditOnly => base,
        Mode::Strict if base == Decision::Allow => {
            reason = format!("{reason} [strict mode: every allow needs approval]");
            Decision::RequireApproval
        }
        Mode::Strict => base,
        Mode::BreakGlass => match (&break_glass, base) {
            (Some(bg), Decision::Block | Decision::RequireApproval) => {
                reason = format!(
                    "{reason} [break glass by {} ({}): allowed with attestation]",
                    bg.actor, bg.reason
                );
                Decision::AllowWithAttestation
            }
            (None, Decision::Block | Decision::RequireApproval) => {
                reason = format!(
                    "{reason} [break glass needs both an actor and a reason; nothing changed]"
                );
                base
            }
            _ => base,
        },
    };
    let approver_group = if effective == Decision::RequireApproval {
        approver_group.or_else(|| Some(DEFAULT_APPROVER_GROUP.to_string()))
    } else {
        approver_group
    };

    DecisionRecord {
        decision_id: env.decision_id.to_string(),
        correlation_id: request
            .correlation_id
            .clone()
            .unwrap_or_else(|| env.decision_id.to_string()),
        timestamp: env.timestamp.to_string(),
        session_id: request.session_id.clone(),
        agent_id: request.agent_id.clone(),
        actor: request.actor.clone(),
        tenant: request.tenant.clone(),
        repository: request.repository.clone(),
        environment: request.environment.clone(),
        branch: request.branch.clone(),
        action_type: request.action,
        target: request.target.clone(),
        requested_operation: request.operation.clone(),
        policy_pack: pack.id.clone(),
        policy_version: pack.version.clone(),
        policy_digest: pack.digest.clone(),
        rule_id,
        severity,
        reason,
        approver_group,
        mode,
        base_decision: base,
        decision: effective,
        explicit,
        break_glass: if mode == Mode::BreakGlass {
            break_glass
        } else {
            None
        },
        evidence_refs: Vec::new(),
        matched_rules,
    }
}

/// Every rule that applies to a subject's action type, and what came of it.
pub(crate) fn consider(
    pack: &CompiledPack,
    request: &Request,
    norm: &Normalization,
    registry: Option<&McpRegistry>,
) -> Vec<Consideration> {
    let cond = condition_context(request);
    let candidates = collect(pack, request, norm, registry);
    let mut out = Vec::new();
    for (si, subject) in norm.subjects.iter().enumerate() {
        let action = match subject {
            Subject::File { access, .. } => *access,
            Subject::Command { .. } | Subject::Class { .. } => ActionType::ExecuteCommand,
            Subject::Git { .. } => ActionType::GitOperation,
            Subject::Mcp { .. } => ActionType::McpToolCall,
            Subject::Network { .. } => ActionType::NetworkRequest,
            Subject::PullRequest => ActionType::PullRequest,
            Subject::Invalid { .. } => continue,
        };
        for rule in pack.rules.iter().filter(|r| r.actions.contains(action)) {
            // Class rules only concern class subjects, pattern rules only the others.
            let is_class_rule =
                matches!(rule.origin, RuleOrigin::Section(s) if s.ends_with("_classes"));
            if is_class_rule != matches!(subject, Subject::Class { .. }) {
                continue;
            }
            let mut matches = candidates
                .iter()
                .filter(|c| c.subject == si && c.rule_id == rule.id.as_str())
                .peekable();
            let matched = matches.peek().is_some();
            let outcome = if matched && matches.all(|c| c.ignoring_case) {
                "matched ignoring letter case".to_string()
            } else if matched {
                "matched".to_string()
            } else if let Some(field) = rule.conditions.failing(&cond) {
                format!("condition failed: {field}")
            } else if let Some(p) = excepted(rule, subject) {
                format!("excepted by `{p}`")
            } else {
                "no pattern matched".to_string()
            };
            out.push(Consideration {
                rule_id: rule.id.clone(),
                subject: si,
                outcome,
            });
        }
        for c in candidates.iter().filter(|c| c.subject == si && !c.explicit) {
            out.push(Consideration {
                rule_id: c.rule_id.to_string(),
                subject: si,
                outcome: "applied (built-in)".into(),
            });
        }
    }
    out
}

pub(crate) fn excepted<'r>(rule: &'r CompiledRule, subject: &Subject) -> Option<&'r str> {
    match subject {
        Subject::File { path, .. } => [
            path.relative.as_deref(),
            path.absolute.as_deref(),
            path.home.as_deref(),
        ]
        .into_iter()
        .flatten()
        .flat_map(ancestors)
        .find_map(|f| rule.excepted_by(f)),
        Subject::Command { match_key, .. } => rule.excepted_by(match_key),
        Subject::Mcp { server, .. } => rule.excepted_by(server),
        Subject::Network { host } => rule.excepted_by(host),
        _ => None,
    }
}

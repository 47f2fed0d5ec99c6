//! Merging a child pack into its parent so that the child can only tighten what its parents
//! say.

use super::*;

// ---------------------------------------------------------------------------------------------
// Merging
// ---------------------------------------------------------------------------------------------

/// Appends what `child` adds to `list`, keeping order and dropping repeats.
pub(crate) fn concat(list: &mut Vec<String>, child: &[String]) {
    let mut seen: HashSet<String> = list.iter().cloned().collect();
    for item in child {
        if seen.insert(item.clone()) {
            list.push(item.clone());
        }
    }
}

/// Merges a child over its (already merged) parents: lists concatenate, blocking booleans OR,
/// defaults only tighten, metadata comes from the child, rules concatenate, tests are the child's,
/// redaction rules concatenate (a child's rule replaces its parent's of the same id) and
/// disabled built-in redaction rules add up.
pub fn merge(parent: PackDocument, child: &PackDocument) -> PackDocument {
    let mut m = parent;

    let meta = &child.metadata;
    m.metadata.id = meta.id.clone();
    m.metadata.title = meta.title.clone();
    m.metadata.description = meta.description.clone();
    m.metadata.version = meta.version.clone();
    m.metadata.inherits = meta.inherits.clone();
    m.metadata.mode = meta.mode.or(m.metadata.mode);
    m.metadata.require_signature |= meta.require_signature;

    let (f, c) = (&mut m.filesystem, &child.filesystem);
    concat(&mut f.block_read, &c.block_read);
    concat(&mut f.require_approval_read, &c.require_approval_read);
    concat(&mut f.warn_read, &c.warn_read);
    concat(&mut f.allow_read, &c.allow_read);
    concat(&mut f.block_write, &c.block_write);
    concat(&mut f.require_approval_write, &c.require_approval_write);
    concat(&mut f.warn_write, &c.warn_write);
    concat(&mut f.allow_write, &c.allow_write);

    let (k, c) = (&mut m.commands, &child.commands);
    concat(&mut k.allow, &c.allow);
    concat(&mut k.block, &c.block);
    concat(&mut k.require_approval, &c.require_approval);
    concat(&mut k.warn, &c.warn);
    concat(&mut k.block_classes, &c.block_classes);
    concat(&mut k.require_approval_classes, &c.require_approval_classes);
    concat(&mut k.warn_classes, &c.warn_classes);

    let (g, c) = (&mut m.git, &child.git);
    concat(&mut g.block_push_branches, &c.block_push_branches);
    g.block_force_push |= c.block_force_push;
    g.require_pull_request |= c.require_pull_request;
    g.require_ai_attestation |= c.require_ai_attestation;

    let (p, c) = (&mut m.mcp, &child.mcp);
    p.block_unknown_servers |= c.block_unknown_servers;
    concat(&mut p.allowed_servers, &c.allowed_servers);
    concat(&mut p.blocked_servers, &c.blocked_servers);
    // The stricter wins: a child cannot turn a parent's `block` into `warn`.
    p.on_tool_change = match (p.on_tool_change.take(), c.on_tool_change.clone()) {
        (Some(a), Some(b)) if a == "block" || b == "block" => Some("block".into()),
        (a, b) => b.or(a),
    };

    concat(
        &mut m.network.allowed_domains,
        &child.network.allowed_domains,
    );
    concat(
        &mut m.network.blocked_domains,
        &child.network.blocked_domains,
    );

    // Knowledge only adds what programs do: a child's entries apply beside its parents'.
    m.knowledge
        .programs
        .extend(child.knowledge.programs.iter().cloned());
    m.knowledge
        .environment
        .extend(child.knowledge.environment.iter().cloned());

    // The stricter wins: a child cannot turn a parent's `block` into `require_approval`.
    m.agents.unknown_tool = match (m.agents.unknown_tool.take(), child.agents.unknown_tool) {
        (Some(a), Some(b)) => Some(if a.strictness() >= b.strictness() {
            a
        } else {
            b
        }),
        (a, b) => b.or(a),
    };

    // An inheriting pack that says whether it accepts claimed actors decides for itself;
    // one that says nothing keeps its parent's choice.
    if child.identity.accept_claimed_actor.is_some() {
        m.identity.accept_claimed_actor = child.identity.accept_claimed_actor;
    }

    for (action, d) in &child.defaults {
        match m.defaults.get_mut(action) {
            None => {
                m.defaults.insert(*action, d.clone());
            }
            Some(existing) => {
                let (new, old) = (d.decision.strictness(), existing.decision.strictness());
                if new > old {
                    *existing = d.clone();
                } else if new == old {
                    // Same decision: the child may name its own approvers.
                    if d.approver_group.is_some() {
                        existing.approver_group = d.approver_group.clone();
                    }
                }
                // A looser child default is ignored: the parent's stands.
            }
        }
    }

    m.rules.extend(child.rules.iter().cloned());
    m.tests = child.tests.clone();

    // Redaction rules: a child's rule replaces the parent's of the same id (in place), others
    // are appended; disabled built-ins add up.
    for rule in &child.redaction.rules {
        match m.redaction.rules.iter_mut().find(|r| r.id == rule.id) {
            Some(existing) => *existing = rule.clone(),
            None => m.redaction.rules.push(rule.clone()),
        }
    }
    concat(&mut m.redaction.disable, &child.redaction.disable);
    m
}

//! `cavra policy diff`: what differs between two packs in meaning — rules added, removed or
//! changed (decision, severity, actions, reason, approver group, patterns), and the pack-wide
//! settings — whatever the files' layout.

use crate::CompiledPack;
use crate::retained::{RuleView, rule_views};
use serde::Serialize;
use std::collections::BTreeMap;

/// A rule present in both packs whose meaning changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleChange {
    /// The rule id.
    pub id: String,
    /// Each change: `field: old -> new`, `+ pattern P`, `- pattern P`.
    pub changes: Vec<String>,
}

/// The semantic difference of two packs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackDiff {
    /// Rules only in the second pack.
    pub added: Vec<RuleView>,
    /// Rules only in the first pack.
    pub removed: Vec<RuleView>,
    /// Rules in both whose meaning changed.
    pub changed: Vec<RuleChange>,
    /// Pack-wide settings that changed: `key: old -> new` (`-` for unset).
    pub settings: Vec<String>,
}

impl PackDiff {
    /// Whether the packs mean the same.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.settings.is_empty()
    }

    /// The difference as `cavra policy diff` prints it: `+`/`-` a rule added or removed, `~`
    /// a rule or setting changed (with each change indented below the rule).
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        if self.is_empty() {
            return "no semantic difference\n".into();
        }
        // Writing to a String cannot fail.
        let mut out = String::new();
        for (sign, rules) in [("+", &self.added), ("-", &self.removed)] {
            for r in rules {
                let _ = writeln!(
                    out,
                    "{sign} rule {} ({} {}: {})",
                    r.id,
                    r.decision,
                    r.actions.join(","),
                    r.patterns.join(", ")
                );
            }
        }
        for c in &self.changed {
            let _ = writeln!(out, "~ rule {}", c.id);
            for change in &c.changes {
                let _ = writeln!(out, "    {change}");
            }
        }
        for s in &self.settings {
            let _ = writeln!(out, "~ {s}");
        }
        out
    }
}

/// The pack-wide settings by key: the mode, the git and MCP switches, the defaults per action.
pub fn settings(pack: &CompiledPack) -> BTreeMap<String, String> {
    let mut s = BTreeMap::new();
    s.insert("mode".into(), pack.mode.to_string());
    s.insert(
        "git.block_force_push".into(),
        pack.block_force_push.to_string(),
    );
    s.insert(
        "git.require_pull_request".into(),
        pack.require_pull_request.to_string(),
    );
    s.insert(
        "git.require_ai_attestation".into(),
        pack.require_ai_attestation.to_string(),
    );
    s.insert(
        "mcp.block_unknown_servers".into(),
        pack.block_unknown_servers.to_string(),
    );
    for (action, d) in &pack.defaults {
        let group = d
            .approver_group
            .as_deref()
            .map(|g| format!(" ({g})"))
            .unwrap_or_default();
        s.insert(
            format!("defaults.{action}"),
            format!("{}{group}", d.decision),
        );
    }
    s
}

fn diff_rules(a: &RuleView, b: &RuleView) -> Vec<String> {
    let mut changes = Vec::new();
    let field = |name: &str, x: &str, y: &str, changes: &mut Vec<String>| {
        if x != y {
            changes.push(format!("{name}: {x} -> {y}"));
        }
    };
    field("decision", &a.decision, &b.decision, &mut changes);
    field("severity", &a.severity, &b.severity, &mut changes);
    field(
        "actions",
        &a.actions.join(","),
        &b.actions.join(","),
        &mut changes,
    );
    field(
        "reason",
        a.reason.as_deref().unwrap_or(""),
        b.reason.as_deref().unwrap_or(""),
        &mut changes,
    );
    field(
        "approver_group",
        a.approver_group.as_deref().unwrap_or(""),
        b.approver_group.as_deref().unwrap_or(""),
        &mut changes,
    );
    for p in b.patterns.iter().filter(|p| !a.patterns.contains(p)) {
        changes.push(format!("+ pattern {p}"));
    }
    for p in a.patterns.iter().filter(|p| !b.patterns.contains(p)) {
        changes.push(format!("- pattern {p}"));
    }
    changes
}

/// What changes in meaning from pack `a` to pack `b`.
pub fn diff(a: &CompiledPack, b: &CompiledPack) -> PackDiff {
    let (ra, rb) = (rule_views(a), rule_views(b));
    let added: Vec<RuleView> = rb
        .iter()
        .filter(|(k, _)| !ra.contains_key(*k))
        .map(|(_, v)| v.clone())
        .collect();
    let removed: Vec<RuleView> = ra
        .iter()
        .filter(|(k, _)| !rb.contains_key(*k))
        .map(|(_, v)| v.clone())
        .collect();
    let changed: Vec<RuleChange> = ra
        .iter()
        .filter_map(|(k, va)| {
            let vb = rb.get(k)?;
            let changes = diff_rules(va, vb);
            (!changes.is_empty()).then(|| RuleChange {
                id: k.clone(),
                changes,
            })
        })
        .collect();
    let (sa, sb) = (settings(a), settings(b));
    let mut setting_changes = Vec::new();
    for key in sa.keys().chain(sb.keys().filter(|k| !sa.contains_key(*k))) {
        let (x, y) = (
            sa.get(key).map(String::as_str).unwrap_or("-"),
            sb.get(key).map(String::as_str).unwrap_or("-"),
        );
        if x != y {
            setting_changes.push(format!("{key}: {x} -> {y}"));
        }
    }
    PackDiff {
        added,
        removed,
        changed,
        settings: setting_changes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{compile, load_pack_str};

    fn pack(yaml: &str) -> CompiledPack {
        let resolved =
            load_pack_str(yaml, "test.yaml", std::path::Path::new(".")).expect("resolve");
        compile(&resolved).expect("compile")
    }

    #[test]
    fn the_same_pack_differs_in_nothing() {
        let a = pack("metadata: {id: t, version: '1'}\nfilesystem: {block_read: ['.env']}\n");
        assert!(diff(&a, &a).is_empty());
        assert_eq!(diff(&a, &a).to_text(), "no semantic difference\n");
    }

    #[test]
    fn rules_patterns_and_settings_are_compared_by_meaning() {
        let a = pack(
            "metadata: {id: t, version: '1'}\nfilesystem: {block_read: ['.env'], block_write: ['ci/**']}\n",
        );
        let b = pack(
            "metadata: {id: t, version: '2', mode: strict}\nfilesystem: {block_read: ['.env', '**/*.pem']}\ncommands: {block: ['rm -rf*']}\n",
        );
        let d = diff(&a, &b);
        assert!(d.added.iter().any(|r| r.id == "commands.block"), "{d:?}");
        assert!(
            d.removed.iter().any(|r| r.id == "filesystem.write.block"),
            "{d:?}"
        );
        let read = d
            .changed
            .iter()
            .find(|c| c.id == "filesystem.read.block")
            .expect("read rule changed");
        assert_eq!(read.changes, vec!["+ pattern **/*.pem".to_string()]);
        assert!(
            d.settings.contains(&"mode: enforce -> strict".to_string()),
            "{d:?}"
        );
        let text = d.to_text();
        assert!(
            text.contains("\n~ rule filesystem.read.block\n    + pattern **/*.pem\n"),
            "{text}"
        );
        assert!(text.contains("~ mode: enforce -> strict\n"), "{text}");
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("+ rule commands.block (block execute_command: rm -rf*"),
            "{text}"
        );
    }
}

//! The posture in words, for people (`cavra aispm posture` without `--json`).

use std::fmt::Write;

use crate::Posture;

/// The posture as text: the score, each factor's points and why, and what to look at.
pub fn render(p: &Posture) -> String {
    let mut out = String::new();
    let tenant = p.tenant.as_deref().unwrap_or("(no entries)");
    let score = p
        .score
        .map(|s| format!("{s:.1}/100"))
        .unwrap_or_else(|| "no score (nothing in the log to judge)".into());
    let _ = writeln!(out, "tenant {tenant}: posture {score}");
    let _ = writeln!(
        out,
        "from {} evidence entries{}{}",
        p.covers.entries,
        match (p.covers.first_index, p.covers.last_index) {
            (Some(a), Some(b)) => format!(" (index {a}..={b})"),
            _ => String::new(),
        },
        if p.covers.unreadable > 0 {
            format!(", {} unreadable: verify the log", p.covers.unreadable)
        } else {
            String::new()
        }
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "factor              weight  value   points  why");
    for f in &p.factors {
        let id = serde_json::to_value(f.id)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let value = f
            .value
            .map(|v| format!("{:.1}%", v * 100.0))
            .unwrap_or_else(|| "n/a".into());
        let _ = writeln!(
            out,
            "{id:<19} {:>6}  {value:>6}  {:>6.1}  {}",
            f.weight, f.contribution, f.explanation
        );
    }
    let mut look = Vec::new();
    if !p.repositories.not_enforcing.is_empty() {
        look.push(format!(
            "not enforcing: {}",
            p.repositories.not_enforcing.join(", ")
        ));
    }
    if !p.packs.unsigned.is_empty() {
        look.push(format!("unsigned packs: {}", p.packs.unsigned.join(", ")));
    }
    if !p.mcp.untrusted.is_empty() {
        look.push(format!(
            "untrusted MCP servers: {}",
            p.mcp.untrusted.join(", ")
        ));
    }
    if !p.mcp.changed.is_empty() {
        look.push(format!("changed MCP servers: {}", p.mcp.changed.join(", ")));
    }
    for (name, d) in &p.connectors.destinations {
        if d.dead_letters > 0 {
            look.push(format!(
                "connector {name}: {} dead letters (`cavra connector dead-letters`)",
                d.dead_letters
            ));
        }
    }
    if !p.hook_coverage.unseen.is_empty() {
        look.push(format!(
            "registered agents never seen deciding: {}",
            p.hook_coverage.unseen.join(", ")
        ));
    }
    if !look.is_empty() {
        let _ = writeln!(out);
        for l in look {
            let _ = writeln!(out, "- {l}");
        }
    }
    out
}

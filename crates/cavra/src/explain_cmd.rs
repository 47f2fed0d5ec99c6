//! `cavra policy explain --decision ID`: reads what the store holds about a recorded decision
//! (its record, its evidence log entry, the pack kept under its digest), has
//! `cavra_runtime::recorded` explain it, and prints the explanation. Read-only.

use crate::support::{self, EXIT_ERROR, EXIT_OK, Failure, FsResolver};
use anyhow::anyhow;
use cavra_runtime::recorded::{
    EvidenceStatus, PackStatus, Recorded, RecordedExplanation, Replay, explain_recorded,
};
use cavra_store::Store;
use serde_json::Value;

/// Runs `cavra policy explain --decision ID`; exit 0 when the explanation is exact, else 1.
pub fn explain_decision(id: &str, json: bool) -> Result<i32, Failure> {
    let root = support::find_repo_root(&support::current_dir()?);
    let path = cavra_store::store_path(&root);
    if !path.exists() {
        return Err(anyhow!(
            "no decision `{id}`: nothing is recorded in this repository (no {})",
            path.display()
        )
        .into());
    }
    let store = Store::open_read_only(&path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    let stored = store
        .decision(id)
        .map_err(|e| anyhow!("{e}"))?
        .ok_or_else(|| {
            anyhow!(
                "no decision `{id}` in {} (`cavra decision list` shows the ids)",
                path.display()
            )
        })?;
    let entry = store
        .log_entries_about(id)
        .map_err(|e| anyhow!("{e}"))?
        .into_iter()
        .find(|e| e.kind == cavra_store::EntryKind::Decision.as_str());
    let logged: Option<(Value, bool)> = entry.as_ref().map(|e| {
        let body = e
            .json()
            .and_then(|v| v.get("body").and_then(|b| b.get("record")).cloned())
            .unwrap_or(Value::Null);
        (body, e.hash_matches())
    });
    let digest = stored.record["policy_digest"].as_str().unwrap_or_default();
    let kept = store.policy(digest).map_err(|e| anyhow!("{e}"))?;
    // The pack that applies now, loaded without the pack cache (this command writes nothing).
    let current = cavra_runtime::policy::resolve_pack_with_cache(
        &support::policy_reference(None, &root),
        &root,
        None,
    )
    .ok()
    .map(|p| p.digest);
    let explanation = explain_recorded(
        Recorded {
            stored: &stored.record,
            logged: logged.as_ref().map(|(v, intact)| (v, *intact)),
            pack: kept.as_ref().map(|(o, d)| (o.as_str(), d.as_str())),
            current_digest: current.as_deref(),
        },
        &FsResolver,
    )
    .map_err(|e| anyhow!("decision `{id}`: {e}"))?;
    if json {
        support::print_json(&explanation)?;
    } else {
        print(&explanation, &stored.record);
    }
    Ok(if explanation.exact {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

fn print(e: &RecordedExplanation, stored: &Value) {
    let r = &e.record;
    println!("decision   {}  {}", r.decision_id, r.timestamp);
    println!(
        "by         {} in session {}{}",
        r.agent_id.as_deref().unwrap_or("-"),
        r.session_id.as_deref().unwrap_or("-"),
        stored["tool_name"]
            .as_str()
            .map(|t| format!(", tool {t}"))
            .unwrap_or_default()
    );
    println!("request    {} {}", r.action_type, r.target);
    let kept = match e.pack.status {
        PackStatus::Retained => "kept in the store, unaltered",
        PackStatus::Altered => "kept in the store, ALTERED since",
        PackStatus::Missing => "NOT KEPT in this store",
    };
    let now = match e.pack.current_is_same {
        Some(true) => "; it is the pack that applies now",
        Some(false) => "; the pack that applies now is a different one",
        None => "",
    };
    println!(
        "policy     {} {} ({}) — {kept}{now}",
        e.pack.id, e.pack.version, e.pack.digest
    );
    match &e.deciding_rule {
        Some(rule) => {
            println!(
                "rule       {} — {} {}, on {}",
                rule.id,
                rule.decision,
                rule.severity,
                rule.actions.join(", ")
            );
            if !rule.patterns.is_empty() {
                let patterns: Vec<String> =
                    rule.patterns.iter().map(|p| format!("`{p}`")).collect();
                println!("           patterns {}", patterns.join(", "));
            }
            if let Some(reason) = &rule.reason {
                println!("           reason: {reason}");
            }
            if let Some(group) = &rule.approver_group {
                println!("           approver group: {group}");
            }
        }
        None => println!(
            "rule       {} ({})",
            r.rule_id,
            if r.explicit {
                "not listed in the kept pack"
            } else {
                "a default or built-in rule"
            }
        ),
    }
    crate::policy_cmd::print_matched(&e.matched);
    let mode = crate::policy_cmd::mode_note(r);
    println!("decided    {}{mode}  {}", r.decision, r.reason);
    for reference in &r.evidence_refs {
        println!("           {reference}");
    }
    println!(
        "evidence   {}",
        match e.evidence {
            EvidenceStatus::Matches => "the evidence log's entry holds this decision",
            EvidenceStatus::Differs => "the evidence log's entry DIFFERS (see problems)",
            EvidenceStatus::Absent => "no evidence log entry",
        }
    );
    match &e.replay {
        Replay::Identical {
            subjects,
            considered,
        } => {
            println!("replay     decided again from the recorded request: identical");
            for (i, s) in subjects.iter().enumerate() {
                println!("  [{i}] {s}");
            }
            println!("considered");
            for c in considered {
                println!("  [{}] {:<44} {}", c.subject, c.rule_id, c.outcome);
            }
        }
        Replay::Differs {
            differences,
            subjects,
        } => {
            println!("replay     decided again from the recorded request: DIFFERS");
            for d in differences {
                println!("           {d}");
            }
            for (i, s) in subjects.iter().enumerate() {
                println!("  [{i}] {s}");
            }
        }
        Replay::NotPossible { why } => println!("replay     not possible: {why}"),
    }
    if e.exact {
        println!("exact      yes");
    } else {
        println!("exact      no");
        for p in &e.problems {
            println!("  - {p}");
        }
    }
}

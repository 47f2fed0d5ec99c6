//! The store: writable, sound, its evidence log verifying; then what it holds that needs a
//! person — pending approvals and tools the agents used that cavra does not know.

use crate::keys::{log_public_key, read_trust_root};
use crate::{Finding, Setup, Status};
use cavra_evidence::trust::{KeyRecord, TrustRoot};
use cavra_store::{ApprovalState, Store};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use time::OffsetDateTime;

/// How many unknown-tool decisions are read (the newest).
const UNKNOWN_TOOL_SCAN: usize = 10_000;

/// Whether this process may create and write files in `dir` (access(2) asks the kernel, which
/// knows owners, groups, ACLs and read-only mounts; nothing is created to find out).
fn writable(dir: &Path) -> bool {
    let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call; access(2) only
    // reads it.
    unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// The store's folder can be written and the store, if any, is sound and its log verifies.
/// Returns the store, opened read-only, for the checks that read it.
pub fn check_store(setup: &Setup, out: &mut Vec<Finding>) -> Option<Store> {
    let root = &setup.repo_root;
    let dir = root.join(cavra_store::STORE_DIR);
    if dir.exists() && !dir.is_dir() {
        out.push(
            Finding::new(
                "store",
                Status::Fail,
                ".cavra is not a folder: the hook can keep neither its policy nor its records there, so it denies every call",
            )
            .fix("move .cavra aside (`mv .cavra .cavra.moved`) and run `cavra init <agent>` again"),
        );
        return None;
    }
    // The hook creates `.cavra` when it is missing, so the root must be writable then.
    let (folder, shown) = if dir.is_dir() {
        (dir.clone(), ".cavra")
    } else {
        (root.clone(), "the repository root")
    };
    if !writable(&folder) {
        out.push(
            Finding::new(
                "store",
                Status::Fail,
                format!("{shown} ({}) is not writable: the hook cannot record decisions, so it denies every call", folder.display()),
            )
            .fix(format!("give the agent's user write access to {} (for example `chmod u+w {}`)", folder.display(), folder.display())),
        );
    }
    let path = cavra_store::store_path(root);
    if !path.exists() {
        out.push(Finding::new(
            "store",
            Status::Info,
            "nothing recorded yet: the first hook call creates .cavra/cavra.db",
        ));
        return None;
    }
    let store = match Store::open_read_only(&path) {
        Ok(store) => store,
        Err(e) => {
            out.push(
                Finding::new("store", Status::Fail, format!(".cavra/cavra.db cannot be read: {e}"))
                    .fix("keep the file for investigation and move it aside (`mv .cavra/cavra.db .cavra/cavra.db.broken`, with its -wal and -shm files); the next hook call starts a new store"),
            );
            return None;
        }
    };
    match store.integrity_check() {
        Ok(text) if text == "ok" => {}
        Ok(text) => {
            out.push(
                Finding::new("store", Status::Fail, ".cavra/cavra.db is damaged (SQLite integrity check)")
                    .details(text.lines().take(10).map(str::to_string).collect())
                    .fix("keep the file for investigation and move it aside with its -wal and -shm files; the next hook call starts a new store"),
            );
            return Some(store);
        }
        Err(e) => {
            out.push(
                Finding::new("store", Status::Fail, format!(".cavra/cavra.db cannot be checked: {e}"))
                    .fix("keep the file for investigation and move it aside with its -wal and -shm files; the next hook call starts a new store"),
            );
            return None;
        }
    }
    let decisions = store.decision_count().unwrap_or(0);
    if !out.iter().any(|f| f.check == "store") {
        out.push(Finding::new(
            "store",
            Status::Ok,
            format!(".cavra/cavra.db: {decisions} decision(s) recorded, writable"),
        ));
    }
    check_log(setup, &store, out);
    Some(store)
}

/// The trust the log's checkpoints are checked against: the trust root given when it holds
/// the log key, else the repository's own log key, else none (hashes only).
fn log_trust(setup: &Setup) -> Option<TrustRoot> {
    let log_key = log_public_key(setup)?;
    if let Some(Ok(given)) = read_trust_root(setup) {
        let wanted = cavra_evidence::trust::fingerprint(&log_key);
        if given.keys.iter().any(|k| k.fingerprint == wanted) {
            return Some(given);
        }
    }
    let record = KeyRecord::new(
        cavra_store::log_key_id(&log_key),
        "this repository's log key",
        &log_key,
        OffsetDateTime::UNIX_EPOCH,
        None,
    )
    .ok()?;
    let mut own = TrustRoot::default();
    own.add(record).ok()?;
    Some(own)
}

fn check_log(setup: &Setup, store: &Store, out: &mut Vec<Finding>) {
    let trust = log_trust(setup);
    let report = match store.verify_log(trust.as_ref()) {
        Ok(report) => report,
        Err(e) => {
            out.push(
                Finding::new("log", Status::Fail, format!("the evidence log cannot be read: {e}"))
                    .fix("keep .cavra/cavra.db as it is for investigation; `cavra evidence log verify` shows the same"),
            );
            return;
        }
    };
    if report.ok() {
        out.push(Finding::new(
            "log",
            Status::Ok,
            format!(
                "the evidence log verifies: {} entries, {} checkpoint(s), {} signature(s) checked, tree head {}",
                report.entries, report.checkpoints, report.signatures_verified, report.root_hash
            ),
        ));
    } else {
        out.push(
            Finding::new(
                "log",
                Status::Fail,
                format!("the evidence log does NOT verify ({} problem(s)): recorded evidence was changed or damaged", report.problems.len()),
            )
            .details(report.problems.iter().take(20).cloned().collect())
            .fix("do not write to the store: copy .cavra/ aside as it is for investigation, find out what changed it, and start a new store for new decisions; `cavra evidence log verify` lists the same problems"),
        );
    }
}

/// Approvals waiting for a person: who should decide (the route owner) and until when.
pub fn check_approvals(store: &Store, now: OffsetDateTime, out: &mut Vec<Finding>) {
    let pending = match store.approvals(Some(ApprovalState::Pending)) {
        Ok(p) => p,
        Err(e) => {
            out.push(
                Finding::new(
                    "approvals",
                    Status::Fail,
                    format!("approvals cannot be read: {e}"),
                )
                .fix("run `cavra approval list` to see the error in full"),
            );
            return;
        }
    };
    if pending.is_empty() {
        out.push(Finding::new(
            "approvals",
            Status::Ok,
            "no approval is pending",
        ));
        return;
    }
    let expired = |expires: &cavra_store::Timestamp| expires.time() <= now;
    let details: Vec<String> = pending
        .iter()
        .map(|a| {
            format!(
                "{} for {} ({}), {} {}: {}",
                a.id,
                a.approver_group,
                a.requested_by,
                if expired(&a.expires_at) {
                    "expired at"
                } else {
                    "expires"
                },
                a.expires_at,
                a.summary
            )
        })
        .collect();
    let stale = pending.iter().filter(|a| expired(&a.expires_at)).count();
    let finding = if stale > 0 {
        Finding::new(
            "approvals",
            Status::Warn,
            format!("{} pending, {stale} of them past their expiry and still shown as pending", pending.len()),
        )
        .fix("run `cavra approval expire` to close the expired ones; the agent asks again for what it still needs")
    } else {
        Finding::new(
            "approvals",
            Status::Info,
            format!("{} approval(s) waiting for a person", pending.len()),
        )
        .fix("a member of the approver group decides: `cavra approval approve ID --reason TEXT` (the same action is then allowed once) or `cavra approval deny ID --reason TEXT`")
    };
    out.push(finding.details(details));
}

/// Tools the agents called that cavra does not know (decided by `agents.unknown_tool`).
pub fn check_unknown_tools(store: &Store, out: &mut Vec<Finding>) {
    let Ok(decisions) = store.decisions_by_rule("agents.unknown_tool", UNKNOWN_TOOL_SCAN) else {
        return;
    };
    if decisions.is_empty() {
        return;
    }
    // (agent, tool) → (calls, last seen, decision).
    let mut tools: BTreeMap<(String, String), (usize, String, String)> = BTreeMap::new();
    for d in &decisions {
        let text = |k: &str| d.record[k].as_str().unwrap_or("?").to_string();
        let entry = tools
            .entry((text("agent_id"), text("tool_name")))
            .or_insert((0, d.timestamp.to_string(), d.decision.as_str().to_string()));
        entry.0 += 1;
    }
    let details = tools
        .iter()
        .map(|((agent, tool), (calls, last, decision))| {
            format!("{agent}: `{tool}` — {calls} call(s), last {last}, decided {decision}")
        })
        .collect();
    out.push(
        Finding::new(
            "agents.unknown_tool",
            Status::Warn,
            format!("{} tool(s) the agents called are unknown to cavra: each call waits for a person or is blocked", tools.len()),
        )
        .details(details)
        .fix("report each tool with the agent's version to cavra's maintainers so it is mapped to what it does; until then the pack's `agents.unknown_tool` (block or require_approval) decides it, or deny the tool in the agent's own settings"),
    );
}

//! `cavra doctor`: the troubleshooting tree as checks. Each check looks at one part of a
//! repository's cavra set-up — the agents' hooks, the policy, the store and its evidence log,
//! the hook server, keys and trust root, the API service, pending approvals, CI files, tools
//! the agents used that cavra does not know — and reports findings, each with the fix.
//!
//! Read-only by construction: nothing here creates, writes or locks a file (the store is
//! opened with [`cavra_store::Store::open_read_only`], packs are loaded without the pack
//! cache, the hook server's socket folder is looked at, never made). What needs the CLI's
//! machinery (asking the hook server, calling the service) comes in through [`Probes`].

mod agents;
mod keys;
mod policy;
mod store;

use serde::Serialize;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// How serious a finding is, from fine to broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Works as it should.
    Ok,
    /// Worth knowing; nothing is wrong.
    Info,
    /// Works, but not as well or as safely as it could (a person should look).
    Warn,
    /// Broken: calls are denied, governance is off, or evidence does not verify.
    Fail,
}

impl Status {
    /// The word printed for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Info => "info",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One finding: what was checked, how it stands, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check (`hooks.claude-code`, `policy`, `store`, `log`, `hook_server`, `keys`,
    /// `trust_root`, `service`, `approvals`, `ci`, `agents.unknown_tool`).
    pub check: String,
    /// How it stands.
    pub status: Status,
    /// What was found, in one line.
    pub summary: String,
    /// Supporting lines (each problem, each pending approval, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// What to do about it; every warn and fail has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn new(check: impl Into<String>, status: Status, summary: impl Into<String>) -> Self {
        Finding {
            check: check.into(),
            status,
            summary: summary.into(),
            details: Vec::new(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    fn details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }
}

/// Everything doctor found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The repository root looked at.
    pub repository: String,
    /// The worst status among the findings.
    pub worst: Status,
    /// The exit code `cavra doctor` ends with ([`exit_code`]).
    pub exit_code: i32,
    /// Every finding, in the order of the troubleshooting tree.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The report as `cavra doctor` prints it: a line a finding with its details and fix,
    /// then the counts; `colour` paints the status words for a terminal.
    pub fn to_text(&self, colour: bool) -> String {
        use std::fmt::Write as _;
        // Writing to a String cannot fail.
        let mut out = String::new();
        let _ = writeln!(out, "cavra doctor: {}", self.repository);
        for f in &self.findings {
            let word = f.status.as_str().to_uppercase();
            let word = match (colour, f.status) {
                (true, Status::Fail) => format!("\x1b[1;31m{word:<4}\x1b[0m"),
                (true, Status::Warn) => format!("\x1b[33m{word:<4}\x1b[0m"),
                (true, Status::Ok) => format!("\x1b[32m{word:<4}\x1b[0m"),
                _ => format!("{word:<4}"),
            };
            let _ = writeln!(out, "{word}  {:<20} {}", f.check, f.summary);
            for d in &f.details {
                let _ = writeln!(out, "      {:<20}   {d}", "");
            }
            if let Some(fix) = &f.fix {
                let _ = writeln!(out, "      {:<20} fix: {fix}", "");
            }
        }
        let count = |s: Status| self.findings.iter().filter(|f| f.status == s).count();
        let _ = writeln!(
            out,
            "{} failed, {} warning(s), {} ok",
            count(Status::Fail),
            count(Status::Warn),
            count(Status::Ok)
        );
        out
    }
}

/// The exit code for the worst finding: 0 nothing worse than info, 3 at least one warning
/// (a person should look, as with `require_approval`), 1 at least one failure.
pub fn exit_code(worst: Status) -> i32 {
    match worst {
        Status::Ok | Status::Info => 0,
        Status::Warn => 3,
        Status::Fail => 1,
    }
}

/// The hook server of a repository, as its socket answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookServerState {
    /// It answered; its own status text.
    Running(String),
    /// Nothing listens on its socket; the next hook call starts it.
    NotRunning {
        /// Where it would listen.
        socket: PathBuf,
    },
    /// A socket file is left and nothing answers on it (the next hook call replaces it).
    Stale {
        /// The socket file.
        socket: PathBuf,
    },
    /// It cannot run: no private socket folder, or the path is too long.
    Unavailable(String),
}

impl HookServerState {
    /// What `cavra hook daemon status --json` prints for the server of `root`.
    pub fn to_json(&self, root: &std::path::Path) -> serde_json::Value {
        use serde_json::json;
        match self {
            HookServerState::Running(text) => {
                json!({ "root": root, "running": true, "status": text })
            }
            HookServerState::NotRunning { socket } | HookServerState::Stale { socket } => {
                json!({ "root": root, "running": false, "socket": socket })
            }
            HookServerState::Unavailable(why) => {
                json!({ "root": root, "running": false, "unavailable": why })
            }
        }
    }

    /// What `cavra hook daemon status` prints for the server of `root`.
    pub fn to_text(&self, root: &std::path::Path) -> String {
        match self {
            HookServerState::Running(text) => text.clone(),
            HookServerState::NotRunning { socket } | HookServerState::Stale { socket } => {
                format!(
                    "hook server for {}: not running\nsocket: {}",
                    root.display(),
                    socket.display()
                )
            }
            HookServerState::Unavailable(why) => format!(
                "hook server for {}: not running; it cannot run here: {why}",
                root.display()
            ),
        }
    }
}

/// Why the service could not say who the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceProblem {
    /// It could not be reached, timed out or failed on its side.
    Unreachable(String),
    /// It refused the credential or the request.
    Refused(String),
}

/// What the CLI provides: the parts that need its machinery.
pub trait Probes {
    /// Asks the repository's hook server for its status, creating nothing.
    fn hook_server(&self, repo_root: &Path) -> HookServerState;
    /// Asks the API service at `url` who the token's holder is (`GET /v1/whoami`).
    fn service_identity(&self, url: &str, token: &str)
    -> Result<serde_json::Value, ServiceProblem>;
}

/// What doctor looks at, as the caller found it.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The repository root.
    pub repo_root: PathBuf,
    /// Whether `repo_root` holds `.git` (else it is just the current folder).
    pub is_git_repository: bool,
    /// `PATH`, to find the programs the hook commands name.
    pub path: Option<OsString>,
    /// The policy reference the hooks use: `--policy`/`CAVRA_POLICY`, when given.
    pub policy: Option<String>,
    /// The trust root file (`--trust-root`/`CAVRA_TRUST_ROOT`), when given; else the
    /// repository's `.cavra/trust-root.json` is used when it exists (as the hook does).
    pub trust_root: Option<PathBuf>,
    /// The API service (`--server`/`CAVRA_SERVER`), when configured.
    pub server: Option<String>,
    /// Its token (`CAVRA_TOKEN`), when set.
    pub token: Option<String>,
    /// The time findings are judged at (expiry, validity).
    pub now: OffsetDateTime,
}

/// Runs every check.
pub fn run(setup: &Setup, probes: &dyn Probes) -> Report {
    let mut findings = Vec::new();
    if !setup.is_git_repository {
        findings.push(
            Finding::new(
                "repository",
                Status::Warn,
                format!(
                    "{} is not inside a git repository; cavra keeps its policy and store at the repository root",
                    setup.repo_root.display()
                ),
            )
            .fix("run cavra doctor (and cavra init) from inside the repository the agent works in"),
        );
    }
    let installed = agents::check_hooks(setup, &mut findings);
    agents::check_hook_server(setup, &installed, probes, &mut findings);
    policy::check_policy(setup, &installed, &mut findings);
    let store = store::check_store(setup, &mut findings);
    keys::check_keys(setup, &mut findings);
    check_service(setup, probes, &mut findings);
    if let Some(store) = &store {
        store::check_approvals(store, setup.now, &mut findings);
        store::check_unknown_tools(store, &mut findings);
    }
    check_ci(&setup.repo_root, &mut findings);
    let worst = findings
        .iter()
        .map(|f| f.status)
        .max()
        .unwrap_or(Status::Ok);
    Report {
        repository: setup.repo_root.display().to_string(),
        worst,
        exit_code: exit_code(worst),
        findings,
    }
}

/// The API service: reachable, and who the token's holder is there.
fn check_service(setup: &Setup, probes: &dyn Probes, out: &mut Vec<Finding>) {
    let Some(url) = setup.server.as_deref().filter(|s| !s.trim().is_empty()) else {
        out.push(Finding::new(
            "service",
            Status::Info,
            "no API service configured (CAVRA_SERVER or --server): decisions are made and recorded in this repository",
        ));
        return;
    };
    let Some(token) = setup.token.as_deref().filter(|t| !t.trim().is_empty()) else {
        out.push(
            Finding::new(
                "service",
                Status::Fail,
                format!("the service {url} is configured and CAVRA_TOKEN is not set: every call to it is refused"),
            )
            .fix("set CAVRA_TOKEN to an API token of the service (an admin creates one with `cavra token create`)"),
        );
        return;
    };
    match probes.service_identity(url, token) {
        Ok(me) => {
            let text = |k: &str| me[k].as_str().unwrap_or("?").to_string();
            let list = |k: &str| {
                me[k]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "none".into())
            };
            out.push(Finding::new(
                "service",
                Status::Ok,
                format!(
                    "{url} answers: you are {} in tenant {} (roles: {}; approver groups: {})",
                    text("subject"),
                    text("tenant"),
                    list("roles"),
                    list("approver_groups")
                ),
            ));
        }
        Err(ServiceProblem::Unreachable(why)) => out.push(
            Finding::new("service", Status::Fail, format!("{url} cannot be reached: {why}"))
                .fix("start the service (`cavra serve`) or correct CAVRA_SERVER; meanwhile hooks with --server decide with the local policy, or deny everything when CAVRA_SERVER_FALLBACK=deny"),
        ),
        Err(ServiceProblem::Refused(why)) => out.push(
            Finding::new("service", Status::Fail, format!("{url} refuses the token: {why}"))
                .fix("the token is unknown, expired or revoked: ask an admin for a new one (`cavra token create`) and set CAVRA_TOKEN"),
        ),
    }
}

/// CI files that run the gate.
fn check_ci(root: &Path, out: &mut Vec<Finding>) {
    // GitHub Actions workflows, then GitLab's one file.
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(root.join(".github/workflows"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    candidates.sort();
    candidates.push(root.join(".gitlab-ci.yml"));
    let gated: Vec<String> = candidates
        .iter()
        .filter(|p| {
            std::fs::read_to_string(p).is_ok_and(|text| {
                text.lines()
                    .any(|l| l.contains("cavra ci check") || l.contains("cavra ci attest"))
            })
        })
        .map(|p| relative(p, root))
        .collect();
    if gated.is_empty() {
        out.push(
            Finding::new(
                "ci",
                Status::Info,
                "no CI file runs `cavra ci check`: changes made outside a governed agent are not caught at review",
            )
            .fix("copy examples/github-actions/cavra-required-check.yml into .github/workflows/ (or examples/gitlab-ci/cavra-required-check.gitlab-ci.yml into .gitlab-ci.yml) and make the check required"),
        );
    } else {
        out.push(Finding::new(
            "ci",
            Status::Ok,
            format!("the CI gate runs in {}", gated.join(", ")),
        ));
    }
}

/// A path relative to the repository root, for messages.
fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_lists_each_finding_with_its_details_and_fix_then_the_counts() {
        let report = Report {
            repository: "/r".into(),
            worst: Status::Fail,
            exit_code: 1,
            findings: vec![
                Finding::new("policy", Status::Ok, "loads"),
                Finding::new("hooks", Status::Fail, "none installed")
                    .details(vec!["no .claude/settings.json".into()])
                    .fix("cavra init claude-code"),
            ],
        };
        let text = report.to_text(false);
        assert_eq!(
            text,
            format!(
                "cavra doctor: /r\nOK    {:<20} loads\nFAIL  {:<20} none installed\n      {:<20}   no .claude/settings.json\n      {:<20} fix: cavra init claude-code\n1 failed, 0 warning(s), 1 ok\n",
                "policy", "hooks", "", ""
            )
        );
        assert!(
            report
                .to_text(true)
                .contains("\x1b[1;31mFAIL\x1b[0m  hooks")
        );
    }

    #[test]
    fn a_hook_server_state_says_whether_it_runs_and_where() {
        let root = std::path::Path::new("/r");
        let stale = HookServerState::Stale {
            socket: PathBuf::from("/run/s"),
        };
        assert_eq!(
            stale.to_json(root),
            serde_json::json!({"root": "/r", "running": false, "socket": "/run/s"})
        );
        assert_eq!(
            stale.to_text(root),
            "hook server for /r: not running\nsocket: /run/s"
        );
        let running = HookServerState::Running("pid 7".into());
        assert_eq!(running.to_json(root)["running"], true);
        assert_eq!(running.to_text(root), "pid 7");
        let no = HookServerState::Unavailable("no folder".into());
        assert_eq!(no.to_json(root)["unavailable"], "no folder");
        assert!(no.to_text(root).ends_with("it cannot run here: no folder"));
    }

    #[test]
    fn exit_code_follows_the_worst_finding() {
        assert_eq!(exit_code(Status::Ok), 0);
        assert_eq!(exit_code(Status::Info), 0);
        assert_eq!(exit_code(Status::Warn), 3);
        assert_eq!(exit_code(Status::Fail), 1);
        assert!(Status::Fail > Status::Warn && Status::Warn > Status::Info);
    }
}

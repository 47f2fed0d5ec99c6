//! Commit trailers: a commit made by a governed agent carries `Cavra-Session: <session id>`,
//! so the CI gate can tell which sessions' evidence a branch's commits claim.
//!
//! The agent hook notes, when it lets a shell command containing `git commit` run, which
//! session asked (`.cavra/pending-commit.json`); the `prepare-commit-msg` git hook that
//! `cavra init` installs runs `cavra trailer`, which adds the trailer when such a note is
//! fresh (two minutes) and removes the note. A commit with no fresh note — a person's —
//! gets nothing. The git hook never blocks a commit.

use crate::support::{self, EXIT_OK, Failure};
use clap::Args;
use std::path::{Path, PathBuf};

/// The trailer key.
pub const TRAILER: &str = "Cavra-Session";
/// How long a note from the agent hook stays usable.
const FRESH_SECONDS: i64 = 120;
const PENDING_FILE: &str = "pending-commit.json";

/// `cavra trailer` arguments (as git passes them to prepare-commit-msg).
#[derive(Debug, Args)]
pub struct TrailerArgs {
    /// The commit message file.
    pub message_file: PathBuf,
    /// The message's source (message, template, merge, squash, commit).
    pub source: Option<String>,
    /// Further arguments git passes (the commit id when amending).
    #[arg(hide = true)]
    pub rest: Vec<String>,
}

fn pending_path(repo_root: &Path) -> PathBuf {
    repo_root.join(cavra_store::STORE_DIR).join(PENDING_FILE)
}

/// Whether a shell command line runs `git commit` (in any composition).
pub fn runs_git_commit(command: &str) -> bool {
    cavra_shell::analyze(command).commands.iter().any(|c| {
        c.canonical == "git commit"
            || c.canonical.starts_with("git commit ")
            || c.variants.iter().any(|v| v.starts_with("git commit"))
    })
}

/// Notes that `session` is about to commit (best effort: a trailer is a convenience for
/// linking, never a control).
pub fn note_commit(repo_root: &Path, session: &str) {
    let note = serde_json::json!({
        "session_id": session,
        "at": time::OffsetDateTime::now_utc().unix_timestamp(),
    });
    let path = pending_path(repo_root);
    let tmp = path.with_extension("json.tmp");
    if std::fs::write(&tmp, note.to_string()).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}

/// A session id is safe to put in a trailer: no line breaks, no control characters.
fn safe(session: &str) -> bool {
    !session.is_empty() && session.len() <= 200 && session.chars().all(|c| !c.is_control())
}

/// `cavra trailer FILE [SOURCE]`: always exits 0.
pub fn run(args: &TrailerArgs) -> Result<i32, Failure> {
    let Ok(cwd) = support::current_dir() else {
        return Ok(EXIT_OK);
    };
    let root = support::find_repo_root(&cwd);
    let path = pending_path(&root);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(EXIT_OK);
    };
    // Used once, whatever happens next.
    let _ = std::fs::remove_file(&path);
    let Ok(note) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(EXIT_OK);
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let fresh = note["at"]
        .as_i64()
        .is_some_and(|at| (0..=FRESH_SECONDS).contains(&(now - at)));
    let Some(session) = note["session_id"].as_str().filter(|s| fresh && safe(s)) else {
        return Ok(EXIT_OK);
    };
    if matches!(args.source.as_deref(), Some("merge") | Some("squash")) {
        return Ok(EXIT_OK);
    }
    let status = std::process::Command::new("git")
        .args([
            "interpret-trailers",
            "--in-place",
            "--if-exists",
            "addIfDifferent",
            "--trailer",
        ])
        .arg(format!("{TRAILER}: {session}"))
        .arg(&args.message_file)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("cavra: could not add the {TRAILER} trailer (the commit goes ahead without it)");
    }
    Ok(EXIT_OK)
}

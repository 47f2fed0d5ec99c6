//! Commit trailers: a commit made by a governed agent carries `Cavra-Session: <session id>`,
//! so the CI gate can tell which sessions' evidence a branch's commits claim.
//!
//! The agent hook notes, when it lets a shell command containing `git commit` run, which
//! session asked (`.cavra/pending-commit.json`, [`note_commit`]); the `prepare-commit-msg` git
//! hook that `cavra init` installs runs `cavra trailer`, which adds the trailer when such a note
//! is fresh (two minutes) and removes the note ([`add_trailer`]). A commit with no fresh note —
//! a person's — gets nothing. The git hook never blocks a commit.

use std::path::{Path, PathBuf};

/// The trailer key.
pub const TRAILER: &str = "Cavra-Session";
/// How long a note from the agent hook stays usable.
const FRESH_SECONDS: i64 = 120;
const PENDING_FILE: &str = "pending-commit.json";

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
    note_commit_at(
        repo_root,
        session,
        time::OffsetDateTime::now_utc().unix_timestamp(),
    );
}

fn note_commit_at(repo_root: &Path, session: &str, at: i64) {
    let note = serde_json::json!({ "session_id": session, "at": at });
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

/// Takes the note the agent hook left in the repository at `repo_root`: the session, when
/// the note is fresh at `now` (unix seconds) and its session is safe to print. The note is
/// removed whatever it holds: it is used once.
pub fn take_note(repo_root: &Path, now: i64) -> Option<String> {
    let path = pending_path(repo_root);
    let text = std::fs::read_to_string(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    let note = serde_json::from_str::<serde_json::Value>(&text).ok()?;
    let fresh = note["at"]
        .as_i64()
        .is_some_and(|at| (0..=FRESH_SECONDS).contains(&(now - at)));
    note["session_id"]
        .as_str()
        .filter(|s| fresh && safe(s))
        .map(str::to_string)
}

/// What [`add_trailer`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrailerOutcome {
    /// No fresh note, or a merge or squash message: the commit is a person's or not one
    /// session's; nothing added.
    Nothing,
    /// The trailer was added for this session.
    Added(String),
    /// `git interpret-trailers` failed; the commit goes ahead without the trailer.
    Failed(String),
}

/// The prepare-commit-msg step: adds `Cavra-Session: <session>` to the message file when the
/// agent hook left a fresh note in the repository at `repo_root`. `source` is git's second
/// argument (message, template, merge, squash, commit).
pub fn add_trailer(repo_root: &Path, message_file: &Path, source: Option<&str>) -> TrailerOutcome {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let Some(session) = take_note(repo_root, now) else {
        return TrailerOutcome::Nothing;
    };
    if matches!(source, Some("merge") | Some("squash")) {
        return TrailerOutcome::Nothing;
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
        .arg(message_file)
        .status();
    if status.is_ok_and(|s| s.success()) {
        TrailerOutcome::Added(session)
    } else {
        TrailerOutcome::Failed(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join(cavra_store::STORE_DIR)).expect("mkdir");
        dir
    }

    #[test]
    fn git_commit_is_found_in_any_composition() {
        for yes in [
            "git commit -m x",
            "git add . && git commit -m 'y'",
            "cd sub; git commit --amend",
            "git -C sub commit -m z",
        ] {
            assert!(runs_git_commit(yes), "{yes}");
        }
        for no in ["git status", "echo git commit", "git log --grep commit"] {
            assert!(!runs_git_commit(no), "{no}");
        }
    }

    #[test]
    fn a_note_is_used_once_and_only_while_fresh() {
        let dir = repo();
        note_commit_at(dir.path(), "sess-1", 1_000);
        assert_eq!(take_note(dir.path(), 1_060).as_deref(), Some("sess-1"));
        assert_eq!(take_note(dir.path(), 1_060), None, "used once");
        note_commit_at(dir.path(), "sess-2", 1_000);
        assert_eq!(
            take_note(dir.path(), 1_000 + FRESH_SECONDS + 1),
            None,
            "stale"
        );
        assert!(
            !pending_path(dir.path()).exists(),
            "a stale note is removed too"
        );
        // A note from the future (a clock set back) is not fresh either.
        note_commit_at(dir.path(), "sess-3", 2_000);
        assert_eq!(take_note(dir.path(), 1_000), None);
    }

    #[test]
    fn a_session_that_could_forge_lines_is_never_printed() {
        let dir = repo();
        for bad in [
            "",
            "a\nSigned-off-by: mallory",
            "tab\there",
            &"x".repeat(201),
        ] {
            note_commit_at(dir.path(), bad, 1_000);
            assert_eq!(take_note(dir.path(), 1_000), None, "{bad:?}");
        }
    }

    #[test]
    fn merges_and_squashes_get_no_trailer() {
        let dir = repo();
        let message = dir.path().join("MSG");
        std::fs::write(&message, "merge\n").expect("write");
        note_commit(dir.path(), "sess-1");
        assert_eq!(
            add_trailer(dir.path(), &message, Some("merge")),
            TrailerOutcome::Nothing
        );
        assert_eq!(std::fs::read_to_string(&message).expect("read"), "merge\n");
        assert!(!pending_path(dir.path()).exists(), "the note is used up");
    }
}

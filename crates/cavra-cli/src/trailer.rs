//! `cavra trailer`: the prepare-commit-msg git hook's command (`cavra_ci::trailer` does the
//! work). It never blocks a commit: it always exits 0.

use crate::support::{self, EXIT_OK, Failure};
use cavra_ci::trailer::{TRAILER, TrailerOutcome, add_trailer};
use clap::Args;
use std::path::PathBuf;

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

/// `cavra trailer FILE [SOURCE]`: always exits 0.
pub fn run(args: &TrailerArgs) -> Result<i32, Failure> {
    let Ok(cwd) = support::current_dir() else {
        return Ok(EXIT_OK);
    };
    let root = support::find_repo_root(&cwd);
    if let TrailerOutcome::Failed(_) =
        add_trailer(&root, &args.message_file, args.source.as_deref())
    {
        eprintln!("cavra: could not add the {TRAILER} trailer (the commit goes ahead without it)");
    }
    Ok(EXIT_OK)
}

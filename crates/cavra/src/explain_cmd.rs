//! `cavra policy explain --decision ID`: `cavra_runtime::local::explain_stored` reads what the
//! store holds about a recorded decision and explains it; this prints the explanation.
//! Read-only.

use crate::support::{self, EXIT_ERROR, EXIT_OK, Failure, FsResolver};
use anyhow::anyhow;

/// Runs `cavra policy explain --decision ID`; exit 0 when the explanation is exact, else 1.
pub fn explain_decision(id: &str, json: bool) -> Result<i32, Failure> {
    let root = support::find_repo_root(&support::current_dir()?);
    let (explanation, stored) =
        cavra_runtime::local::explain_stored(&root, id, &FsResolver).map_err(|e| anyhow!("{e}"))?;
    support::show(
        json,
        &explanation,
        &cavra_runtime::text::recorded(&explanation, &stored),
    )?;
    Ok(if explanation.exact {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

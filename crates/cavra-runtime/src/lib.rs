//! The runtime: everything that happens after the engine has decided one request, written once
//! and called by every entry point (the agent hook, the hook server, the MCP governor, the API
//! service).
//!
//! - [`decide`]: the one decide entry of the entry points that record in the repository's
//!   store ([`decide::Governor::decide`]): the API service first when one is named, and its
//!   fallback; the local policy with the MCP registry; approvals; recording.
//! - [`strictest`]: a tool call mapped to several requests is decided by the strictest of their
//!   decisions (the first on a tie).
//! - [`approvals`]: an approval is bound to the full context of the decision it was asked for
//!   ([`approvals::approval_fingerprint`]), and one pure step ([`approvals::resolve`]) says what
//!   an approval found for a decision does to it: used, denied, still pending, or to be asked
//!   for. [`approvals::settle`] is the whole step against either store (the contract
//!   [`cavra_store::DecisionBook`], kept by the repository's store and the service's); entry
//!   points keep only their writes around it; [`local`] holds those for the repository's own
//!   store (the hook and the MCP governor).
//! - [`record`]: the stored record (redacted as a whole, with what was masked), recording, and
//!   the pack that decided kept once per digest.
//! - [`service`]: one call to the API service, telling an outage from a refusal, and the
//!   readiness probe that container orchestrators run (`cavra healthcheck`).
//! - [`policy`]: which pack applies to a request, the pack cache, and the signature
//!   requirement checked against the trust root ([`signature`]).
//! - [`repo`]: what the entry points read around a request (the branch checked out, the home
//!   folder, symlinks) and files written whole or not at all.
//! - [`keyfiles`]: Ed25519 key files on disk and the repository's log key; [`trust_package`]:
//!   a trust root and signed packs in one signed file for air-gapped machines.
//! - [`testfiles`]: policy test files run against their packs (`cavra policy test`).
//! - [`text`]: the lines people read of an explanation (`cavra policy explain`).
//! - [`proofs`]: inclusion and consistency proofs of the local evidence log.
//! - [`recorded`]: a recorded decision explained exactly as it was decided, from the pack kept
//!   under its digest and the request recorded with it (`cavra policy explain --decision`).
//!
//! [`strictest`] and [`approvals`] are pure like the engine (no I/O, no clock, no global
//! state); the other modules do the storage and network calls around them.

#![warn(missing_docs)]

pub mod approvals;
pub mod decide;
pub mod keyfiles;
pub mod local;
pub mod policy;
pub mod proofs;
pub mod record;
pub mod recorded;
pub mod repo;
pub mod service;
pub mod signature;
pub mod testfiles;
pub mod text;
pub mod trust_file;
pub mod trust_package;

use cavra_engine::Decision;

/// Why the runtime could not decide or record; every entry point answers it with a deny.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A decision could not be written: nothing is answered before it is.
    #[error("could not record the decision ({0}); cavra answers only after recording")]
    Record(#[source] cavra_store::StoreError),
    /// Any other store call failed (approvals, the policy record).
    #[error("{0}")]
    Store(#[from] cavra_store::StoreError),
    /// The repository's MCP registry cannot be read.
    #[error("the MCP registry cannot be read ({0}); fix or re-add its entries")]
    Registry(String),
    /// The pack cannot be put in canonical form.
    #[error("{0}")]
    Policy(String),
    /// The API service refused, or cannot be reached and the fallback is deny.
    #[error("{0}")]
    Refused(String),
    /// The call mapped to no request at all.
    #[error("the tool call produced nothing to decide")]
    Nothing,
    /// A record could not be serialised.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The current time, RFC 3339 with milliseconds, UTC (the engine's decision timestamps).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&format)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// A fresh decision id (UUID v7: unique and time-ordered).
pub fn new_decision_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The index of the strictest decision among `items` (the first on a tie), or `None` when
/// there are none.
pub fn strictest<T>(items: &[T], decision: impl Fn(&T) -> Decision) -> Option<usize> {
    items
        .iter()
        .enumerate()
        .fold(None::<(usize, u8)>, |best, (i, item)| {
            let s = decision(item).strictness();
            match best {
                Some((_, b)) if b >= s => best,
                _ => Some((i, s)),
            }
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictest_first_on_a_tie() {
        use Decision::*;
        assert_eq!(strictest(&[] as &[Decision], |d| *d), None);
        assert_eq!(strictest(&[Allow, Warn, Allow], |d| *d), Some(1));
        assert_eq!(strictest(&[RequireApproval, Block, Block], |d| *d), Some(1));
        assert_eq!(strictest(&[Allow, Allow], |d| *d), Some(0));
    }
}

//! The runtime: everything that happens after the engine has decided one request, written once
//! and called by every entry point (the agent hook, the MCP governor, the API service).
//!
//! - [`strictest`]: a tool call mapped to several requests is decided by the strictest of their
//!   decisions (the first on a tie).
//! - [`approvals`]: an approval is bound to the full context of the decision it was asked for
//!   ([`approvals::approval_fingerprint`]), and one pure step ([`approvals::resolve`]) says what
//!   an approval found for a decision does to it: used, denied, still pending, or to be asked
//!   for. Entry points keep only their storage calls around it; [`local`] holds those calls
//!   for the repository's own store (the hook and the MCP governor).
//!
//! - [`recorded`]: a recorded decision explained exactly as it was decided, from the pack kept
//!   under its digest and the request recorded with it (`cavra policy explain --decision`).
//!
//! Apart from [`local`], pure like the engine: no I/O, no clock, no global state.

#![warn(missing_docs)]

pub mod approvals;
pub mod local;
pub mod recorded;

use cavra_engine::Decision;

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

//! The contract both stores keep for the step after the engine: the approval that decides a
//! request, and the decisions recorded. The repository's [`Store`](crate::Store) keeps it with
//! futures that are ready when returned (synchronous SQLite: the hook never starts an
//! executor); the service's tenant store keeps it for one tenant, on SQLite or PostgreSQL.
//! `cavra_runtime::approvals::settle` is written once against it.
//!
//! Writing a decision stays each store's own transaction: the repository's store writes an
//! approval, its use and each decision as separate steps, the service writes a decision with
//! the approval it asks for or the grant it uses in one; what they write is worked out by
//! `settle`, once, for both.

use crate::{Approval, DecisionFilter, Result, StoredDecision, Timestamp};
use std::future::Future;

/// The approval that decides a request, as a store found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decisive<A> {
    /// A grant the requester may use now (approved or break glass). The repository's store has
    /// already marked it used (its decision write cannot); the service marks it used in the
    /// decision's own transaction, which fails if another request used it first.
    Grant(A),
    /// An approval that is not (or no longer) the requester's to use: pending, denied, or
    /// granted but taken by another request in the meantime (read as still waiting).
    Open(A),
}

impl<A> Decisive<A> {
    /// The approval.
    pub fn approval(&self) -> &A {
        match self {
            Decisive::Grant(a) | Decisive::Open(a) => a,
        }
    }

    /// The approval, taken.
    pub fn into_approval(self) -> A {
        match self {
            Decisive::Grant(a) | Decisive::Open(a) => a,
        }
    }
}

/// What the step after the engine needs of a store. Implemented by the repository's
/// [`Store`](crate::Store) and by the service's tenant store for one tenant
/// (`cavra_tenant_store::TenantBook`).
pub trait DecisionBook {
    /// What only this store keeps of a decision (`StoredDecision<Self::Kept>`).
    type Kept;
    /// What only this store keeps of an approval (`Approval<Self::Granted>`).
    type Granted;

    /// The approval that decides a request with `fingerprint` asked by `requested_by` at `now`:
    /// a grant it may use first, else the newest approval still open (pending or denied);
    /// never one expired at `now`. None when there is none.
    fn decisive_approval(
        &mut self,
        fingerprint: &str,
        requested_by: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<Decisive<Approval<Self::Granted>>>>>;

    /// The decisions `filter` selects, newest first.
    fn list_decisions(
        &mut self,
        filter: &DecisionFilter,
    ) -> impl Future<Output = Result<Vec<StoredDecision<Self::Kept>>>>;
}

impl DecisionBook for crate::Store {
    type Kept = crate::ToolUse;
    type Granted = crate::AtPrompt;

    fn decisive_approval(
        &mut self,
        fingerprint: &str,
        requested_by: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<Decisive<Approval>>>> {
        std::future::ready(self.decisive_now(fingerprint, requested_by, now))
    }

    fn list_decisions(
        &mut self,
        filter: &DecisionFilter,
    ) -> impl Future<Output = Result<Vec<StoredDecision>>> {
        std::future::ready(self.decisions(filter))
    }
}

impl crate::Store {
    /// [`DecisionBook::decisive_approval`], now: a grant is used at once, in its own
    /// transaction ([`Store::consume_approval`](crate::Store::consume_approval)), else the
    /// newest open approval ([`Store::open_approval`](crate::Store::open_approval)); one
    /// approved there (for another request that has not used it yet) reads as waiting.
    fn decisive_now(
        &mut self,
        fingerprint: &str,
        requested_by: &str,
        now: Timestamp,
    ) -> Result<Option<Decisive<Approval>>> {
        if let Some(granted) = self.consume_approval(fingerprint, requested_by, now.time())? {
            return Ok(Some(Decisive::Grant(granted)));
        }
        Ok(self
            .open_approval(fingerprint, now.time())?
            .map(Decisive::Open))
    }
}

/// A future that is ready when first asked: its output, or None when it is not (a store
/// future that would wait). The repository's store's [`DecisionBook`] futures are always
/// ready, so its synchronous callers (the hook) take their output without an executor.
pub fn now_or_never<F: Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApprovalState, NewApproval, Store};

    #[test]
    fn a_ready_future_gives_its_output_and_a_waiting_one_none() {
        assert_eq!(now_or_never(std::future::ready(7)), Some(7));
        assert_eq!(now_or_never(std::future::pending::<u8>()), None);
    }

    #[test]
    fn the_repository_store_answers_at_once_and_uses_a_grant_as_it_finds_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut store = Store::open_repo(dir.path()).expect("store");
        let at = |s: &str| Timestamp::parse(s).expect("time");
        let now = at("2026-01-01T00:10:00Z");
        let ask = |store: &mut Store| {
            now_or_never(store.decisive_approval("sha256:f", "agent:s1", now)).expect("ready")
        };
        assert_eq!(ask(&mut store).expect("none"), None);
        let asked = store
            .create_approval(&NewApproval {
                id: crate::new_approval_id(),
                decision_id: "d1".into(),
                fingerprint: "sha256:f".into(),
                session_id: Some("s1".into()),
                approver_group: "Platform".into(),
                requested_by: "agent:s1".into(),
                summary: "execute_command: make deploy".into(),
                requested_at: at("2026-01-01T00:00:00Z"),
                expires_at: at("2026-01-01T01:00:00Z"),
            })
            .expect("asked");
        let open = ask(&mut store).expect("read").expect("open");
        assert_eq!(open, Decisive::Open(open.approval().clone()));
        assert_eq!(open.approval().state, ApprovalState::Pending);
        store
            .approve(&asked.id, "alice", "ok", at("2026-01-01T00:05:00Z").time())
            .expect("approve");
        let granted = ask(&mut store).expect("read").expect("grant");
        assert!(matches!(granted, Decisive::Grant(_)), "{granted:?}");
        assert_eq!(granted.into_approval().id, asked.id);
        // Used as it was found: a once-use grant decides nothing more.
        assert_eq!(ask(&mut store).expect("read"), None);
        let listed = now_or_never(store.list_decisions(&DecisionFilter::default()))
            .expect("ready")
            .expect("list");
        assert!(listed.is_empty());
    }
}

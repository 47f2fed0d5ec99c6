//! The contract both stores keep for the step after the engine: the approval that decides a
//! request, and the decisions recorded. The repository's [`Store`](crate::Store) keeps it with
//! futures that are ready when returned (synchronous SQLite: the hook never starts an
//! executor); the service's tenant store keeps it for one tenant, on SQLite or PostgreSQL.
//! `cavra_runtime::approvals::settle` is written once against it.
//!
//! Recording is in the contract too: [`DecisionBook::record`] takes one [`ToRecord`], a decided
//! call as `cavra_runtime::record` builds it (its decisions, and the approval the deciding one
//! asks for or the grant it uses), and writes all of it in one transaction of the store, so a
//! failure leaves none of it written. What to write is worked out by `settle`, once, for both.

use crate::{
    Approval, DecisionFilter, NewApproval, NewDecision, Result, StoredDecision, Timestamp,
};
use std::future::Future;

/// The approval that decides a request, as a store found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decisive<A> {
    /// A grant the requester may use now (approved or break glass), not yet marked used: both
    /// stores mark it used in the decision's own transaction ([`ApprovalWrite::Use`]), which
    /// fails if another request used it first.
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

/// The approval step written with a decided call ([`ToRecord::approval`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalWrite {
    /// Nothing: no approval was needed, or the one found (pending, denied) is left as it is.
    None,
    /// The grant `id` is used by `requested_by`, in the decisions' own transaction: the write
    /// fails with [`StoreError::Conflict`](crate::StoreError::Conflict) when it is no longer
    /// usable (used by another request meanwhile, expired, decided again), and nothing is
    /// written.
    Use {
        /// The grant.
        id: String,
        /// Who uses it (the requester the grant was found for).
        requested_by: String,
    },
    /// This new approval is asked of its approver group.
    Ask(NewApproval),
    /// This new approval is asked of the person at the agent's own permission prompt, matched
    /// to the agent's tool call `tool_use_id` (the repository's store only: the service has no
    /// agent prompt and refuses it as [`StoreError::InvalidInput`](crate::StoreError::InvalidInput)).
    AskAtPrompt {
        /// The approval.
        approval: NewApproval,
        /// The agent's id of the tool call, which its result carries too.
        tool_use_id: Option<String>,
    },
}

/// A decided call to record, built once by `cavra_runtime::record` for either store: every
/// decided request of the call, in the order decided (a command's parts, an MCP call's
/// arguments; the service decides one request per call), and the approval step of the one
/// that decides. `E` is what only one store takes with a decision (see [`NewDecision`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ToRecord<E> {
    /// The decisions, in order.
    pub decisions: Vec<NewDecision<E>>,
    /// The index of the deciding decision (the strictest) in `decisions`.
    pub deciding: usize,
    /// The approval step of the deciding decision.
    pub approval: ApprovalWrite,
}

/// What the step after the engine needs of a store. Implemented by the repository's
/// [`Store`](crate::Store) and by the service's tenant store for one tenant
/// (`cavra_tenant_store::TenantBook`).
pub trait DecisionBook {
    /// What only this store keeps of a decision (`StoredDecision<Self::Kept>`).
    type Kept;
    /// What only this store keeps of an approval (`Approval<Self::Granted>`).
    type Granted;
    /// What only this store takes with a new decision (`NewDecision<Self::Taken>`).
    type Taken;
    /// What recording gives back.
    type Receipt;

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

    /// Records a decided call: its approval step (the grant used, or the approval asked
    /// for), each decision and every evidence entry, in one transaction; on any failure
    /// nothing of it is written.
    fn record(
        &mut self,
        call: ToRecord<Self::Taken>,
    ) -> impl Future<Output = Result<Self::Receipt>>;
}

impl DecisionBook for crate::Store {
    type Kept = crate::ToolUse;
    type Granted = crate::AtPrompt;
    type Taken = crate::ToolCall;
    /// The approval written or used (used: as it stands after its use), if any.
    type Receipt = Option<Approval>;

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

    fn record(
        &mut self,
        call: ToRecord<crate::ToolCall>,
    ) -> impl Future<Output = Result<Option<Approval>>> {
        std::future::ready(self.record_call(call))
    }
}

impl crate::Store {
    /// [`DecisionBook::decisive_approval`], now: a grant (left unused: recording the
    /// decision uses it, [`ApprovalWrite::Use`]), else the newest open approval
    /// ([`Store::open_approval`](crate::Store::open_approval)); one approved there (for
    /// another request that has not used it yet) reads as waiting. `requested_by` is not a
    /// filter here: the repository's store binds a grant to its fingerprint alone.
    fn decisive_now(
        &mut self,
        fingerprint: &str,
        _requested_by: &str,
        now: Timestamp,
    ) -> Result<Option<Decisive<Approval>>> {
        if let Some(granted) = self.usable_grant(fingerprint, now)? {
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
    use crate::{ApprovalState, NewApproval, NewDecision, Store};

    #[test]
    fn a_ready_future_gives_its_output_and_a_waiting_one_none() {
        assert_eq!(now_or_never(std::future::ready(7)), Some(7));
        assert_eq!(now_or_never(std::future::pending::<u8>()), None);
    }

    #[test]
    fn the_repository_store_answers_at_once_and_uses_a_grant_when_it_records_the_decision() {
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
        // Found, not used: the decision's own write uses it.
        assert!(matches!(ask(&mut store), Ok(Some(Decisive::Grant(_)))));
        let call = |id: &str| ToRecord {
            decisions: vec![NewDecision {
                decision_id: id.into(),
                session_id: Some("s1".into()),
                agent: Some("claude-code".into()),
                action_type: crate::Subject::Action(cavra_engine::ActionType::ExecuteCommand),
                decision: cavra_engine::Decision::Allow,
                rule_id: "deploy".into(),
                timestamp: now,
                fingerprint: "sha256:f".into(),
                extra: crate::ToolCall::default(),
            }],
            deciding: 0,
            approval: ApprovalWrite::Use {
                id: asked.id.clone(),
                requested_by: "agent:s1".into(),
            },
        };
        let used = now_or_never(store.record(call("d1")))
            .expect("ready")
            .expect("recorded")
            .expect("the grant");
        assert_eq!(used.state, ApprovalState::Consumed);
        // A once-use grant decides nothing more, and a second use writes nothing.
        assert_eq!(ask(&mut store).expect("read"), None);
        let twice = now_or_never(store.record(call("d2"))).expect("ready");
        assert!(
            matches!(twice, Err(crate::StoreError::Conflict(_))),
            "{twice:?}"
        );
        let listed = now_or_never(store.list_decisions(&DecisionFilter::default()))
            .expect("ready")
            .expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].decision_id, "d1");
    }
}

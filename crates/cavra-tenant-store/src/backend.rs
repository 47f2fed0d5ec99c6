//! The contract every backend keeps, one trait per responsibility.
//!
//! The SQLite and PostgreSQL backends implement each trait, so the compiler checks that they
//! offer the same operations with the same types; the backend test suite (`tests/backend.rs`)
//! runs the same scenarios through [`crate::Db`] on both. [`crate::Db`] chooses the backend at
//! run time and implements the traits too, by a `match` per call: a closed set of two backends
//! dispatched statically, so the decision path pays no boxed future per call (as a
//! `dyn`-compatible async trait would need).
//!
//! Every method takes the tenant (except the few that serve the whole service, named so):
//! nothing here can return another tenant's rows.

use std::future::Future;

use crate::outbox::{
    AttemptRecord, AttemptWritten, Claim, Delivery, DeliveryFilter, NewEvent, OutboxEvent, Purged,
    Release, Route,
};
use crate::subtrees::{SubtreeHash, SubtreeRange};
use crate::types::*;
use crate::{Readiness, Result, StoreError};

/// The whole store: every responsibility, plus what identifies the backend.
pub trait TenantStore:
    Directory + Decisions + Approvals + Configuration + Evidence + Send + Sync
{
    /// Which backend (`sqlite` or `postgres`), for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Whether the database answers and its schema is current.
    fn readiness(&self) -> impl Future<Output = Result<Readiness>> + Send;
}

/// Tenants and their API tokens.
pub trait Directory {
    /// Creates a tenant; false if it exists.
    fn create_tenant(&self, tenant: &Tenant) -> impl Future<Output = Result<bool>> + Send;

    /// Every tenant.
    fn tenants(&self) -> impl Future<Output = Result<Vec<Tenant>>> + Send;

    /// One tenant.
    fn tenant(&self, id: &str) -> impl Future<Output = Result<Option<Tenant>>> + Send;

    /// A tenant's entitlement (None: no such tenant). Read on every request the service
    /// has not cached, so it is one row by primary key.
    fn entitlement(
        &self,
        tenant: &str,
    ) -> impl Future<Output = Result<Option<crate::Entitlement>>> + Send;

    /// Replaces a tenant's entitlement (already checked by [`crate::Entitlement::check`]);
    /// false if there is no such tenant.
    fn set_entitlement(
        &self,
        tenant: &str,
        entitlement: &crate::Entitlement,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Stores a new token record.
    fn insert_token(&self, token: &TokenRecord) -> impl Future<Output = Result<()>> + Send;

    /// A token by its public id (any tenant: authentication finds the tenant through it).
    fn token(&self, id: &str) -> impl Future<Output = Result<Option<TokenRecord>>> + Send;

    /// Tokens of a tenant (all tenants: None).
    fn tokens(&self, tenant: Option<&str>)
    -> impl Future<Output = Result<Vec<TokenRecord>>> + Send;

    /// Revokes a token (of `tenant`, when given); false if there is none to revoke.
    fn revoke_token(
        &self,
        tenant: Option<&str>,
        id: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<bool>> + Send;
}

/// Decisions and the sessions they make up.
pub trait Decisions {
    /// Records a decision, the approval it asks for or the grant it uses, and their evidence
    /// entries, in one transaction. The record is redacted with the store's rules and, when
    /// given, `rules` (a policy pack's): in one pass when `rules` already hold every rule of
    /// the store's, else one pass with each. [`Recorded::record`] is the record as stored.
    fn record_decision_with(
        &self,
        tenant: &str,
        write: DecisionWrite,
        rules: Option<&cavra_redact::Redactor>,
    ) -> impl Future<Output = Result<Recorded>> + Send;

    /// Records several decisions of one call (`writes`, in order; at most one asks for or
    /// uses an approval), each as [`Decisions::record_decision_with`] does, all in one
    /// transaction: on any failure none is written. What each produced, in order.
    fn record_decisions_with(
        &self,
        tenant: &str,
        writes: Vec<DecisionWrite>,
        rules: Option<&cavra_redact::Redactor>,
    ) -> impl Future<Output = Result<Vec<Recorded>>> + Send;

    /// [`Decisions::record_decision_with`] with the store's redaction rules only.
    fn record_decision(
        &self,
        tenant: &str,
        write: DecisionWrite,
    ) -> impl Future<Output = Result<Recorded>> + Send {
        self.record_decision_with(tenant, write, None)
    }

    /// [`Decisions::record_decision_with`] with a pack's rules as well as the store's.
    fn record_decision_redacted(
        &self,
        tenant: &str,
        write: DecisionWrite,
        rules: &cavra_redact::Redactor,
    ) -> impl Future<Output = Result<Recorded>> + Send {
        self.record_decision_with(tenant, write, Some(rules))
    }

    /// Decisions of a tenant, newest first.
    fn decisions(
        &self,
        tenant: &str,
        filter: &DecisionFilter,
    ) -> impl Future<Output = Result<Vec<StoredDecision>>> + Send;

    /// One decision of a tenant.
    fn decision(
        &self,
        tenant: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<StoredDecision>>> + Send;

    /// Sessions of a tenant, most recent first.
    fn sessions(
        &self,
        tenant: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<SessionSummary>>> + Send;

    /// One session of a tenant.
    fn session(
        &self,
        tenant: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<SessionSummary>>> + Send;
}

/// Approvals after they are asked for (a decision asks for one in
/// [`Decisions::record_decision_with`]).
pub trait Approvals {
    /// Approvals of a tenant (in one state), newest first.
    fn approvals(
        &self,
        tenant: &str,
        state: Option<ApprovalState>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Approval>>> + Send;

    /// One approval of a tenant.
    fn approval(
        &self,
        tenant: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<Approval>>> + Send;

    /// The approval that bears on a retry of the action `fingerprint` by `requested_by` at
    /// `now`: a usable grant (approved or break-glass, unexpired), else an open request
    /// (pending or denied, unexpired), newest first.
    fn approval_for(
        &self,
        tenant: &str,
        fingerprint: &str,
        requested_by: &str,
        now: Timestamp,
    ) -> impl Future<Output = Result<Option<Approval>>> + Send;

    /// Moves an approval to a new state if it is still in one of `t.from`, recording the
    /// change as an evidence entry in the same transaction.
    fn transition(
        &self,
        tenant: &str,
        id: &str,
        t: Transition,
    ) -> impl Future<Output = Result<TransitionOutcome>> + Send;

    /// Expires every pending or granted approval past its expiry (all tenants); returns
    /// (tenant, approval id) of each.
    fn expire_due(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<(String, String)>>> + Send;

    /// Pending approvals by tenant and group (all tenants), for the metrics.
    fn queue_depths(&self) -> impl Future<Output = Result<Vec<QueueDepth>>> + Send;
}

/// What decides for a tenant: the registry, policy packs and their assignments.
pub trait Configuration {
    /// Creates or replaces a registry record.
    fn put_registry(
        &self,
        tenant: &str,
        record: &RegistryRecord,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Registry records of one kind.
    fn registry(
        &self,
        tenant: &str,
        kind: RegistryKind,
    ) -> impl Future<Output = Result<Vec<RegistryRecord>>> + Send;

    /// One registry record.
    fn registry_entry(
        &self,
        tenant: &str,
        kind: RegistryKind,
        name: &str,
    ) -> impl Future<Output = Result<Option<RegistryRecord>>> + Send;

    /// Deletes a registry record; false if there was none.
    fn delete_registry(
        &self,
        tenant: &str,
        kind: RegistryKind,
        name: &str,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Stores an uploaded pack (idempotent by digest).
    fn put_pack(&self, tenant: &str, pack: &StoredPack) -> impl Future<Output = Result<()>> + Send;

    /// The packs of a tenant.
    fn packs(&self, tenant: &str) -> impl Future<Output = Result<Vec<StoredPack>>> + Send;

    /// One pack of a tenant.
    fn pack(
        &self,
        tenant: &str,
        digest: &str,
    ) -> impl Future<Output = Result<Option<StoredPack>>> + Send;

    /// Assigns a pack to the tenant (`scope` empty) or one of its repositories.
    fn assign(
        &self,
        tenant: &str,
        assignment: &Assignment,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The assignments of a tenant.
    fn assignments(&self, tenant: &str) -> impl Future<Output = Result<Vec<Assignment>>> + Send;
}

/// A tenant's evidence log.
pub trait Evidence {
    /// Evidence entries of a tenant, oldest first.
    fn entries(
        &self,
        tenant: &str,
        query: &EntryQuery,
    ) -> impl Future<Output = Result<Vec<EntryRecord>>> + Send;

    /// How many entries `query` selects (its `after_index` included, its `limit` ignored),
    /// counting no further than `cap + 1`: enough to refuse a selection over `cap` without
    /// reading it.
    fn count_entries(
        &self,
        tenant: &str,
        query: &EntryQuery,
        cap: u64,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// The head of a tenant's log (None: the tenant has no entries yet).
    fn log_head(&self, tenant: &str) -> impl Future<Output = Result<Option<LogHead>>> + Send;

    /// The leaf hashes of entries `start..end` of a tenant's log, as far as it reaches (a gap
    /// inside is an error).
    fn leaf_range(
        &self,
        tenant: &str,
        start: u64,
        end: u64,
    ) -> impl Future<Output = Result<Vec<[u8; 32]>>> + Send;

    /// The first `size` leaf hashes of a tenant's log.
    fn leaf_hashes(
        &self,
        tenant: &str,
        size: u64,
    ) -> impl Future<Output = Result<Vec<[u8; 32]>>> + Send {
        self.leaf_range(tenant, 0, size)
    }

    /// Signs a checkpoint of a tenant's whole log now (None: the tenant has no entries).
    fn checkpoint_now(
        &self,
        tenant: &str,
        at: &str,
    ) -> impl Future<Output = Result<Option<CheckpointRecord>>> + Send;

    /// The newest checkpoint of a tenant's log.
    fn latest_checkpoint(
        &self,
        tenant: &str,
    ) -> impl Future<Output = Result<Option<CheckpointRecord>>> + Send;

    /// The stored hashes of `ranges` of `tenant`'s log, in the same order (None: not stored).
    /// See [`crate::subtrees`].
    fn stored_subtrees(
        &self,
        tenant: &str,
        ranges: &[SubtreeRange],
    ) -> impl Future<Output = Result<Vec<Option<[u8; 32]>>>> + Send;

    /// Stores subtree hashes already checked by [`Evidence::store_subtrees`] (a hash already
    /// stored is kept).
    fn insert_subtrees(
        &self,
        tenant: &str,
        hashes: &[SubtreeHash],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Stores subtree hashes of `tenant`'s log (a hash already stored is kept). The caller
    /// computed each from leaves the log holds; only complete, aligned power-of-two subtrees
    /// are accepted.
    fn store_subtrees(
        &self,
        tenant: &str,
        hashes: &[SubtreeHash],
    ) -> impl Future<Output = Result<()>> + Send
    where
        Self: Sync,
    {
        async move {
            for &(start, size, _) in hashes {
                if !size.is_power_of_two() || start % size != 0 {
                    return Err(StoreError::Corrupt(format!(
                        "[{start}, {start}+{size}) is not an aligned power-of-two subtree"
                    )));
                }
            }
            if hashes.is_empty() {
                return Ok(());
            }
            self.insert_subtrees(tenant, hashes).await
        }
    }

    /// How many subtree hashes of `tenant`'s log are stored (for operators and tests).
    fn stored_subtree_count(&self, tenant: &str) -> impl Future<Output = Result<u64>> + Send;
}

/// The connectors' outbox: events written with the decisions and approvals that caused them,
/// their deliveries, leases and attempts. Claims and routing span every tenant (a worker
/// serves them all); everything else takes the tenant.
pub trait Outbox {
    /// Writes an event of `tenant` outside a decision (a test event, a report), with an
    /// evidence entry `(kind, body)` recording it when given; returns that entry's index.
    fn enqueue_event(
        &self,
        tenant: &str,
        event: NewEvent,
        entry: Option<(String, serde_json::Value)>,
    ) -> impl Future<Output = Result<Option<u64>>> + Send;

    /// Appends one evidence entry `(kind, body)` of `tenant` about `ref_id`, with no event:
    /// what happened at an integration's endpoint (a chat button press refused, say), which
    /// must be in the log but is nobody's delivery. Returns its index.
    fn append_entry(
        &self,
        tenant: &str,
        kind: &str,
        ref_id: Option<&str>,
        at: Timestamp,
        body: serde_json::Value,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Routes and claims in one write: takes up to `limit` events not yet routed (every
    /// tenant, oldest first), creates one delivery per destination `route` gives each (the
    /// connectors' routing, run inside the write) already leased to `owner` for `lease_ms`,
    /// and marks them routed; then, while under `limit` deliveries, claims due ones (retries,
    /// those whose lease ran out) the same way. Another worker takes a claimed delivery over
    /// only after its lease ends.
    fn claim(
        &self,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
        at: Timestamp,
        route: Route,
    ) -> impl Future<Output = Result<Claim>> + Send;

    /// Gives claimed deliveries back without an attempt (their destination's circuit is
    /// open), each due again at its `next_at_ms`, in one write; returns how many `owner`
    /// still held.
    fn release_deliveries(
        &self,
        owner: &str,
        releases: Vec<Release>,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Records the attempts of a batch: each attempt's evidence entry always (appended in
    /// the order given), each delivery's new state when the worker still holds its lease,
    /// and the follow-up events. Each tenant's share is one transaction, whole or not at all
    /// (SQLite writes the whole batch in one; PostgreSQL gives each share to its tenant's
    /// appender). When a share fails the call fails, and the shares of other tenants may
    /// have been written: their leases are released as recorded, and the failed share's
    /// deliveries are taken up again when their lease runs out. The entries' bodies are
    /// redacted and made canonical before the write, off the SQLite writer.
    fn record_attempts(
        &self,
        attempts: Vec<AttemptRecord>,
    ) -> impl Future<Output = Result<Vec<AttemptWritten>>> + Send;

    /// Removes, for every tenant, at most `chunk` finished deliveries (delivered or dead)
    /// that last changed before `before` (compared as the stored text, which sorts as the
    /// time does), then at most `chunk` events created before it that have no delivery left
    /// (routed long ago, or never routed because no connector took them): the outbox's
    /// retention. Each call is one short write; call again while it removes anything, so
    /// that decisions are never held up behind one long delete.
    fn purge_outbox(
        &self,
        before: Timestamp,
        chunk: usize,
    ) -> impl Future<Output = Result<Purged>> + Send;

    /// Deliveries of a tenant, newest first.
    fn deliveries(
        &self,
        tenant: &str,
        filter: &DeliveryFilter,
    ) -> impl Future<Output = Result<Vec<Delivery>>> + Send;

    /// One outbox event of a tenant.
    fn event(
        &self,
        tenant: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<OutboxEvent>>> + Send;

    /// Puts a tenant's dead letters (of one event, one destination, or all) back to pending
    /// with a fresh attempt count and age; returns how many.
    fn retry_dead(
        &self,
        tenant: &str,
        event_id: Option<&str>,
        destination: Option<&str>,
        now_ms: i64,
        at: Timestamp,
    ) -> impl Future<Output = Result<u64>> + Send;
}

/// One tenant of a store (`S`: [`crate::Db`] or a backend), as the step after the engine sees
/// a store ([`cavra_store::DecisionBook`], which the repository's store keeps too): the
/// approval that decides a request ([`Approvals::approval_for`]: an approved or break-glass
/// grant is the requester's to use, its use written with the decision) and the decisions
/// ([`Decisions::decisions`]).
#[derive(Debug, Clone, Copy)]
pub struct TenantBook<'a, S> {
    /// The store.
    pub store: &'a S,
    /// The tenant.
    pub tenant: &'a str,
    /// A policy pack's redaction rules, applied to recorded decisions besides the store's
    /// (`None`: the store's only).
    pub rules: Option<&'a cavra_redact::Redactor>,
}

impl<S: Decisions + Approvals + Sync> cavra_store::DecisionBook for TenantBook<'_, S> {
    type Kept = Provenance;
    type Granted = Grant;
    type Taken = Caller;
    /// What each decision's write produced, in the call's order.
    type Receipt = Vec<Recorded>;

    async fn decisive_approval(
        &mut self,
        fingerprint: &str,
        requested_by: &str,
        now: Timestamp,
    ) -> Result<Option<cavra_store::Decisive<Approval>>> {
        use cavra_store::Decisive;
        let found = self
            .store
            .approval_for(self.tenant, fingerprint, requested_by, now)
            .await?;
        Ok(found.map(|a| match a.state {
            ApprovalState::Approved | ApprovalState::BreakGlass => Decisive::Grant(a),
            _ => Decisive::Open(a),
        }))
    }

    async fn list_decisions(&mut self, filter: &DecisionFilter) -> Result<Vec<StoredDecision>> {
        self.store.decisions(self.tenant, filter).await
    }

    /// One decision (the service's calls: one request each) is one [`DecisionWrite`] in the
    /// decision's transaction ([`TenantBook::record_one`]); several are one transaction of
    /// them all ([`Decisions::record_decisions_with`]). The grant used is the deciding
    /// decision's requester's (who asked is stored with each decision, `Caller::requested_by`).
    async fn record(&mut self, call: cavra_store::ToRecord<Caller>) -> Result<Vec<Recorded>> {
        let cavra_store::ToRecord {
            mut decisions,
            deciding,
            approval,
        } = call;
        let (mut new_approval, mut use_grant) = approval_step(approval)?;
        if deciding >= decisions.len() {
            return Err(StoreError::InvalidInput(format!(
                "the deciding decision {deciding} of a call of {}",
                decisions.len()
            )));
        }
        // One decision (then `deciding` is 0): the one decision's own write.
        if decisions.len() == 1
            && let Some(one) = decisions.pop()
        {
            return Ok(vec![self.write_one(one, new_approval, use_grant).await?]);
        }
        let writes = decisions
            .into_iter()
            .enumerate()
            .map(|(i, decision)| {
                let (new_approval, use_grant) = if i == deciding {
                    (new_approval.take(), use_grant.take())
                } else {
                    (None, None)
                };
                DecisionWrite {
                    decision,
                    new_approval,
                    use_grant,
                }
            })
            .collect();
        self.store
            .record_decisions_with(self.tenant, writes, self.rules)
            .await
    }
}

impl<S: Decisions + Sync> TenantBook<'_, S> {
    /// Records a call of one decided request (the service's: one request a call) with its
    /// approval step: what [`cavra_store::DecisionBook::record`] does with a
    /// [`ToRecord`](cavra_store::ToRecord) of that one decision, without the lists (the
    /// call's, the receipt's) nor `record`'s own future around the write: this is on the
    /// service's path of every decision.
    pub async fn record_one(
        &self,
        decision: NewDecision,
        approval: cavra_store::ApprovalWrite,
    ) -> Result<Recorded> {
        let (new_approval, use_grant) = approval_step(approval)?;
        self.write_one(decision, new_approval, use_grant).await
    }

    /// One decision with its approval step, in the decision's own transaction.
    async fn write_one(
        &self,
        decision: NewDecision,
        new_approval: Option<NewApproval>,
        use_grant: Option<String>,
    ) -> Result<Recorded> {
        self.store
            .record_decision_with(
                self.tenant,
                DecisionWrite {
                    decision,
                    new_approval,
                    use_grant,
                },
                self.rules,
            )
            .await
    }
}

/// The deciding decision's approval step as a [`DecisionWrite`] takes it: the approval asked
/// for, the grant used. The service has no agent prompt to ask at.
fn approval_step(
    approval: cavra_store::ApprovalWrite,
) -> Result<(Option<NewApproval>, Option<String>)> {
    match approval {
        cavra_store::ApprovalWrite::None => Ok((None, None)),
        cavra_store::ApprovalWrite::Use { id, .. } => Ok((None, Some(id))),
        cavra_store::ApprovalWrite::Ask(a) => Ok((Some(a), None)),
        cavra_store::ApprovalWrite::AskAtPrompt { .. } => Err(StoreError::InvalidInput(
            "the service has no agent prompt to ask an approval in".into(),
        )),
    }
}

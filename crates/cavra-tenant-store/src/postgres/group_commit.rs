//! Group commit of plain decisions: one transaction and one lock of the log head for many.

use super::*;

/// One tenant's appender: takes every decision waiting (up to [`BATCH`]) and appends them in
/// one transaction; each caller is answered after the commit. Across replicas the log head's
/// row lock still orders the groups. Should a group fail (a duplicate decision id, say), its
/// decisions are appended one by one, so that only the one at fault fails.
pub(super) async fn append_loop(
    pool: Pool,
    settings: LogSettings,
    tenant: String,
    mut rx: mpsc::Receiver<Pending>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let (items, replies): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .map(|p| ((p.decision, p.prepared, p.event, p.repository), p.reply))
            .unzip();
        match append_group(&pool, &settings, &tenant, &items).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(e) if items.len() == 1 => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(_) => {
                for (item, reply) in items.iter().zip(replies) {
                    let result =
                        match append_group(&pool, &settings, &tenant, std::slice::from_ref(item))
                            .await
                        {
                            Ok(mut r) => r.pop().unwrap_or(Err(StoreError::Closed)),
                            Err(e) => Err(e),
                        };
                    let _ = reply.send(result);
                }
            }
        }
    }
}

/// Appends a group of plain decisions and their log entries in one transaction; answers per
/// decision (one whose entry cannot be built is left out with its error). A database error
/// fails the whole group and nothing of it is committed.
pub(super) async fn append_group(
    pool: &Pool,
    settings: &LogSettings,
    tenant: &str,
    items: &[(
        NewDecision,
        crate::log::PreparedBody,
        Option<crate::outbox::NewEvent>,
        Option<String>,
    )],
) -> Result<Vec<Result<u64>>> {
    let mut c = pool.get().await?;
    let tx = c.transaction().await?;
    let (log_id, mut frontier) = lock_log_head(&tx, tenant).await?;
    let mut entries = EntryColumns::default();
    let mut decisions = DecisionColumns::default();
    let mut checkpoints = Vec::new();
    let mut results = Vec::with_capacity(items.len());
    let mut events = Vec::new();
    for (d, prepared, event, repository) in items {
        let index = frontier.size();
        let at = d.timestamp.to_string();
        let built = match build_entry(
            &settings.redactor,
            tenant,
            index,
            "decision",
            &at,
            EntryBody::Prepared(prepared.clone()),
        ) {
            Ok(b) => b,
            Err(e) => {
                results.push(Err(e.into()));
                continue;
            }
        };
        frontier.push(built.leaf);
        if frontier.size() % CHECKPOINT_EVERY == 0 {
            checkpoints.push(sign_checkpoint(&log_id, &frontier, &at, &settings.signer));
        }
        entries.push(index, d, built);
        decisions.push(index, d, repository);
        if let Some(e) = event {
            events.push((e, index));
        }
        results.push(Ok(index));
    }
    if !entries.idx.is_empty() {
        // The group's statements go out together, in this order, and are answered in it:
        // tokio-postgres pipelines the queries of one connection that are polled at once, so
        // they cost one round trip instead of one each. The statements are prepared once per
        // connection (cached), so preparing them costs no round trip either.
        let insert_entries = tx
            .prepare_cached(
                "INSERT INTO log_entries (tenant, idx, kind, ref_id, session_id, timestamp, entry, leaf_hash) SELECT $1, idx, 'decision', ref_id, session_id, ts, entry, leaf FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::bytea[]) AS u(idx, ref_id, session_id, ts, entry, leaf)",
            )
            .await?;
        let insert_decisions = tx
            .prepare_cached(&format!(
                "INSERT INTO decisions (tenant, {DECISION_COLUMNS}) SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[])"
            ))
            .await?;
        let entry_params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
            &tenant,
            &entries.idx,
            &entries.ref_id,
            &entries.session_id,
            &entries.timestamp,
            &entries.entry,
            &entries.leaf,
        ];
        let decision_params: [&(dyn tokio_postgres::types::ToSql + Sync); 13] = [
            &tenant,
            &decisions.decision_id,
            &decisions.session_id,
            &decisions.agent,
            &decisions.requested_by,
            &decisions.action_type,
            &decisions.decision,
            &decisions.rule_id,
            &decisions.timestamp,
            &decisions.fingerprint,
            &decisions.policy_digest,
            &decisions.log_index,
            &decisions.repository,
        ];
        let (entries_done, decisions_done, head_done, checkpoints_done, events_done) = tokio::join!(
            tx.execute(&insert_entries, &entry_params),
            tx.execute(&insert_decisions, &decision_params),
            store_log_head(&tx, tenant, &frontier),
            async {
                for cp in &checkpoints {
                    insert_checkpoint(&tx, tenant, cp).await?;
                }
                Ok::<_, StoreError>(())
            },
            crate::postgres_outbox::insert_events(&tx, tenant, &events),
        );
        // After a failing statement the others fail too (the transaction is aborted): the
        // first failure in statement order is the one that says why.
        entries_done?;
        decisions_done?;
        head_done?;
        checkpoints_done?;
        events_done?;
    }
    tx.commit().await?;
    Ok(results)
}

/// Log entry columns of a group, as arrays for one `INSERT … SELECT … UNNEST`.
#[derive(Default)]
pub(super) struct EntryColumns {
    idx: Vec<i64>,
    ref_id: Vec<String>,
    session_id: Vec<Option<String>>,
    timestamp: Vec<String>,
    entry: Vec<Vec<u8>>,
    leaf: Vec<Vec<u8>>,
}

impl EntryColumns {
    fn push(&mut self, index: u64, d: &NewDecision, built: crate::log::BuiltEntry) {
        self.idx.push(index as i64);
        self.ref_id.push(d.decision_id.clone());
        self.session_id.push(d.session_id.clone());
        self.timestamp.push(d.timestamp.to_string());
        self.leaf.push(built.leaf.to_vec());
        self.entry.push(built.bytes);
    }
}

/// Decision columns of a group, in [`DECISION_COLUMNS`] order.
#[derive(Default)]
pub(super) struct DecisionColumns {
    decision_id: Vec<String>,
    session_id: Vec<Option<String>>,
    agent: Vec<Option<String>>,
    requested_by: Vec<String>,
    action_type: Vec<&'static str>,
    decision: Vec<&'static str>,
    rule_id: Vec<String>,
    timestamp: Vec<String>,
    fingerprint: Vec<String>,
    policy_digest: Vec<String>,
    log_index: Vec<i64>,
    repository: Vec<Option<String>>,
}

impl DecisionColumns {
    fn push(&mut self, index: u64, d: &NewDecision, repository: &Option<String>) {
        self.decision_id.push(d.decision_id.clone());
        self.session_id.push(d.session_id.clone());
        self.agent.push(d.agent.clone());
        self.requested_by.push(d.extra.requested_by.clone());
        self.action_type.push(d.action_type.as_str());
        self.decision.push(d.decision.as_str());
        self.rule_id.push(d.rule_id.clone());
        self.timestamp.push(d.timestamp.to_string());
        self.fingerprint.push(d.fingerprint.clone());
        self.policy_digest.push(d.extra.policy_digest.clone());
        self.log_index.push(index as i64);
        self.repository.push(repository.clone());
    }
}

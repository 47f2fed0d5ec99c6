//! Appending to a tenant's log under the lock of its head, and its checkpoints.

use super::*;

/// Appends one entry to `tenant`'s log inside `tx`; returns its index. The log head's row
/// stays locked until `tx` ends, so appends of one tenant are serialised across replicas.
pub(crate) async fn append(
    tx: &deadpool_postgres::Transaction<'_>,
    settings: &LogSettings,
    tenant: &str,
    entry: NewEntry<'_>,
) -> Result<u64> {
    let NewEntry {
        kind,
        ref_id,
        session_id,
        timestamp,
        body,
    } = entry;
    let (log_id, mut frontier) = lock_log_head(tx, tenant).await?;
    let index = frontier.size();
    let built = build_entry(&settings.redactor, tenant, index, kind, timestamp, body)?;
    frontier.push(built.leaf);
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO log_entries (tenant, idx, kind, ref_id, session_id, timestamp, entry, leaf_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await?,
        &[
            &tenant,
            &(index as i64),
            &kind,
            &ref_id,
            &session_id,
            &timestamp,
            &built.bytes,
            &built.leaf.as_slice(),
        ],
    )
    .await?;
    store_log_head(tx, tenant, &frontier).await?;
    if frontier.size() % CHECKPOINT_EVERY == 0 {
        insert_checkpoint(
            tx,
            tenant,
            &sign_checkpoint(&log_id, &frontier, timestamp, &settings.signer),
        )
        .await?;
    }
    Ok(index)
}

/// Appends entries to `tenant`'s log inside `tx` in order, under one lock of its head and
/// with one insert (the delivery attempts of a batch); returns their indexes.
pub(crate) async fn append_many(
    tx: &deadpool_postgres::Transaction<'_>,
    settings: &LogSettings,
    tenant: &str,
    entries: Vec<NewEntry<'_>>,
) -> Result<Vec<u64>> {
    let (log_id, mut frontier) = lock_log_head(tx, tenant).await?;
    let n = entries.len();
    let (mut idx, mut kind, mut ref_id, mut session_id, mut ts, mut entry, mut leaf) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let mut checkpoints = Vec::new();
    for e in entries {
        let index = frontier.size();
        let built = build_entry(
            &settings.redactor,
            tenant,
            index,
            e.kind,
            e.timestamp,
            e.body,
        )?;
        frontier.push(built.leaf);
        if frontier.size() % CHECKPOINT_EVERY == 0 {
            checkpoints.push(sign_checkpoint(
                &log_id,
                &frontier,
                e.timestamp,
                &settings.signer,
            ));
        }
        idx.push(index as i64);
        kind.push(e.kind);
        ref_id.push(e.ref_id);
        session_id.push(e.session_id);
        ts.push(e.timestamp);
        entry.push(built.bytes);
        leaf.push(built.leaf.to_vec());
    }
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO log_entries (tenant, idx, kind, ref_id, session_id, timestamp, entry, leaf_hash) SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::bytea[])",
        )
        .await?,
        &[&tenant, &idx, &kind, &ref_id, &session_id, &ts, &entry, &leaf],
    )
    .await?;
    store_log_head(tx, tenant, &frontier).await?;
    for cp in &checkpoints {
        insert_checkpoint(tx, tenant, cp).await?;
    }
    Ok(idx.into_iter().map(|i| i as u64).collect())
}

/// Writes `tenant`'s log head after appends (its row is locked by [`lock_log_head`]).
pub(super) async fn store_log_head(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    frontier: &Frontier,
) -> Result<()> {
    tx.execute(
        &tx.prepare_cached("UPDATE log_meta SET size = $1, frontier = $2 WHERE tenant = $3")
            .await?,
        &[&(frontier.size() as i64), &frontier.to_bytes(), &tenant],
    )
    .await?;
    Ok(())
}

/// Locks `tenant`'s log head (creating it for the first entry) until the transaction `tx`
/// has open ends (a `Transaction`, or a client that sent `BEGIN`); returns the
/// log's id and frontier.
pub(super) async fn lock_log_head<C: GenericClient + Sync>(
    tx: &C,
    tenant: &str,
) -> Result<(String, Frontier)> {
    let lock = tx
        .prepare_cached("SELECT log_id, size, frontier FROM log_meta WHERE tenant = $1 FOR UPDATE")
        .await?;
    let row = match tx.query_opt(&lock, &[&tenant]).await? {
        Some(row) => row,
        None => {
            // The log's first entry: create its head (another replica may do so at the same
            // moment; whichever commits first wins and the other waits for its row lock).
            tx.execute(
                &tx.prepare_cached(
                    "INSERT INTO log_meta (tenant, log_id, size, frontier) VALUES ($1, replace(gen_random_uuid()::text, '-', ''), 0, '\\x'::bytea) ON CONFLICT (tenant) DO NOTHING",
                )
                .await?,
                &[&tenant],
            )
            .await?;
            tx.query_one(&lock, &[&tenant]).await?
        }
    };
    let log_id: String = row.try_get(0)?;
    let size: i64 = row.try_get(1)?;
    let bytes: Vec<u8> = row.try_get(2)?;
    let frontier = Frontier::from_bytes(size as u64, &bytes)
        .map_err(|e| StoreError::Corrupt(format!("log frontier of {tenant}: {e}")))?;
    Ok((log_id, frontier))
}

pub(super) async fn insert_checkpoint(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    c: &CheckpointRecord,
) -> Result<()> {
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO checkpoints (tenant, tree_size, root_hash, timestamp, key_id, envelope) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, tree_size) DO UPDATE SET root_hash = EXCLUDED.root_hash, timestamp = EXCLUDED.timestamp, key_id = EXCLUDED.key_id, envelope = EXCLUDED.envelope",
        )
        .await?,
        &[
            &tenant,
            &(c.tree_size as i64),
            &c.root_hash,
            &c.timestamp,
            &c.key_id,
            &c.envelope,
        ],
    )
    .await?;
    crate::postgres_outbox::insert_event(tx, tenant, &crate::outbox::checkpoint_event(c)?, None)
        .await?;
    Ok(())
}

//! Signed evidence bundles of one tenant's log, in exactly the format `cavra evidence bundle`
//! writes (so `cavra evidence verify` checks them offline), delivered as a tar archive.

use cavra_tenant_store::{Approvals, Configuration, Evidence};
use std::collections::HashMap;
use std::sync::Arc;

use cavra_bundle::{BundleError, BundleOptions, LogSource, Selection};
use cavra_evidence::canonical::to_canonical_bytes;
use cavra_evidence::checkpoint::Checkpoint;
use cavra_evidence::dsse::Envelope;
use cavra_store::{EntryFilter, LogEntry, LogSigner, StoredCheckpoint};
use cavra_tenant_store::{Db, EntryQuery};
use serde_json::Value;

use crate::AppState;
use crate::packs::PackCache;
use crate::problem::Problem;

/// One tenant's log, read for a bundle as it is written: entries page by page, the batch proof
/// from stored subtree hashes, packs and approvals one at a time. Nothing of the selection is
/// held in memory beyond one page of entries and the selected indices, so a bundle's cost in
/// memory does not grow with the log or the selection. Its methods block on the service's
/// runtime: call them from a blocking thread (`spawn_blocking`), as [`write_bundle`] is.
pub struct TenantLog {
    state: Arc<AppState>,
    runtime: tokio::runtime::Handle,
    tenant: String,
    log_id: String,
    checkpoint: StoredCheckpoint,
    max_entries: usize,
    over_cap: std::cell::Cell<bool>,
}

/// Entries read from the store at a time.
const PAGE: usize = 16;

fn too_many_entries(max: usize) -> Problem {
    Problem::unprocessable(format!(
        "the selection holds more than {max} entries (the service's limits.bundle_entries); narrow it with session_id, since or until"
    ))
}

/// Refuses a selection of more than `max_entries` of `tenant`'s log entries. Counted (no further
/// than one past the cap) before anything of it is read, and before a bundle permit is taken,
/// so an oversized request is answered at once whatever else is being assembled.
pub async fn check_selection_size(
    db: &Db,
    tenant: &str,
    selection: &Selection,
    max_entries: usize,
) -> Result<(), Problem> {
    let selected = db
        .count_entries(
            tenant,
            &EntryQuery {
                session_id: selection.session_id.clone(),
                since: selection.since,
                until: selection.until,
                ..EntryQuery::default()
            },
            max_entries as u64,
        )
        .await?;
    if selected > max_entries as u64 {
        return Err(too_many_entries(max_entries));
    }
    Ok(())
}

impl TenantLog {
    /// Checkpoints `tenant`'s log (the bundle covers what it holds now) and prepares to read
    /// it. The caller has checked the selection's size ([`check_selection_size`]);
    /// `max_entries` still bounds what is read, should the log grow in between.
    pub async fn open(
        state: Arc<AppState>,
        tenant: &str,
        now: &str,
        max_entries: usize,
    ) -> Result<TenantLog, Problem> {
        let Some(cp) = state.db.checkpoint_now(tenant, now).await? else {
            return Err(Problem::not_found(
                "evidence (the tenant has no entries yet)",
            ));
        };
        let head = state
            .db
            .log_head(tenant)
            .await?
            .ok_or_else(|| Problem::not_found("evidence"))?;
        let payload = Envelope::from_json(&cp.envelope)
            .and_then(|e| e.payload_bytes())
            .map_err(Problem::internal)?;
        let checkpoint = Checkpoint::from_payload(&payload).map_err(Problem::internal)?;
        Ok(TenantLog {
            state,
            runtime: tokio::runtime::Handle::current(),
            tenant: tenant.to_string(),
            log_id: head.log_id,
            checkpoint: StoredCheckpoint {
                checkpoint,
                envelope: cp.envelope,
            },
            max_entries,
            over_cap: std::cell::Cell::new(false),
        })
    }

    fn block_on<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, Problem>>,
    ) -> Result<T, BundleError> {
        self.runtime
            .block_on(f)
            .map_err(|p| BundleError::Invalid(p.detail))
    }
}

/// The canonical documents of the merged packs with `digests`: built-in packs and the
/// tenant's own uploads (never another tenant's).
async fn policy_documents(
    db: &Db,
    packs: &PackCache,
    tenant: &str,
    digests: &std::collections::BTreeSet<String>,
) -> Result<HashMap<String, String>, Problem> {
    let mut out = HashMap::new();
    if digests.is_empty() {
        return Ok(out);
    }
    let mut candidates = Vec::new();
    for p in cavra_policy::builtin::builtin_packs() {
        if let Ok(c) = packs.builtin(&format!("{}{}", crate::packs::BUILTIN, p.id)) {
            candidates.push(c);
        }
    }
    for stored in db.packs(tenant).await? {
        if let Ok(c) = packs.uploaded(&stored.digest, &stored.document) {
            candidates.push(c);
        }
    }
    for c in candidates {
        if digests.contains(&c.digest) && !out.contains_key(&c.digest) {
            let canonical = cavra_policy::canonical_document(&c.document)
                .map_err(|e| Problem::internal(e.message))?;
            out.insert(c.digest.clone(), canonical);
        }
    }
    Ok(out)
}

impl LogSource for TenantLog {
    fn log_id(&self) -> Result<String, BundleError> {
        Ok(self.log_id.clone())
    }

    fn checkpoint(
        &mut self,
        _fresh: Option<&LogSigner>,
        _created_at: &str,
    ) -> Result<StoredCheckpoint, BundleError> {
        // Signed by the store when the log was opened; every entry read is below its size.
        Ok(self.checkpoint.clone())
    }

    fn for_each_entry(
        &self,
        filter: &EntryFilter,
        f: &mut dyn FnMut(LogEntry) -> Result<(), BundleError>,
    ) -> Result<(), BundleError> {
        let below = filter
            .below
            .unwrap_or(self.checkpoint.checkpoint.tree_size)
            .min(self.checkpoint.checkpoint.tree_size);
        let mut after = None;
        let mut seen = 0usize;
        loop {
            let query = EntryQuery {
                session_id: filter.session_id.clone(),
                since: filter.since,
                until: filter.until,
                after_index: after,
                limit: PAGE,
                ..EntryQuery::default()
            };
            let page =
                self.block_on(async { Ok(self.state.db.entries(&self.tenant, &query).await?) })?;
            let Some(last) = page.last().map(|e| e.index) else {
                return Ok(());
            };
            for e in page {
                if e.index >= below {
                    return Ok(());
                }
                seen += 1;
                if seen > self.max_entries {
                    self.over_cap.set(true);
                    return Err(BundleError::Selection(format!(
                        "more than {} entries",
                        self.max_entries
                    )));
                }
                let bytes = to_canonical_bytes(&e.entry);
                let leaf = cavra_evidence::merkle::leaf_hash(&bytes);
                if hex::encode(leaf) != e.leaf_hash {
                    return Err(BundleError::Invalid(format!(
                        "tenant {}: entry {} does not match its leaf hash",
                        self.tenant, e.index
                    )));
                }
                f(LogEntry {
                    index: e.index,
                    kind: e.kind,
                    ref_id: e.ref_id,
                    session_id: e.session_id,
                    timestamp: e.timestamp,
                    bytes,
                    leaf_hash: leaf,
                })?;
            }
            after = Some(last);
        }
    }

    fn leaf_hashes(&self, size: u64) -> Result<Vec<[u8; 32]>, BundleError> {
        self.block_on(async { Ok(self.state.db.leaf_hashes(&self.tenant, size).await?) })
    }

    fn batch_proof(&self, size: u64, indices: &[u64]) -> Result<Vec<[u8; 32]>, BundleError> {
        self.block_on(self.state.subtrees.batch_proof(
            &self.state.db,
            &self.tenant,
            &self.log_id,
            size,
            indices,
        ))
    }

    fn policy_document(&self, digest: &str) -> Result<Option<String>, BundleError> {
        let wanted = std::collections::BTreeSet::from([digest.to_string()]);
        let mut found = self.block_on(policy_documents(
            &self.state.db,
            &self.state.packs,
            &self.tenant,
            &wanted,
        ))?;
        Ok(found.remove(digest))
    }

    fn approval(&self, id: &str) -> Result<Option<Value>, BundleError> {
        let found = self.block_on(async { Ok(self.state.db.approval(&self.tenant, id).await?) })?;
        found
            .map(|a| {
                serde_json::to_value(&a)
                    .map_err(|e| BundleError::Invalid(format!("approval {id}: {e}")))
            })
            .transpose()
    }
}

/// Writes the bundle of `selection` from `log` (signed with `signer`) into a new temporary
/// folder, which holds `bundle/`. Blocks: call it from a blocking thread.
pub fn write_bundle(
    mut log: TenantLog,
    selection: Selection,
    signer: &LogSigner,
    retention_days: u32,
) -> Result<tempfile::TempDir, Problem> {
    let dir = tempfile::tempdir().map_err(Problem::internal)?;
    let out = dir.path().join("bundle");
    let max = log.max_entries;
    let result = cavra_bundle::write_bundle_from(
        &mut log,
        &out,
        BundleOptions {
            selection,
            sign: Some(signer),
            log_signer: None,
            retention_days,
            legal_hold: false,
            created_at: time::OffsetDateTime::now_utc(),
            progress: None,
        },
    );
    match result {
        Ok(_) => Ok(dir),
        Err(_) if log.over_cap.get() => Err(too_many_entries(max)),
        Err(BundleError::Selection(m)) => {
            Err(Problem::not_found(&format!("evidence to bundle ({m})")))
        }
        Err(other) => Err(Problem::internal(other)),
    }
}

/// A `Write` that hands what is written to an HTTP response body in chunks, waiting while the
/// client is behind (the channel holds a few chunks): memory stays at a few chunks whatever the
/// bundle's size. A client that went away fails the next write, which stops the archive.
struct ChunkWriter {
    buf: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Result<axum::body::Bytes, std::io::Error>>,
}

/// Bytes per chunk of a streamed bundle.
const CHUNK_BYTES: usize = 64 * 1024;

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES));
        self.tx
            .blocking_send(Ok(chunk.into()))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK_BYTES - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The response body chunks of a streamed bundle.
pub struct Chunks(tokio::sync::mpsc::Receiver<Result<axum::body::Bytes, std::io::Error>>);

impl futures_core::Stream for Chunks {
    type Item = Result<axum::body::Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// Streams `dir/bundle` as a tar archive: the receiving half is the response body, filled
/// by a blocking thread as the client reads. A failure part-way ends the body early (the
/// archive then lacks its end marker, which tar readers report).
pub fn stream_tar(dir: tempfile::TempDir, on_done: impl FnOnce() + Send + 'static) -> Chunks {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut writer = ChunkWriter {
            buf: Vec::with_capacity(CHUNK_BYTES),
            tx: tx.clone(),
        };
        let mut archive = tar::Builder::new(&mut writer);
        archive.mode(tar::HeaderMode::Deterministic);
        let result = archive
            .append_dir_all("bundle", dir.path().join("bundle"))
            .and_then(|_| archive.finish());
        drop(archive);
        let result = result.and_then(|_| std::io::Write::flush(&mut writer));
        if let Err(e) = result
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            let _ = tx.blocking_send(Err(e));
        }
        drop(dir);
        on_done();
    });
    Chunks(rx)
}

//! The evidence log: an append-only, tamper-evident record of every decision, outcome and
//! approval transition the store records.
//!
//! Each entry is a canonical JSON object (RFC 8785 style), redacted before it is written, and
//! a leaf of an RFC 6962 Merkle tree. An entry is appended in the *same* SQLite transaction
//! as the record it describes, so the two are durable together (one fsync, `synchronous=FULL`)
//! and a crash leaves neither or both: SQLite's WAL drops a torn, uncommitted tail on the
//! next open (its frames carry checksums), so a half-written entry is never accepted.
//!
//! The tree's compact range ([`Frontier`]) is kept beside the entries, so appending costs
//! `O(log n)` hashes and a checkpoint never re-reads the log. Every
//! [`Store::checkpoint_every`] entries a checkpoint (size, tree head, time, key id) is signed
//! with the log key, when the store has one ([`Store::set_log_signer`]). [`Store::verify_log`]
//! re-reads everything: each entry's hash, its position, every checkpoint's tree head and
//! signature, and the stored frontier.

use cavra_evidence::canonical::to_canonical_bytes;
use cavra_evidence::checkpoint::Checkpoint;
use cavra_evidence::compact::Frontier;
use cavra_evidence::dsse::Envelope;
use cavra_evidence::keys::SigningKey;
use cavra_evidence::merkle::{Hash, leaf_hash};
use cavra_evidence::trust::TrustRoot;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::{Result, Store, StoreError, Timestamp};

/// The `format` of a log entry.
pub const ENTRY_FORMAT: &str = "cavra-log-entry/v1";

/// The key id a repository's log key signs under: `log-` and its fingerprint's first 12 hex
/// digits (so a trust root holding it must use this id).
pub fn log_key_id(key: &cavra_evidence::keys::VerifyingKey) -> String {
    format!("log-{}", &cavra_evidence::keys::key_id(key)[..12])
}

/// The key that signs checkpoints.
pub struct LogSigner {
    /// Key id (as in the trust root).
    pub key_id: String,
    /// The private key.
    pub key: SigningKey,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Loads the signer when a checkpoint is due (so a store that is only read, or a hook call
/// that does not checkpoint, never reads the private key).
pub type SignerLoader = Box<dyn FnMut() -> std::result::Result<LogSigner, String> + Send>;

/// What kind of record an entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A decision.
    Decision,
    /// A tool call's outcome.
    Outcome,
    /// An approval's state change.
    Approval,
}

impl EntryKind {
    /// The kind word.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Decision => "decision",
            EntryKind::Outcome => "outcome",
            EntryKind::Approval => "approval",
        }
    }
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Position in the log (leaf index, from 0).
    pub index: u64,
    /// Kind word.
    pub kind: String,
    /// The decision or approval id it is about.
    pub ref_id: Option<String>,
    /// Agent session.
    pub session_id: Option<String>,
    /// Entry time, as stored. Kept as the stored text, not a [`Timestamp`]: the log is read to
    /// be checked, and a damaged row must come back to be reported, not refuse to read.
    pub timestamp: String,
    /// The canonical JSON bytes (the leaf's content).
    pub bytes: Vec<u8>,
    /// The stored leaf hash.
    pub leaf_hash: Hash,
}

impl LogEntry {
    /// Whether the entry's bytes still hash to its stored leaf hash (the entry alone; the
    /// tree, its checkpoints and their signatures are [`Store::verify_log`]'s).
    pub fn hash_matches(&self) -> bool {
        leaf_hash(&self.bytes) == self.leaf_hash
    }

    /// The entry as JSON, when it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.bytes).ok()
    }
}

/// A stored checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// Its signed envelope (JSON).
    pub envelope: String,
}

/// Which entries to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryFilter {
    /// Only this session's entries.
    pub session_id: Option<String>,
    /// Entries at or after this time (compared as the stored text, whose order is time order).
    pub since: Option<Timestamp>,
    /// Entries before this time.
    pub until: Option<Timestamp>,
    /// Only entries with index below this (a checkpoint's size).
    pub below: Option<u64>,
}

/// What [`Store::verify_log`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogReport {
    /// The log id.
    pub log_id: String,
    /// Entries read.
    pub entries: u64,
    /// Checkpoints whose tree head matched.
    pub checkpoints: u64,
    /// Checkpoints whose signature verified against the trust root given.
    pub signatures_verified: u64,
    /// The current tree head (hex).
    pub root_hash: String,
    /// Every problem found; empty when the log verifies.
    pub problems: Vec<String>,
}

impl LogReport {
    /// True when nothing was wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// What people read: the log's figures, each problem, and the verdict.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "log {}: {} entries, {} checkpoints ({} signatures verified), tree head {}\n",
            self.log_id, self.entries, self.checkpoints, self.signatures_verified, self.root_hash
        );
        for p in &self.problems {
            out.push_str(&format!("FAIL {p}\n"));
        }
        out.push_str(if self.ok() {
            "verified\n"
        } else {
            "NOT verified\n"
        });
        out
    }
}

fn hash_from(bytes: &[u8]) -> Result<Hash> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("a stored hash is not 32 bytes".into()))
}

/// A column's bytes whether it was stored as a blob or (by someone editing the file) as text.
fn any_bytes(v: rusqlite::types::ValueRef<'_>) -> Vec<u8> {
    match v {
        rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => b.to_vec(),
        _ => Vec::new(),
    }
}

/// The log's state row inside a transaction.
fn state(tx: &Transaction<'_>) -> Result<(String, Frontier)> {
    let (log_id, size, bytes): (String, i64, Vec<u8>) = tx
        .prepare_cached("SELECT log_id, size, frontier FROM log_meta WHERE id = 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let frontier = Frontier::from_bytes(size as u64, &bytes)
        .map_err(|e| StoreError::Corrupt(format!("stored log frontier: {e}")))?;
    Ok((log_id, frontier))
}

impl Store {
    /// Sets where the checkpoint key comes from.
    pub fn set_log_signer(&mut self, loader: SignerLoader) {
        self.signer_loader = Some(loader);
    }

    /// How often (in entries) a checkpoint is signed while appending.
    pub fn checkpoint_every(&mut self, entries: u64) {
        self.checkpoint_every = entries.max(1);
    }
}

/// What appending needs besides the transaction (borrowed from the store's fields, so that
/// the transaction can hold the connection at the same time).
pub(crate) struct Appender<'a> {
    pub(crate) redactor: &'a cavra_redact::Redactor,
    pub(crate) signer: &'a mut Option<SignerLoader>,
    pub(crate) checkpoint_every: u64,
}

/// One entry to append to the local log: what it is, what it is about, when, and its body
/// (redacted by [`Appender::append`] before it is hashed).
pub(crate) struct NewEntry<'a> {
    /// Decision, outcome, approval, ….
    pub(crate) kind: EntryKind,
    /// The record it is about.
    pub(crate) ref_id: Option<&'a str>,
    /// The session.
    pub(crate) session_id: Option<&'a str>,
    /// Its time (stored text).
    pub(crate) timestamp: &'a str,
    /// Its body.
    pub(crate) body: Value,
}

impl Appender<'_> {
    /// Appends one entry inside `tx`: redacts it, hashes it, extends the frontier and, when
    /// due, signs a checkpoint. Returns the entry's index.
    pub(crate) fn append(&mut self, tx: &Transaction<'_>, e: NewEntry<'_>) -> Result<u64> {
        let NewEntry {
            kind,
            ref_id,
            session_id,
            timestamp,
            body,
        } = e;
        let (log_id, mut frontier) = state(tx)?;
        let index = frontier.size();
        let mut entry = Map::new();
        entry.insert("format".into(), json!(ENTRY_FORMAT));
        entry.insert("index".into(), json!(index));
        entry.insert("kind".into(), json!(kind.as_str()));
        entry.insert("time".into(), json!(timestamp));
        entry.insert("body".into(), body);
        // The last line of defence: whatever the caller left in, no secret reaches the log.
        let redacted = self.redactor.redact_json(&Value::Object(entry));
        let mut entry = redacted.value;
        if !redacted.findings.is_empty() {
            entry["redactions"] = serde_json::to_value(&redacted.findings)?;
        }
        let bytes = to_canonical_bytes(&entry);
        let leaf = leaf_hash(&bytes);
        frontier.push(leaf);
        tx.prepare_cached(
            "INSERT INTO log_entries (idx, kind, ref_id, session_id, timestamp, entry, leaf_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![index as i64, kind.as_str(), ref_id, session_id, timestamp, bytes, leaf.as_slice()],
        )?;
        tx.prepare_cached("UPDATE log_meta SET size = ?1, frontier = ?2 WHERE id = 1")?
            .execute(params![frontier.size() as i64, frontier.to_bytes()])?;
        if frontier.size() % self.checkpoint_every == 0
            && let Some(load) = self.signer.as_mut()
        {
            // A key that cannot be read skips this checkpoint; the next one covers these
            // entries, and `verify_log` reports entries no checkpoint covers.
            if let Ok(signer) = load() {
                insert_checkpoint(tx, &log_id, &frontier, timestamp, &signer)?;
            }
        }
        Ok(index)
    }
}

impl Store {
    /// Signs a checkpoint of the whole log now (even if the last one has the same size).
    pub fn checkpoint_now(
        &mut self,
        signer: &LogSigner,
        timestamp: &str,
    ) -> Result<StoredCheckpoint> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let (log_id, frontier) = state(&tx)?;
        let stored = insert_checkpoint(&tx, &log_id, &frontier, timestamp, signer)?;
        tx.commit()?;
        Ok(stored)
    }

    /// The log id and size.
    pub fn log_state(&self) -> Result<(String, u64, Hash)> {
        let (log_id, size, bytes): (String, i64, Vec<u8>) = self.conn.query_row(
            "SELECT log_id, size, frontier FROM log_meta WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let frontier = Frontier::from_bytes(size as u64, &bytes)
            .map_err(|e| StoreError::Corrupt(format!("stored log frontier: {e}")))?;
        Ok((log_id, size as u64, frontier.root()))
    }

    /// Entries matching the filter, in log order.
    pub fn log_entries(&self, filter: &EntryFilter) -> Result<Vec<LogEntry>> {
        let mut out = Vec::new();
        self.for_each_entry(filter, |e| {
            out.push(e);
            Ok(())
        })?;
        Ok(out)
    }

    /// The entries about one decision or approval id (its `ref_id`), in log order.
    pub fn log_entries_about(&self, ref_id: &str) -> Result<Vec<LogEntry>> {
        let mut stmt = self.conn.prepare(
            "SELECT idx, kind, ref_id, session_id, timestamp, entry, leaf_hash FROM log_entries
             WHERE ref_id = ?1 ORDER BY idx",
        )?;
        let mut rows = stmt.query(params![ref_id])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(LogEntry {
                index: r.get::<_, i64>(0)? as u64,
                kind: r.get(1)?,
                ref_id: r.get(2)?,
                session_id: r.get(3)?,
                timestamp: r.get(4)?,
                bytes: any_bytes(r.get_ref(5)?),
                leaf_hash: hash_from(&any_bytes(r.get_ref(6)?))?,
            });
        }
        Ok(out)
    }

    /// Calls `f` on each matching entry, in log order, without holding them all in memory.
    pub fn for_each_entry(
        &self,
        filter: &EntryFilter,
        mut f: impl FnMut(LogEntry) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT idx, kind, ref_id, session_id, timestamp, entry, leaf_hash FROM log_entries
             WHERE (?1 IS NULL OR session_id = ?1) AND (?2 IS NULL OR timestamp >= ?2)
               AND (?3 IS NULL OR timestamp < ?3) AND (?4 IS NULL OR idx < ?4)
             ORDER BY idx",
        )?;
        let mut rows = stmt.query(params![
            filter.session_id,
            filter.since,
            filter.until,
            filter.below.map(|b| b as i64)
        ])?;
        while let Some(r) = rows.next()? {
            f(LogEntry {
                index: r.get::<_, i64>(0)? as u64,
                kind: r.get(1)?,
                ref_id: r.get(2)?,
                session_id: r.get(3)?,
                timestamp: r.get(4)?,
                bytes: any_bytes(r.get_ref(5)?),
                leaf_hash: hash_from(&any_bytes(r.get_ref(6)?))?,
            })?;
        }
        Ok(())
    }

    /// The stored leaf hashes of the first `size` entries.
    pub fn leaf_hashes(&self, size: u64) -> Result<Vec<Hash>> {
        let mut stmt = self
            .conn
            .prepare("SELECT leaf_hash FROM log_entries WHERE idx < ?1 ORDER BY idx")?;
        let mut rows = stmt.query(params![size as i64])?;
        let mut out = Vec::with_capacity(size as usize);
        while let Some(r) = rows.next()? {
            let leaf: Vec<u8> = r.get(0)?;
            out.push(hash_from(&leaf)?);
        }
        Ok(out)
    }

    /// Every stored checkpoint, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>> {
        let mut stmt = self
            .conn
            .prepare("SELECT envelope FROM checkpoints ORDER BY tree_size, timestamp")?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<std::result::Result<_, _>>()?;
        rows.into_iter()
            .map(|envelope| {
                let env = Envelope::from_json(&envelope)
                    .map_err(|e| StoreError::Corrupt(format!("stored checkpoint: {e}")))?;
                let payload = env
                    .payload_bytes()
                    .map_err(|e| StoreError::Corrupt(format!("stored checkpoint: {e}")))?;
                let checkpoint = Checkpoint::from_payload(&payload)
                    .map_err(|e| StoreError::Corrupt(format!("stored checkpoint: {e}")))?;
                Ok(StoredCheckpoint {
                    checkpoint,
                    envelope,
                })
            })
            .collect()
    }

    /// Re-reads the whole log and checks it: every entry's leaf hash against its bytes, its
    /// position, its embedded index, the tree head at every checkpoint (and, with a trust
    /// root, each checkpoint's signature) and the stored frontier.
    pub fn verify_log(&self, trust: Option<&TrustRoot>) -> Result<LogReport> {
        let (log_id, size, bytes): (String, i64, Vec<u8>) = self.conn.query_row(
            "SELECT log_id, size, frontier FROM log_meta WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, any_bytes(r.get_ref(2)?))),
        )?;
        let size = size as u64;
        let mut report = LogReport {
            log_id: log_id.clone(),
            ..LogReport::default()
        };
        let stored_root = match Frontier::from_bytes(size, &bytes) {
            Ok(f) => Some(f.root()),
            Err(_) => {
                report
                    .problems
                    .push("the stored log state (size and tree head) is damaged".into());
                None
            }
        };
        let checkpoints = match self.checkpoints() {
            Ok(c) => c,
            Err(e) => {
                report.problems.push(e.to_string());
                Vec::new()
            }
        };
        let mut pending = checkpoints.iter().peekable();
        let mut frontier = Frontier::new();
        let check_at = |frontier: &Frontier,
                        report: &mut LogReport,
                        pending: &mut std::iter::Peekable<
            std::slice::Iter<'_, StoredCheckpoint>,
        >| {
            while let Some(cp) = pending.next_if(|c| c.checkpoint.tree_size == frontier.size()) {
                check_checkpoint(cp, &log_id, frontier, trust, report);
            }
        };
        check_at(&frontier, &mut report, &mut pending);
        self.for_each_entry(&EntryFilter::default(), |e| {
            let expected = frontier.size();
            if e.index != expected {
                report
                    .problems
                    .push(format!("entry {expected} is missing (found {})", e.index));
            }
            let computed = leaf_hash(&e.bytes);
            if computed != e.leaf_hash {
                report.problems.push(format!(
                    "entry {}: content does not match its leaf hash",
                    e.index
                ));
            }
            match serde_json::from_slice::<Value>(&e.bytes) {
                Ok(v) if v.get("index").and_then(Value::as_u64) == Some(e.index) => {}
                Ok(_) => report
                    .problems
                    .push(format!("entry {}: embedded index differs", e.index)),
                Err(_) => report.problems.push(format!("entry {}: not JSON", e.index)),
            }
            frontier.push(computed);
            report.entries += 1;
            check_at(&frontier, &mut report, &mut pending);
            Ok(())
        })?;
        for cp in pending {
            report.problems.push(format!(
                "checkpoint of size {} is beyond the log ({} entries): entries were removed",
                cp.checkpoint.tree_size,
                frontier.size()
            ));
        }
        if frontier.size() != size {
            report.problems.push(format!(
                "the log records {size} entries but holds {}",
                frontier.size()
            ));
        }
        if stored_root.is_some_and(|r| r != frontier.root()) {
            report
                .problems
                .push("the stored tree head differs from the entries".into());
        }
        report.root_hash = hex::encode(frontier.root());
        Ok(report)
    }
}

fn check_checkpoint(
    cp: &StoredCheckpoint,
    log_id: &str,
    frontier: &Frontier,
    trust: Option<&TrustRoot>,
    report: &mut LogReport,
) {
    let size = cp.checkpoint.tree_size;
    if cp.checkpoint.log_id != log_id {
        report
            .problems
            .push(format!("checkpoint of size {size} belongs to another log"));
        return;
    }
    if cp.checkpoint.root_hash != hex::encode(frontier.root()) {
        report.problems.push(format!(
            "checkpoint of size {size}: tree head differs from the entries (an entry before it was changed)"
        ));
        return;
    }
    report.checkpoints += 1;
    if let Some(trust) = trust {
        let opened = Envelope::from_json(&cp.envelope)
            .map_err(|e| e.to_string())
            .and_then(|env| Checkpoint::open(&env, trust).map_err(|e| e.to_string()));
        match opened {
            Ok((signed, _)) if signed == cp.checkpoint => report.signatures_verified += 1,
            Ok(_) => report
                .problems
                .push(format!("checkpoint of size {size}: signed payload differs")),
            Err(e) => report
                .problems
                .push(format!("checkpoint of size {size}: {e}")),
        }
    }
}

fn insert_checkpoint(
    tx: &Transaction<'_>,
    log_id: &str,
    frontier: &Frontier,
    timestamp: &str,
    signer: &LogSigner,
) -> Result<StoredCheckpoint> {
    let checkpoint = Checkpoint::new(
        log_id,
        frontier.size(),
        &frontier.root(),
        timestamp,
        signer.key_id.clone(),
    );
    let envelope = checkpoint.sign(&signer.key).to_json();
    tx.execute(
        "INSERT OR REPLACE INTO checkpoints (tree_size, root_hash, timestamp, key_id, envelope) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![frontier.size() as i64, checkpoint.root_hash, timestamp, signer.key_id, envelope],
    )?;
    Ok(StoredCheckpoint {
        checkpoint,
        envelope,
    })
}

/// Policy sources by digest, so that evidence can carry the exact packs that decided.
impl Store {
    /// Whether the merged pack with this digest is stored.
    pub fn has_policy(&self, digest: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM policies WHERE digest = ?1",
                params![digest],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Stores a merged pack's canonical JSON under its digest (once).
    pub fn record_policy(
        &mut self,
        digest: &str,
        origin: &str,
        canonical: &str,
        timestamp: &str,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO policies (digest, origin, document, first_used) VALUES (?1, ?2, ?3, ?4)",
            params![digest, origin, canonical, timestamp],
        )?;
        Ok(())
    }

    /// A stored pack: (origin, canonical JSON).
    pub fn policy(&self, digest: &str) -> Result<Option<(String, String)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT origin, document FROM policies WHERE digest = ?1",
                params![digest],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }
}

//! `evidence.verify` and `hook_coverage.floor`: one pass over a tenant's evidence log that
//! recomputes every leaf hash, notices a missing index, rebuilds the tree head and compares it
//! with the stored head and the latest checkpoint, and folds the same entries into the AISPM
//! posture (whose hook coverage the floor is checked against). One read serves both, as the
//! log is the largest thing the gate reads.

use cavra_aispm::{Accumulator, Posture};
use cavra_evidence::canonical::to_canonical_bytes;
use cavra_evidence::checkpoint::Checkpoint;
use cavra_evidence::dsse::Envelope;
use cavra_evidence::merkle::{Hash, leaf_hash, root};
use cavra_tenant_store::{CheckpointRecord, Db, EntryQuery, EntryRecord, Evidence, LogHead};

/// Entries read from the store at a time.
const PAGE: usize = 2048;

/// What the pass found: the problems of the log (none: it verifies) and its posture.
#[derive(Debug)]
pub struct LogReading {
    /// Each way the log fails to verify, in words (at most [`MAX_PROBLEMS`] named).
    pub problems: Vec<String>,
    /// Entries read.
    pub entries: u64,
    /// The posture of the entries read.
    pub posture: Posture,
}

/// Problems named one by one; past this many, one more line says how many more there were.
pub const MAX_PROBLEMS: usize = 10;

/// Checks a log's entries as they are read in index order, then its head and checkpoint.
#[derive(Default)]
pub struct LogVerifier {
    leaves: Vec<Hash>,
    next: u64,
    problems: Vec<String>,
    hidden: usize,
    acc: Accumulator,
}

impl LogVerifier {
    /// A verifier that has read nothing.
    pub fn new() -> Self {
        Self::default()
    }

    fn problem(&mut self, p: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        } else {
            self.hidden += 1;
        }
    }

    /// The next entry: its index must follow the last one read and its stored leaf hash must
    /// be the hash of its canonical form.
    pub fn push(&mut self, e: &EntryRecord) {
        let expected = self.next;
        if e.index != expected {
            self.problem(format!(
                "entry {expected} is missing (the log jumps to entry {})",
                e.index
            ));
        }
        // One gap is one problem: counting resumes after the entry read.
        self.next = e.index + 1;
        let leaf = leaf_hash(&to_canonical_bytes(&e.entry));
        if hex::encode(leaf) != e.leaf_hash {
            self.problem(format!(
                "entry {} does not match its stored leaf hash (changed after it was written)",
                e.index
            ));
        }
        // The recomputed hash goes into the tree: a changed entry then also changes the head.
        self.leaves.push(leaf);
        self.acc.push_value(&e.entry);
    }

    /// The head and latest checkpoint the store holds, checked against the entries read.
    pub fn finish(
        mut self,
        head: Option<&LogHead>,
        checkpoint: Option<&CheckpointRecord>,
    ) -> LogReading {
        let size = self.leaves.len() as u64;
        if let Some(h) = head {
            if h.size != size {
                self.problem(format!(
                    "the log's head says {} entries, {size} were read",
                    h.size
                ));
            } else if hex::encode(root(&self.leaves)) != h.root_hash {
                self.problem(
                    "the tree head recomputed from the entries is not the stored head".into(),
                );
            }
        } else if size > 0 {
            self.problem(format!("{size} entries but no log head"));
        }
        if let Some(cp) = checkpoint {
            self.checkpoint(cp);
        }
        if self.hidden > 0 {
            let n = self.hidden;
            self.problems.push(format!("… and {n} more"));
        }
        LogReading {
            problems: self.problems,
            entries: size,
            posture: self.acc.finish(),
        }
    }

    fn checkpoint(&mut self, cp: &CheckpointRecord) {
        let signed = Envelope::from_json(&cp.envelope)
            .ok()
            .and_then(|env| env.payload_bytes().ok())
            .and_then(|p| Checkpoint::from_payload(&p).ok());
        let Some(signed) = signed else {
            self.problem(format!(
                "the checkpoint of {} entries does not read as a signed checkpoint",
                cp.tree_size
            ));
            return;
        };
        if signed.root_hash != cp.root_hash || signed.tree_size != cp.tree_size {
            self.problem("the stored checkpoint is not the one its signature covers".into());
        }
        match usize::try_from(cp.tree_size) {
            Ok(n) if n <= self.leaves.len() => {
                if hex::encode(root(&self.leaves[..n])) != signed.root_hash {
                    self.problem(format!(
                        "the checkpoint's root over {n} entries is not the root of those entries"
                    ));
                }
            }
            _ => self.problem(format!(
                "the checkpoint covers {} entries, the log holds {}",
                cp.tree_size,
                self.leaves.len()
            )),
        }
    }
}

/// Reads `tenant`'s whole log once: verification and posture.
pub async fn read_log(db: &Db, tenant: &str) -> cavra_tenant_store::Result<LogReading> {
    // The head first: entries appended while the pass runs are left to the next run.
    let head = db.log_head(tenant).await?;
    let checkpoint = db.latest_checkpoint(tenant).await?;
    let size = head.as_ref().map_or(0, |h| h.size);
    let mut v = LogVerifier::new();
    let mut after: Option<u64> = None;
    loop {
        let page = db
            .entries(
                tenant,
                &EntryQuery {
                    after_index: after,
                    limit: PAGE,
                    ..EntryQuery::default()
                },
            )
            .await?;
        let Some(last) = page.last().map(|e| e.index) else {
            break;
        };
        for e in page.iter().take_while(|e| e.index < size) {
            v.push(e);
        }
        if last + 1 >= size {
            break;
        }
        after = Some(last);
    }
    let mut reading = v.finish(head.as_ref(), checkpoint.as_ref());
    reading
        .posture
        .tenant
        .get_or_insert_with(|| tenant.to_string());
    Ok(reading)
}

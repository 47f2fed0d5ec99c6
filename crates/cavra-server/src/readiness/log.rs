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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(index: u64) -> EntryRecord {
        let entry =
            json!({"format": "x", "index": index, "kind": "decision", "body": {"n": index}});
        EntryRecord {
            index,
            kind: "decision".into(),
            ref_id: None,
            session_id: None,
            timestamp: "2026-12-01T00:00:00Z".into(),
            leaf_hash: hex::encode(leaf_hash(&to_canonical_bytes(&entry))),
            entry,
        }
    }

    fn log(n: u64) -> (Vec<EntryRecord>, LogHead, CheckpointRecord) {
        let entries: Vec<_> = (0..n).map(entry).collect();
        let leaves: Vec<Hash> = entries
            .iter()
            .map(|e| leaf_hash(&to_canonical_bytes(&e.entry)))
            .collect();
        let head = LogHead {
            log_id: "l".into(),
            size: n,
            root_hash: hex::encode(root(&leaves)),
        };
        let cp = Checkpoint::new("l", n - 1, &root(&leaves[..(n - 1) as usize]), "t", "k");
        let key = cavra_evidence::keys::from_seed(&[3; 32]);
        let record = CheckpointRecord {
            tree_size: cp.tree_size,
            root_hash: cp.root_hash.clone(),
            timestamp: "t".into(),
            key_id: "k".into(),
            envelope: cp.sign(&key).to_json(),
        };
        (entries, head, record)
    }

    fn problems(entries: &[EntryRecord], head: &LogHead, cp: &CheckpointRecord) -> Vec<String> {
        let mut v = LogVerifier::new();
        for e in entries {
            v.push(e);
        }
        v.finish(Some(head), Some(cp)).problems
    }

    #[test]
    fn an_intact_log_verifies() {
        let (entries, head, cp) = log(5);
        assert_eq!(problems(&entries, &head, &cp), Vec::<String>::new());
    }

    #[test]
    fn a_changed_entry_is_found_by_its_leaf_hash_and_the_head() {
        let (mut entries, head, cp) = log(5);
        entries[2].entry["body"]["n"] = json!(99);
        let p = problems(&entries, &head, &cp);
        assert!(
            p.iter().any(|p| p.contains("entry 2 does not match")),
            "{p:?}"
        );
        assert!(p.iter().any(|p| p.contains("tree head")), "{p:?}");
    }

    #[test]
    fn a_missing_entry_is_a_gap() {
        let (mut entries, head, cp) = log(5);
        entries.remove(1);
        let p = problems(&entries, &head, &cp);
        assert!(p.iter().any(|p| p.contains("entry 1 is missing")), "{p:?}");
        assert!(
            p.iter().any(|p| p.contains("says 5 entries, 4 were read")),
            "{p:?}"
        );
    }

    #[test]
    fn a_head_or_checkpoint_that_is_not_the_entries_root_is_found() {
        let (entries, mut head, mut cp) = log(5);
        head.root_hash = "00".repeat(32);
        let p = problems(&entries, &head, &cp);
        assert!(p.iter().any(|p| p.contains("tree head")), "{p:?}");
        let (entries, head, _) = log(5);
        // A checkpoint signed over another root.
        let other = Checkpoint::new("l", 4, &[7u8; 32], "t", "k");
        cp.root_hash = other.root_hash.clone();
        cp.envelope = other
            .sign(&cavra_evidence::keys::from_seed(&[3; 32]))
            .to_json();
        let p = problems(&entries, &head, &cp);
        assert!(p.iter().any(|p| p.contains("checkpoint's root")), "{p:?}");
        // A stored record that is not what its envelope signed.
        let (entries, head, mut cp) = log(5);
        cp.root_hash = "11".repeat(32);
        let p = problems(&entries, &head, &cp);
        assert!(
            p.iter()
                .any(|p| p.contains("not the one its signature covers")),
            "{p:?}"
        );
    }
}

//! Proofs about the repository's local evidence log, against a checkpoint signed now with the
//! repository's log key: one entry's inclusion, or that the log extends an earlier signed
//! checkpoint. The files are [`cavra_evidence::proof_file::ProofFile`]s, checked anywhere.

use crate::keyfiles::{self, KeyFileError};
use cavra_evidence::merkle::{self, MerkleError};
use cavra_evidence::proof_file::ProofFile;
use cavra_store::{EntryFilter, Store, StoreError};
use std::path::Path;
use time::OffsetDateTime;

/// Why a proof could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// The entry asked for is not in the log (yet).
    #[error("entry {index} is beyond the log ({size} entries)")]
    Beyond {
        /// The entry asked for.
        index: u64,
        /// Entries in the log.
        size: u64,
    },
    /// No signed checkpoint of the size asked for.
    #[error(
        "no signed checkpoint of size {0} in this log (`cavra evidence log verify --json` lists the log; checkpoints are signed every 64 entries)"
    )]
    NoCheckpoint(u64),
    /// The log lacks an entry its size counts.
    #[error("entry {0} is missing from the log")]
    Missing(u64),
    /// The log key could not be read.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// The store failed (its message only: the store's own words say what).
    #[error("{0}")]
    Store(StoreError),
    /// The proof could not be computed.
    #[error("{0}")]
    Merkle(MerkleError),
}

fn store(e: StoreError) -> ProveError {
    ProveError::Store(e)
}

/// Signs a checkpoint of the whole log at `now` with the repository's log key.
fn checkpoint_now(
    repo_root: &Path,
    store: &mut Store,
    now: OffsetDateTime,
) -> Result<cavra_store::StoredCheckpoint, ProveError> {
    let signer = keyfiles::log_key(repo_root)?;
    let now = cavra_store::format_time(now).map_err(self::store)?;
    store.checkpoint_now(&signer, &now).map_err(self::store)
}

/// The inclusion proof of entry `index` against a checkpoint signed at `now`.
pub fn inclusion(
    repo_root: &Path,
    store: &mut Store,
    index: u64,
    now: OffsetDateTime,
) -> Result<ProofFile, ProveError> {
    let cp = checkpoint_now(repo_root, store, now)?;
    let size = cp.checkpoint.tree_size;
    if index >= size {
        return Err(ProveError::Beyond { index, size });
    }
    let leaves = store.leaf_hashes(size).map_err(self::store)?;
    let entry = store
        .log_entries(&EntryFilter {
            below: Some(index + 1),
            ..Default::default()
        })
        .map_err(self::store)?
        .into_iter()
        .find(|e| e.index == index)
        .ok_or(ProveError::Missing(index))?;
    let proof = merkle::inclusion_proof(&leaves, index as usize).map_err(ProveError::Merkle)?;
    Ok(ProofFile::inclusion(
        index,
        String::from_utf8_lossy(&entry.bytes).into_owned(),
        cp.envelope,
        &proof,
    ))
}

/// The consistency proof from the signed checkpoint of `from` entries to one signed at `now`.
pub fn consistency(
    repo_root: &Path,
    store: &mut Store,
    from: u64,
    now: OffsetDateTime,
) -> Result<ProofFile, ProveError> {
    let old = store
        .checkpoints()
        .map_err(self::store)?
        .into_iter()
        .rfind(|c| c.checkpoint.tree_size == from)
        .ok_or(ProveError::NoCheckpoint(from))?;
    let new = checkpoint_now(repo_root, store, now)?;
    let leaves = store
        .leaf_hashes(new.checkpoint.tree_size)
        .map_err(self::store)?;
    let proof = merkle::consistency_proof(&leaves, from as usize).map_err(ProveError::Merkle)?;
    Ok(ProofFile::consistency(old.envelope, new.envelope, &proof))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Caller, record_decision};
    use cavra_engine::{ActionType, CompiledPack, Env, NoSymlinks, Request};

    fn pack() -> CompiledPack {
        let resolved = cavra_policy::load_pack_str(
            "metadata: {id: t, version: '1'}\nrules: []\n",
            "t.yaml",
            Path::new("/"),
        )
        .expect("pack");
        cavra_policy::compile(&resolved).expect("compile")
    }

    /// Records decisions `from..to` in the store.
    fn record(store: &mut Store, pack: &CompiledPack, from: usize, to: usize) {
        for i in from..to {
            let request = Request::new(ActionType::ReadFile, format!("f{i}"));
            let id = format!("d{i}");
            let env = Env {
                timestamp: "2026-01-01T00:00:00.000Z",
                decision_id: &id,
                resolver: &NoSymlinks,
            };
            let decided = cavra_engine::evaluate::evaluate(pack, &request, &env);
            record_decision(
                store,
                pack.redactor(),
                &Caller::default(),
                &Vec::new(),
                &request,
                &decided,
                false,
            )
            .expect("recorded");
        }
    }

    fn tree_size(proof: &ProofFile) -> u64 {
        let env = cavra_evidence::dsse::Envelope::from_json(&proof.checkpoint).expect("envelope");
        let payload = env.payload_bytes().expect("payload");
        cavra_evidence::checkpoint::Checkpoint::from_payload(&payload)
            .expect("checkpoint")
            .tree_size
    }

    #[test]
    fn an_entry_is_proved_against_the_log_key_and_one_past_the_end_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open_repo(dir.path()).expect("store");
        record(&mut store, &pack(), 0, 3);
        let now = OffsetDateTime::now_utc();
        let proof = inclusion(dir.path(), &mut store, 1, now).expect("proof");
        let trust = keyfiles::own_log_trust(dir.path())
            .expect("trust")
            .expect("log key");
        let said = proof.check(&trust).expect("checks");
        assert!(said.starts_with("entry 1 is in log "), "{said}");
        let size = tree_size(&proof);
        assert!(matches!(
            inclusion(dir.path(), &mut store, size, now),
            Err(ProveError::Beyond { index, size: s }) if index == size && s >= size
        ));
    }

    #[test]
    fn the_log_is_proved_to_extend_a_signed_checkpoint_and_an_unsigned_size_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open_repo(dir.path()).expect("store");
        let pack = pack();
        record(&mut store, &pack, 0, 2);
        let now = OffsetDateTime::now_utc();
        let from = checkpoint_now(dir.path(), &mut store, now)
            .expect("checkpoint")
            .checkpoint
            .tree_size;
        record(&mut store, &pack, 2, 5);
        let proof = consistency(dir.path(), &mut store, from, now).expect("proof");
        assert!(tree_size(&proof) > from);
        let trust = keyfiles::own_log_trust(dir.path())
            .expect("trust")
            .expect("log key");
        let said = proof.check(&trust).expect("checks");
        assert!(
            said.ends_with(&format!(
                "extends the tree of {from} (nothing before was changed)"
            )),
            "{said}"
        );
        assert!(matches!(
            consistency(dir.path(), &mut store, from + 1000, now),
            Err(ProveError::NoCheckpoint(n)) if n == from + 1000
        ));
    }
}

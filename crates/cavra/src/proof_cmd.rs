//! `cavra evidence prove|consistency|check-proof`: single-entry inclusion proofs and
//! consistency proofs between two checkpoints of the local log, produced here and checked
//! anywhere, offline, against a trust root.

use crate::evidence_cmd::{read_trust, write_atomic};
use crate::support::{self, EXIT_ERROR, EXIT_OK, Failure};
use anyhow::{Context as _, anyhow};
use cavra_evidence::checkpoint::Checkpoint;
use cavra_evidence::dsse::Envelope;
use cavra_evidence::merkle::{self, Hash};
use cavra_runtime::keyfiles;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `format` of an inclusion proof file.
pub const INCLUSION_FORMAT: &str = "cavra-inclusion-proof/v1";
/// `format` of a consistency proof file.
pub const CONSISTENCY_FORMAT: &str = "cavra-consistency-proof/v1";

/// A proof file: either kind.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofFile {
    format: String,
    /// Inclusion: the entry's index and its canonical JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entry: Option<String>,
    /// Consistency: the older checkpoint (signed envelope JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    old_checkpoint: Option<String>,
    /// The checkpoint the proof leads to (signed envelope JSON).
    checkpoint: String,
    /// The proof's hashes (hex).
    hashes: Vec<String>,
}

/// Writes the proof to `output`, or prints it (it is JSON itself). With `json` and a file, what
/// was written is printed as JSON.
fn write_out(output: Option<&Path>, proof: &ProofFile, json: bool) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(proof).map_err(|e| anyhow!("{e}"))? + "\n";
    match output {
        Some(path) => {
            write_atomic(path, text.as_bytes())?;
            if json {
                crate::support::print_json(&serde_json::json!({
                    "written": path,
                    "format": proof.format,
                    "index": proof.index,
                }))?;
            } else {
                eprintln!("wrote {}", path.display());
            }
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn now() -> Result<String, Failure> {
    cavra_store::format_time(time::OffsetDateTime::now_utc()).map_err(|e| anyhow!("{e}").into())
}

/// `cavra evidence prove --index N`
pub fn prove(index: u64, output: Option<&Path>, json: bool) -> Result<i32, Failure> {
    let (root, mut store) = crate::evidence_cmd::open_repo_store()?;
    let signer = keyfiles::log_key(&root)?;
    let cp = store
        .checkpoint_now(&signer, &now()?)
        .map_err(|e| anyhow!("{e}"))?;
    let size = cp.checkpoint.tree_size;
    if index >= size {
        return Err(Failure::Usage(format!(
            "--index {index} is beyond the log ({size} entries)"
        )));
    }
    let leaves = store.leaf_hashes(size).map_err(|e| anyhow!("{e}"))?;
    let entry = store
        .log_entries(&cavra_store::EntryFilter {
            below: Some(index + 1),
            ..Default::default()
        })
        .map_err(|e| anyhow!("{e}"))?
        .into_iter()
        .find(|e| e.index == index)
        .ok_or_else(|| anyhow!("entry {index} is missing from the log"))?;
    let proof = merkle::inclusion_proof(&leaves, index as usize).map_err(|e| anyhow!("{e}"))?;
    write_out(
        output,
        &ProofFile {
            format: INCLUSION_FORMAT.into(),
            index: Some(index),
            entry: Some(String::from_utf8_lossy(&entry.bytes).into_owned()),
            old_checkpoint: None,
            checkpoint: cp.envelope,
            hashes: proof.iter().map(hex::encode).collect(),
        },
        json,
    )?;
    Ok(EXIT_OK)
}

/// `cavra evidence consistency --from SIZE`
pub fn consistency(from: u64, output: Option<&Path>, json: bool) -> Result<i32, Failure> {
    let (root, mut store) = crate::evidence_cmd::open_repo_store()?;
    let old = store
        .checkpoints()
        .map_err(|e| anyhow!("{e}"))?
        .into_iter()
        .rfind(|c| c.checkpoint.tree_size == from)
        .ok_or_else(|| {
            anyhow!("no signed checkpoint of size {from} in this log (`cavra evidence log verify --json` lists the log; checkpoints are signed every 64 entries)")
        })?;
    let signer = keyfiles::log_key(&root)?;
    let new = store
        .checkpoint_now(&signer, &now()?)
        .map_err(|e| anyhow!("{e}"))?;
    let leaves = store
        .leaf_hashes(new.checkpoint.tree_size)
        .map_err(|e| anyhow!("{e}"))?;
    let proof = merkle::consistency_proof(&leaves, from as usize).map_err(|e| anyhow!("{e}"))?;
    write_out(
        output,
        &ProofFile {
            format: CONSISTENCY_FORMAT.into(),
            index: None,
            entry: None,
            old_checkpoint: Some(old.envelope),
            checkpoint: new.envelope,
            hashes: proof.iter().map(hex::encode).collect(),
        },
        json,
    )?;
    Ok(EXIT_OK)
}

fn open_checkpoint(
    text: &str,
    trust: &cavra_evidence::trust::TrustRoot,
) -> Result<(Checkpoint, Hash), String> {
    let env = Envelope::from_json(text).map_err(|e| format!("checkpoint: {e}"))?;
    let (cp, _) = Checkpoint::open(&env, trust).map_err(|e| e.to_string())?;
    let root = cp.root().map_err(|e| e.to_string())?;
    Ok((cp, root))
}

/// Checks a proof file; the answer and the reason.
fn check(proof: &ProofFile, trust: &cavra_evidence::trust::TrustRoot) -> Result<String, String> {
    let hashes: Vec<Hash> = proof
        .hashes
        .iter()
        .map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok()))
        .collect::<Option<_>>()
        .ok_or("a proof hash is not 32 bytes of hex")?;
    let (cp, root) = open_checkpoint(&proof.checkpoint, trust)?;
    match proof.format.as_str() {
        INCLUSION_FORMAT => {
            let (Some(index), Some(entry)) = (proof.index, proof.entry.as_deref()) else {
                return Err("an inclusion proof needs index and entry".into());
            };
            let embedded = serde_json::from_str::<serde_json::Value>(entry)
                .ok()
                .and_then(|v| v.get("index").and_then(|i| i.as_u64()));
            if embedded != Some(index) {
                return Err("the entry's own index differs from the proof's".into());
            }
            merkle::verify_inclusion(
                &merkle::leaf_hash(entry.as_bytes()),
                index,
                cp.tree_size,
                &hashes,
                &root,
            )
            .map_err(|e| format!("entry {index} is not in the signed tree: {e}"))?;
            Ok(format!(
                "entry {index} is in log {} of {} entries (tree head {})",
                cp.log_id, cp.tree_size, cp.root_hash
            ))
        }
        CONSISTENCY_FORMAT => {
            let old_text = proof
                .old_checkpoint
                .as_deref()
                .ok_or("a consistency proof needs old_checkpoint")?;
            let (old, old_root) = open_checkpoint(old_text, trust)?;
            if old.log_id != cp.log_id {
                return Err("the two checkpoints are of different logs".into());
            }
            merkle::verify_consistency(old.tree_size, cp.tree_size, &old_root, &root, &hashes)
                .map_err(|e| format!("the later log does not extend the earlier one: {e}"))?;
            Ok(format!(
                "log {}: the tree of {} entries extends the tree of {} (nothing before was changed)",
                cp.log_id, cp.tree_size, old.tree_size
            ))
        }
        other => Err(format!("unknown proof format {other:?}")),
    }
}

/// `cavra evidence check-proof FILE --trust-root FILE`
pub fn check_proof(file: &PathBuf, trust_root: &Path, json: bool) -> Result<i32, Failure> {
    let trust = read_trust(trust_root)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let result = serde_json::from_str::<ProofFile>(&text)
        .map_err(|e| format!("not a proof file: {e}"))
        .and_then(|p| check(&p, &trust));
    if json {
        support::print_json(&serde_json::json!({
            "ok": result.is_ok(),
            "detail": match &result { Ok(s) | Err(s) => s },
        }))?;
    } else {
        match &result {
            Ok(s) => println!("verified: {s}"),
            Err(e) => println!("NOT verified: {e}"),
        }
    }
    Ok(if result.is_ok() { EXIT_OK } else { EXIT_ERROR })
}

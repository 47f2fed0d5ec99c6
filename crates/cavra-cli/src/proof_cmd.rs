//! `cavra evidence prove|consistency|check-proof`: single-entry inclusion proofs and
//! consistency proofs between two checkpoints of the local log, made by `cavra_runtime::proofs`
//! and checked anywhere, offline, against a trust root.

use crate::evidence_cmd::{read_trust, write_atomic};
use crate::support::{self, EXIT_ERROR, EXIT_OK, Failure};
use anyhow::{Context as _, anyhow};
use cavra_evidence::proof_file::ProofFile;
use cavra_runtime::proofs::{self, ProveError};
use std::path::{Path, PathBuf};

/// Writes the proof to `output`, or prints it (it is JSON itself). With `json` and a file, what
/// was written is printed as JSON.
fn write_out(output: Option<&Path>, proof: &ProofFile, json: bool) -> Result<(), Failure> {
    let text = proof.to_text();
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

fn failure(e: ProveError) -> Failure {
    match e {
        ProveError::Beyond { index, size } => Failure::Usage(format!(
            "--index {index} is beyond the log ({size} entries)"
        )),
        ProveError::Key(e) => e.into(),
        other => anyhow!("{other}").into(),
    }
}

/// `cavra evidence prove --index N`
pub fn prove(index: u64, output: Option<&Path>, json: bool) -> Result<i32, Failure> {
    let (root, mut store) = crate::evidence_cmd::open_repo_store()?;
    let now = time::OffsetDateTime::now_utc();
    let proof = proofs::inclusion(&root, &mut store, index, now).map_err(failure)?;
    write_out(output, &proof, json)?;
    Ok(EXIT_OK)
}

/// `cavra evidence consistency --from SIZE`
pub fn consistency(from: u64, output: Option<&Path>, json: bool) -> Result<i32, Failure> {
    let (root, mut store) = crate::evidence_cmd::open_repo_store()?;
    let now = time::OffsetDateTime::now_utc();
    let proof = proofs::consistency(&root, &mut store, from, now).map_err(failure)?;
    write_out(output, &proof, json)?;
    Ok(EXIT_OK)
}

/// `cavra evidence check-proof FILE --trust-root FILE`
pub fn check_proof(file: &PathBuf, trust_root: &Path, json: bool) -> Result<i32, Failure> {
    let trust = read_trust(trust_root)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let result = ProofFile::parse(&text)
        .and_then(|p| p.check(&trust))
        .map_err(|e| e.to_string());
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

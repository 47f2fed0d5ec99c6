//! Step 6, the status summary: where each step of the chain stands, from its records. Each
//! record is verified against the trust root; per step the latest record that verifies
//! counts. A step with no record, or whose latest record did not pass, stands in the way.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cavra_evidence::trust::TrustRoot;
use cavra_server::packet::Reason;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::verify::Checks;
use crate::{FileDigest, Record, ReviewError, Step, Written};

/// Where one step stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepState {
    /// The step.
    pub step: Step,
    /// `passed`, `failed` (recorded, not passed) or `missing`.
    pub state: String,
    /// The record that counts.
    pub record: Option<String>,
    /// When it was signed.
    pub signed_at: Option<String>,
    /// What stood in the way, as the record says.
    pub problems: Vec<String>,
}

/// What the records say about the chain.
#[derive(Debug, Clone)]
pub struct States {
    /// Each step but the status itself, in the chain's order.
    pub steps: Vec<StepState>,
    /// Records that do not verify: name and reason.
    pub unverified: Vec<String>,
    /// Every record read, by digest.
    pub digests: Vec<FileDigest>,
}

/// The steps' states from the records among `sources` (files or folders), verified against
/// `trust`; records that do not verify are listed by name and reason.
pub fn states(sources: &[PathBuf], trust: &TrustRoot) -> Result<States, ReviewError> {
    let mut files = Vec::new();
    for s in sources {
        collect(s, &mut files)?;
    }
    let mut latest: BTreeMap<Step, (String, String, Record)> = BTreeMap::new();
    let mut unverified = Vec::new();
    let mut digests = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for path in files {
        let bytes = crate::read_file(&path)?;
        let Some(record) = crate::closeout::record_of(&String::from_utf8_lossy(&bytes)) else {
            continue;
        };
        // A record copied into a closeout bundle is the same record.
        if !seen.insert(crate::sha256(&bytes)) || record.step == Step::Status {
            continue;
        }
        let name = path.display().to_string();
        digests.push(FileDigest::of(&name, &bytes));
        let signed_at = match crate::verify::record(
            &String::from_utf8_lossy(&bytes),
            trust,
            &Checks::default(),
        ) {
            Ok(v) => v.signed_at,
            // Verified, and records that its step did not pass.
            Err(r) if r.reason == Reason::BlockersOpen => {
                let env =
                    cavra_evidence::dsse::Envelope::from_json(&String::from_utf8_lossy(&bytes));
                env.ok()
                    .and_then(|e| e.payload_bytes().ok())
                    .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
                    .and_then(|p| p["signed_at"].as_str().map(str::to_string))
                    .unwrap_or_default()
            }
            Err(r) => {
                unverified.push(format!("{name}: {}", r.reason.as_str()));
                continue;
            }
        };
        let newer = latest
            .get(&record.step)
            .is_none_or(|(_, at, _)| signed_at > *at);
        if newer {
            latest.insert(record.step, (name, signed_at, record));
        }
    }
    let states = Step::ALL
        .iter()
        .filter(|s| **s != Step::Status)
        .map(|step| match latest.remove(step) {
            Some((name, at, rec)) => StepState {
                step: *step,
                state: if rec.passed { "passed" } else { "failed" }.into(),
                record: Some(name),
                signed_at: Some(at),
                problems: rec.problems,
            },
            None => StepState {
                step: *step,
                state: "missing".into(),
                record: None,
                signed_at: None,
                problems: Vec::new(),
            },
        })
        .collect();
    Ok(States {
        steps: states,
        unverified,
        digests,
    })
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), ReviewError> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| crate::file_error(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            collect(&p, out)?;
        }
    } else if path.extension().is_some_and(|e| e == "json") {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// The summary in Markdown.
pub fn markdown(states: &[StepState], unverified: &[String]) -> String {
    let mut out = String::from(
        "# Operating review chain: status\n\n| step | state | signed at | record |\n|---|---|---|---|\n",
    );
    for s in states {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            s.step.as_str(),
            s.state,
            s.signed_at.as_deref().unwrap_or("-"),
            s.record.as_deref().unwrap_or("-")
        ));
    }
    for s in states.iter().filter(|s| !s.problems.is_empty()) {
        out.push_str(&format!("\n{}:\n", s.step.as_str()));
        for p in &s.problems {
            out.push_str(&format!("- {p}\n"));
        }
    }
    if !unverified.is_empty() {
        out.push_str("\nRecords that do not verify:\n");
        for u in unverified {
            out.push_str(&format!("- {u}\n"));
        }
    }
    out
}

/// Writes the summary: the signed record to `output` and its Markdown beside it (`.md`).
pub fn run(
    sources: &[PathBuf],
    trust: &TrustRoot,
    signer: &cavra_runtime::keyfiles::LogSigner,
    output: &Path,
) -> Result<Written, ReviewError> {
    let States {
        steps: states,
        unverified,
        digests,
    } = states(sources, trust)?;
    let mut problems: Vec<String> = states
        .iter()
        .filter(|s| s.state != "passed")
        .map(|s| format!("{}: {}", s.step.as_str(), s.state))
        .collect();
    problems.extend(unverified.iter().map(|u| format!("does not verify: {u}")));
    let md_path = output.with_extension("md");
    let markdown = markdown(&states, &unverified);
    crate::write_file(&md_path, markdown.as_bytes())?;
    let mut record = Record::new(
        Step::Status,
        problems,
        json!({"steps": states, "unverified": unverified, "summary": FileDigest::of("summary.md", markdown.as_bytes())}),
    );
    record.inputs = digests;
    crate::write_record(output, signer, None, &record, vec![md_path])
}

//! Step 5, the archive closeout: the period's records (and the files they name, such as the
//! report's pages) copied into one folder with a signed manifest, `closeout.record.json`,
//! naming every file by digest and saying how each record verified at closeout. The folder
//! verifies offline as a whole ([`verify_bundle`]): the manifest's signature, then every file
//! against its digest (a changed, missing or extra file is `tampered`), then every record in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cavra_evidence::trust::TrustRoot;
use cavra_server::packet::{Reason, Refused};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::verify::{Checks, Outcome};
use crate::{FileDigest, Period, Record, ReviewError, Step, Written};

/// The manifest's file name in a closeout folder.
pub const MANIFEST: &str = "closeout.record.json";

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its path in the folder (`/`-separated).
    pub name: String,
    /// Its digest.
    pub sha256: String,
    /// For a review record: its step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
    /// For a review record: `verified` or the reason it did not at closeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<String>,
}

/// Every file under `path` (itself, when a file), with its name relative to `path`'s folder.
fn walk(path: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), ReviewError> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| crate::file_error(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            walk(&p, &format!("{prefix}{name}/"), out)?;
        }
    } else {
        out.push((prefix.trim_end_matches('/').to_string(), path.to_path_buf()));
    }
    Ok(())
}

/// The verdict on a record's signature; a record's own findings (open blockers, a step that
/// did not pass) are what it records, and do not make the bundle fail.
fn verdict(r: &Result<crate::verify::Verified, Refused>) -> String {
    match r {
        Ok(_) => "verified".into(),
        Err(e) if e.reason == Reason::BlockersOpen => "verified".into(),
        Err(e) => e.reason.as_str().into(),
    }
}

/// The review record inside a file, unverified (none: not a review record).
pub(crate) fn record_of(text: &str) -> Option<Record> {
    let env = cavra_evidence::dsse::Envelope::from_json(text).ok()?;
    let p: cavra_server::packet::Packet =
        serde_json::from_slice(&env.payload_bytes().ok()?).ok()?;
    serde_json::from_value(p.record?).ok()
}

/// Bundles `sources` (files or folders) into the folder `output` with its signed manifest;
/// each review record among them is verified against `trust` first.
pub fn run(
    sources: &[PathBuf],
    trust: &TrustRoot,
    signer: &cavra_runtime::keyfiles::LogSigner,
    output: &Path,
) -> Result<Written, ReviewError> {
    let mut found = Vec::new();
    for s in sources {
        walk(s, "", &mut found)?;
    }
    let mut names = BTreeMap::new();
    for (name, path) in found {
        let name = if name.is_empty() {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            name
        };
        if name == MANIFEST {
            return Err(ReviewError::Usage(format!(
                "{}: a closeout manifest cannot be bundled again",
                path.display()
            )));
        }
        if names.insert(name.clone(), path).is_some() {
            return Err(ReviewError::Usage(format!(
                "two files would be {name} in the bundle"
            )));
        }
    }
    if names.is_empty() {
        return Err(ReviewError::Usage("nothing to close out".into()));
    }
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    let (mut since, mut until): (Option<String>, Option<String>) = (None, None);
    let mut tenants: Vec<String> = Vec::new();
    for (name, path) in &names {
        let bytes = crate::read_file(path)?;
        let text = String::from_utf8_lossy(&bytes);
        let (step, verified) = match record_of(&text) {
            Some(rec) => {
                // The period and tenants as the record says them; its verdict is listed beside.
                if let Some(p) = &rec.period {
                    since = Some(since.map_or(p.since.clone(), |s| s.min(p.since.clone())));
                    until = Some(until.map_or(p.until.clone(), |u| u.max(p.until.clone())));
                }
                for t in &rec.tenants {
                    if !tenants.contains(t) {
                        tenants.push(t.clone());
                    }
                }
                let word = verdict(&crate::verify::record(&text, trust, &Checks::default()));
                if word != "verified" {
                    problems.push(format!("{name}: does not verify ({word})"));
                }
                (Some(rec.step), word)
            }
            None => (None, String::new()),
        };
        crate::write_file(&output.join(name), &bytes)?;
        entries.push(Entry {
            name: name.clone(),
            sha256: crate::sha256(&bytes),
            step,
            verified: (!verified.is_empty()).then_some(verified),
        });
    }
    let digests: Vec<FileDigest> = entries
        .iter()
        .map(|e| FileDigest {
            name: e.name.clone(),
            sha256: e.sha256.clone(),
        })
        .collect();
    let mut record = Record::new(Step::Closeout, problems, json!({ "files": entries }));
    record.inputs = digests;
    record.tenants = tenants;
    record.period = since
        .zip(until)
        .map(|(since, until)| Period { since, until });
    crate::write_record(&output.join(MANIFEST), signer, None, &record, Vec::new())
}

fn tampered(detail: String) -> Outcome {
    Outcome::of(&Err(Refused {
        reason: Reason::Tampered,
        detail,
    }))
}

/// Verifies a closeout folder against `trust`.
pub fn verify_bundle(
    dir: &Path,
    trust: &TrustRoot,
    checks: &Checks,
) -> Result<Outcome, ReviewError> {
    let manifest = dir.join(MANIFEST);
    let text = match std::fs::read_to_string(&manifest) {
        Ok(t) => t,
        Err(_) => {
            return Ok(Outcome::of(&Err(Refused {
                reason: Reason::Unsigned,
                detail: format!("{} has no {MANIFEST}", dir.display()),
            })));
        }
    };
    let step = Checks {
        step: Some(Step::Closeout),
        ..*checks
    };
    let v = match crate::verify::record(&text, trust, &step) {
        Ok(v) => v,
        Err(r) => return Ok(Outcome::of(&Err(r))),
    };
    let entries: Vec<Entry> =
        serde_json::from_value(v.record.body["files"].clone()).map_err(|e| {
            ReviewError::Usage(format!(
                "{}: its file list does not read: {e}",
                manifest.display()
            ))
        })?;
    let mut present = Vec::new();
    walk(dir, "", &mut present)?;
    let listed: BTreeMap<&str, &Entry> = entries.iter().map(|e| (e.name.as_str(), e)).collect();
    for (name, _) in &present {
        if name != MANIFEST && !listed.contains_key(name.as_str()) {
            return Ok(tampered(format!("extra file {name}: not in the manifest")));
        }
    }
    let mut contents = Vec::new();
    for e in &entries {
        if e.name.split('/').any(|c| c == ".." || c.is_empty()) {
            return Ok(tampered(format!("the manifest names {:?}", e.name)));
        }
        let Ok(bytes) = std::fs::read(dir.join(&e.name)) else {
            return Ok(tampered(format!("missing file {}", e.name)));
        };
        if crate::sha256(&bytes) != e.sha256 {
            return Ok(tampered(format!(
                "{}: changed since the closeout (digest mismatch)",
                e.name
            )));
        }
        if e.step.is_some() {
            let r =
                crate::verify::record(&String::from_utf8_lossy(&bytes), trust, &Checks::default());
            if let Err(r) = r.as_ref()
                && r.reason != Reason::BlockersOpen
            {
                return Ok(Outcome::of(&Err(Refused {
                    reason: r.reason,
                    detail: format!("{}: {}", e.name, r.detail),
                })));
            }
        }
        contents.push(e.name.clone());
    }
    let mut out = Outcome::of(&Ok(v));
    out.detail = format!(
        "{} ({} files, each matching the manifest)",
        out.detail,
        contents.len()
    );
    out.contents = contents;
    Ok(out)
}

//! `cavra review verify`: a review record, or a closeout bundle, checked offline against a
//! trust root with the one packet verifier ([`cavra_server::packet::verify`]), failing with its
//! named reasons: `invalid`, `unsigned`, `tampered`, `untrusted_key`, `stale`, `blockers_open`.

use std::path::Path;

use cavra_evidence::trust::TrustRoot;
use cavra_server::packet::{self, Expect, Kind, Reason, Refused};
use serde::Serialize;

use crate::{Record, ReviewError, Step};

/// What a verification checks besides the signature.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checks {
    /// The oldest a record may be.
    pub max_age: Option<time::Duration>,
    /// The step it must be.
    pub step: Option<Step>,
}

/// A record that verified.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signing key.
    pub key_id: String,
    /// When it was signed.
    pub signed_at: String,
    /// What it records.
    pub record: Record,
}

/// Verifies a record's text: the packet verifier, then the record's own shape and step.
pub fn record(text: &str, trust: &TrustRoot, checks: &Checks) -> Result<Verified, Refused> {
    let expect = Expect::new(Kind::ReviewRecord, checks.max_age, None);
    let v = packet::verify(text, trust, &expect)?;
    let invalid = |detail: String| Refused {
        reason: Reason::Invalid,
        detail,
    };
    let value = v
        .packet
        .record
        .ok_or_else(|| invalid("a review packet without a record".into()))?;
    let record: Record =
        serde_json::from_value(value).map_err(|e| invalid(format!("not a review record: {e}")))?;
    if record.format != crate::RECORD_FORMAT {
        return Err(invalid(format!("record format {:?}", record.format)));
    }
    if let Some(step) = checks.step.filter(|s| *s != record.step) {
        return Err(invalid(format!(
            "a {} record, not a {} record",
            record.step.as_str(),
            step.as_str()
        )));
    }
    Ok(Verified {
        key_id: v.key_id,
        signed_at: v.packet.signed_at,
        record,
    })
}

/// The outcome, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Whether it verified.
    pub verified: bool,
    /// Why not.
    pub reason: Option<Reason>,
    /// In words.
    pub detail: String,
    /// The step, when it verified.
    pub step: Option<Step>,
    /// The signing key, when it verified.
    pub key_id: Option<String>,
    /// When it was signed, when it verified.
    pub signed_at: Option<String>,
    /// A closeout bundle's records, each verified.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contents: Vec<String>,
}

impl Outcome {
    /// The exit code: 0 verified, 1 not (the CLI's convention for packets).
    pub fn exit_code(&self) -> i32 {
        i32::from(!self.verified)
    }

    /// The outcome of `result`.
    pub fn of(result: &Result<Verified, Refused>) -> Self {
        match result {
            Ok(v) => Outcome {
                verified: true,
                reason: None,
                detail: format!(
                    "verified: {} record signed by {} at {}, passed",
                    v.record.step.as_str(),
                    v.key_id,
                    v.signed_at
                ),
                step: Some(v.record.step),
                key_id: Some(v.key_id.clone()),
                signed_at: Some(v.signed_at.clone()),
                contents: Vec::new(),
            },
            Err(r) => Outcome {
                verified: false,
                reason: Some(r.reason),
                detail: format!("not verified ({r})"),
                step: None,
                key_id: None,
                signed_at: None,
                contents: Vec::new(),
            },
        }
    }
}

/// Verifies the record file, or the closeout bundle folder, at `path` against the trust root
/// file `trust_root`. Only unreadable inputs are errors.
pub fn path(path: &Path, trust_root: &Path, checks: &Checks) -> Result<Outcome, ReviewError> {
    let trust = cavra_runtime::trust_file::read(trust_root)?;
    if path.is_dir() {
        return crate::closeout::verify_bundle(path, &trust, checks);
    }
    let text = std::fs::read_to_string(path).map_err(|e| crate::file_error(path, e))?;
    Ok(Outcome::of(&record(&text, &trust, checks)))
}

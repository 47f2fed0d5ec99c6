//! The operating review chain (`cavra review`, docs/operations.md): the steps an operator
//! takes to put cavra into production and keep it reviewed, each writing a signed record that
//! anyone verifies offline.
//!
//! 1. [`publication`]: the release artefacts' signatures and digests match the release record;
//! 2. [`activation`]: the readiness gate for the first tenants;
//! 3. [`report`]: the operating review of a period (Markdown, and HTML with SVG charts);
//! 4. [`drill`]: a simulated key compromise: revoke, rotate, re-sign, re-verify;
//! 5. [`closeout`]: a signed bundle of the period's records;
//! 6. [`status`]: where each step stands.
//!
//! Every record is a packet of [`cavra_server::packet`] (kind `review_record`): one envelope
//! format and one verifier ([`verify`]) for readiness packets, review packets and these
//! records, failing with the same named reasons. Reports go out by e-mail through the
//! tenant's own SMTP connectors only ([`mail`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod activation;
#[cfg(feature = "clap")]
pub mod cli;
pub mod closeout;
pub mod drill;
pub mod mail;
pub mod publication;
pub mod report;
pub mod status;
pub mod verify;

use std::path::{Path, PathBuf};

use cavra_runtime::keyfiles::LogSigner;
use cavra_server::readiness::Readiness;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The `format` of a review record's content.
pub const RECORD_FORMAT: &str = "cavra-review-record/v1";

/// Why a step could not run. A step that ran and found something wrong is not an error: it
/// writes its record with `passed: false`.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// Bad arguments that the flags could not catch.
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written.
    #[error("{}: {error}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// A key file could not be read or made.
    #[error(transparent)]
    Key(#[from] cavra_runtime::keyfiles::KeyFileError),
    /// A trust root could not be read or changed.
    #[error(transparent)]
    Trust(#[from] cavra_runtime::trust_file::TrustFileError),
    /// The service could not be asked, or its answer does not read.
    #[error("{0}")]
    Service(String),
    /// A record could not be signed.
    #[error("signing: {0}")]
    Sign(String),
    /// A report's page or chart could not be made.
    #[error("rendering the report: {0}")]
    Render(String),
    /// The release evidence could not be read (not a failed verification: that is a problem
    /// the publication record names).
    #[error("{0}")]
    Release(String),
    /// A report could not be sent.
    #[error("{0}")]
    Mail(String),
}

pub(crate) fn file_error(path: &Path, error: impl std::fmt::Display) -> ReviewError {
    ReviewError::File {
        path: path.to_path_buf(),
        error: error.to_string(),
    }
}

/// The steps of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Step {
    /// The release artefacts match the release evidence.
    Publication,
    /// The readiness gate for the first tenants.
    Activation,
    /// The operating review report of a period.
    Report,
    /// The security advisory drill: a simulated key compromise.
    Drill,
    /// The signed bundle of the period's records.
    Closeout,
    /// Where each step stands.
    Status,
}

impl Step {
    /// Every step, in the chain's order.
    pub const ALL: [Step; 6] = [
        Step::Publication,
        Step::Activation,
        Step::Report,
        Step::Drill,
        Step::Closeout,
        Step::Status,
    ];

    /// The word printed and matched on.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Publication => "publication",
            Step::Activation => "activation",
            Step::Report => "report",
            Step::Drill => "drill",
            Step::Closeout => "closeout",
            Step::Status => "status",
        }
    }
}

/// A file a record rests on, by name and digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Its name (the file name, or a path inside a bundle).
    pub name: String,
    /// `sha256:<hex>` of its bytes.
    pub sha256: String,
}

impl FileDigest {
    /// The digest of `bytes` named `name`.
    pub fn of(name: impl Into<String>, bytes: &[u8]) -> Self {
        FileDigest {
            name: name.into(),
            sha256: sha256(bytes),
        }
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The period a record covers (RFC 3339): at or after `since`, before `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// Start.
    pub since: String,
    /// End.
    pub until: String,
}

/// What a step recorded: the signed content of a review record ([`cavra_server::packet::Packet::record`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// [`RECORD_FORMAT`].
    pub format: String,
    /// The step.
    pub step: Step,
    /// The tenants it is about (none: the release or the whole service).
    pub tenants: Vec<String>,
    /// The period, for the steps that cover one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// Whether the step found what it must: a record that did not pass verifies as
    /// `blockers_open`.
    pub passed: bool,
    /// What stood in the way, in words.
    pub problems: Vec<String>,
    /// The files it rests on.
    pub inputs: Vec<FileDigest>,
    /// The step's own findings.
    pub body: Value,
}

impl Record {
    /// A record of `step` that passed when `problems` is empty.
    pub fn new(step: Step, problems: Vec<String>, body: Value) -> Self {
        Record {
            format: RECORD_FORMAT.into(),
            step,
            tenants: Vec::new(),
            period: None,
            passed: problems.is_empty(),
            problems,
            inputs: Vec::new(),
            body,
        }
    }
}

/// What a step wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// The step.
    pub step: Step,
    /// The signed record.
    pub record: PathBuf,
    /// Other files (reports, re-signed records, the rotated trust root, the bundle).
    pub files: Vec<PathBuf>,
    /// Whether the step passed.
    pub passed: bool,
    /// What stood in the way.
    pub problems: Vec<String>,
}

impl Written {
    /// The exit code: 0 passed, 4 recorded but not passed (as the readiness gate's blockers).
    pub fn exit_code(&self) -> i32 {
        if self.passed { 0 } else { 4 }
    }

    /// What people read.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{} {}: wrote {}\n",
            self.step.as_str(),
            if self.passed { "PASSED" } else { "FAILED" },
            self.record.display()
        );
        for f in &self.files {
            out.push_str(&format!("  also wrote {}\n", f.display()));
        }
        for p in &self.problems {
            out.push_str(&format!("  problem: {p}\n"));
        }
        out
    }
}

/// Signs `record` (with the readiness result of a step that ran the gate) as a review
/// record and writes it to `output` whole or not at all.
pub fn write_record(
    output: &Path,
    signer: &LogSigner,
    readiness: Option<Readiness>,
    record: &Record,
    files: Vec<PathBuf>,
) -> Result<Written, ReviewError> {
    let text = sign_record(signer, readiness, record)?;
    write_file(output, text.as_bytes())?;
    Ok(Written {
        step: record.step,
        record: output.to_path_buf(),
        files,
        passed: record.passed,
        problems: record.problems.clone(),
    })
}

/// The signed envelope of `record`, as its file holds it.
pub fn sign_record(
    signer: &LogSigner,
    readiness: Option<Readiness>,
    record: &Record,
) -> Result<String, ReviewError> {
    let value = serde_json::to_value(record).map_err(|e| ReviewError::Sign(e.to_string()))?;
    cavra_server::packet::Packet::review_record(&signer.key_id, readiness, value)
        .sign(&signer.key)
        .map_err(|e| ReviewError::Sign(e.to_string()))
}

/// Writes `bytes` to `path` atomically, creating its folder.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReviewError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    }
    cavra_runtime::repo::write_atomic(path, bytes).map_err(|e| file_error(path, e))
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, ReviewError> {
    std::fs::read(path).map_err(|e| file_error(path, e))
}

/// The signer of `--sign-key FILE [--key-id ID]`.
pub fn signer(key: &Path, key_id: Option<&str>) -> Result<LogSigner, ReviewError> {
    Ok(cavra_runtime::keyfiles::signer(key, key_id)?)
}

/// The API service, asked with one tenant's token.
#[derive(Debug, Clone)]
pub struct Service {
    /// Its base URL.
    pub url: String,
    /// The bearer token (its tenant is the one asked about).
    pub token: String,
}

impl Service {
    /// `GET path`, as JSON.
    pub fn get(&self, path: &str) -> Result<Value, ReviewError> {
        cavra_runtime::service::send(
            &self.url,
            &self.token,
            "GET",
            path,
            None,
            std::time::Duration::from_secs(60),
        )
        .map_err(|e| ReviewError::Service(format!("GET {path}: {e}")))
    }

    /// `GET path`, read as `T`.
    pub fn read<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<T, ReviewError> {
        serde_json::from_value(self.get(path)?)
            .map_err(|e| ReviewError::Service(format!("the service's {what} does not read: {e}")))
    }

    /// The token's tenant (`GET /v1/whoami`).
    pub fn tenant(&self) -> Result<String, ReviewError> {
        let who = self.get("/v1/whoami")?;
        who["tenant"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ReviewError::Service("GET /v1/whoami names no tenant".into()))
    }
}

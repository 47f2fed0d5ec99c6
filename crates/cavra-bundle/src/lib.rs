//! Evidence bundles: a folder that carries real log entries with everything needed to check
//! them offline, and nothing else.
//!
//! ```text
//! bundle/
//!   entries.jsonl          the selected log entries, one canonical JSON entry per line, in log order
//!   proof.json             batch inclusion proof of those entries in the checkpoint's tree
//!   checkpoint.dsse.json   the log's signed checkpoint (co-signed by the bundle key)
//!   policies/<hex>.json    each merged policy pack that decided, named by its sha256 digest
//!   approvals.jsonl        the approvals the selected entries refer to
//!   summary.md             counts by decision, blocked and approval-routed actions, for people
//!   retention.json         retention days, legal hold, retain-until
//!   manifest.json          every file above with sha256 and size
//!   bundle.dsse.json       in-toto Statement v1 about manifest.json, DSSE-signed
//! ```
//!
//! [`verify_bundle`] checks the signature and key status against a trust root, the exact file
//! set, every file's hash and size, the Merkle proof of every entry against the checkpoint,
//! the policy digests and the retention record, and names each failure.

#![warn(missing_docs)]

mod export;
mod text;
mod verify;
mod write;

pub use export::{ExportFormat, export_entries, export_to_file};
pub use verify::{Check, VerifyOptions, VerifyReport, verify_bundle};
pub use write::{
    BundleOptions, BundleSigner, LogSource, Selection, WrittenBundle, write_bundle,
    write_bundle_from,
};

/// `format` of manifest.json.
pub const MANIFEST_FORMAT: &str = "cavra-evidence-bundle/v1";
/// in-toto predicate type of the bundle statement.
pub const BUNDLE_PREDICATE_TYPE: &str = "https://cavra.dev/evidence-bundle/v1";

/// File names inside a bundle.
pub mod files {
    /// Entries, one per line.
    pub const ENTRIES: &str = "entries.jsonl";
    /// Batch inclusion proof.
    pub const PROOF: &str = "proof.json";
    /// Signed checkpoint.
    pub const CHECKPOINT: &str = "checkpoint.dsse.json";
    /// Policy folder.
    pub const POLICIES: &str = "policies";
    /// Approvals.
    pub const APPROVALS: &str = "approvals.jsonl";
    /// Human summary.
    pub const SUMMARY: &str = "summary.md";
    /// Retention record.
    pub const RETENTION: &str = "retention.json";
    /// Manifest.
    pub const MANIFEST: &str = "manifest.json";
    /// Bundle signature.
    pub const SIGNATURE: &str = "bundle.dsse.json";
}

/// Errors while writing a bundle or exporting entries.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] cavra_store::StoreError),
    /// Writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Writing an export failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The selection is unusable or there is nothing to bundle.
    #[error("{0}")]
    Selection(String),
    /// A stored entry or record cannot be read.
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The fields of a log entry a bundle needs, read without building a full JSON tree.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct EntryHead {
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub body: BodyHead,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct BodyHead {
    #[serde(default)]
    pub decision: Option<String>,
    #[serde(default)]
    pub action_type: Option<String>,
    #[serde(default)]
    pub approval_id: Option<String>,
    #[serde(default)]
    pub record: Option<RecordHead>,
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct RecordHead {
    #[serde(default)]
    pub policy_digest: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub rule_id: Option<String>,
    #[serde(default)]
    pub approver_group: Option<String>,
}

/// `sha256:<hex>` → `<hex>`, when it is 64 lowercase hex digits (safe as a file name).
pub(crate) fn digest_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(hex)
}

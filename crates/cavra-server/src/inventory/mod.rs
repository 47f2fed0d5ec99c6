//! Inventory ingestion: imports of a tenant's endpoints, repositories, CI runners, agents and
//! MCP servers (files, HTTP sources, osquery results; read by
//! `cavra_tenant_store::inventory_source`), each stored as a new version with an evidence
//! entry, and the coverage findings ([`coverage`]) that the posture and the readiness gate
//! use for hook coverage once a tenant has an inventory.

pub mod cli;
pub mod coverage;

use cavra_tenant_store::inventory_source::{SourceError, SourceFormat, SourceLimits, parse_source};
use cavra_tenant_store::{Db, Inventory, InventoryVersion, NewInventory, StoreError};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// `inventory:` in the service's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventoryConfig {
    /// Items their source has not seen for longer than this many days are stale.
    pub stale_after_days: u32,
    /// The largest source (one page of an HTTP source), in bytes.
    pub max_bytes: usize,
    /// The most items one import may hold.
    pub max_items: usize,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        let d = SourceLimits::default();
        InventoryConfig {
            stale_after_days: 30,
            max_bytes: d.max_bytes,
            max_items: d.max_items,
        }
    }
}

impl InventoryConfig {
    /// The parsers' limits.
    pub fn limits(&self) -> SourceLimits {
        SourceLimits {
            max_bytes: self.max_bytes,
            max_items: self.max_items,
            ..SourceLimits::default()
        }
    }

    /// Checks the settings.
    pub fn check(&self) -> Result<(), String> {
        if self.stale_after_days == 0 {
            return Err("inventory.stale_after_days must be at least 1".into());
        }
        if self.max_bytes < 1024 || self.max_items == 0 {
            return Err(
                "inventory.max_bytes must be at least 1024 and inventory.max_items at least 1"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The source is not a valid inventory.
    #[error("{0}")]
    Source(#[from] SourceError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Reading the source failed.
    #[error("{0}")]
    Fetch(#[from] cavra_connectors::inventory_http::FetchError),
    /// Reading a file failed.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The service refused or failed.
    #[error("{0}")]
    Remote(String),
    /// The command was given what it cannot do (no tenant, another tenant's token).
    #[error("{0}")]
    Usage(String),
}

/// `sha256:` and the hex digest of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// What an import is: its source's bytes and where they came from.
#[derive(Debug, Clone)]
pub struct ImportSource<'a> {
    /// A file name or URL.
    pub source: &'a str,
    /// How to read it.
    pub format: SourceFormat,
    /// Its bytes.
    pub bytes: &'a [u8],
    /// An HTTP source's ETag.
    pub etag: Option<String>,
}

/// Reads `src` and stores it as `tenant`'s next inventory version, imported by `by` at `at`.
pub async fn import(
    db: &Db,
    tenant: &str,
    by: &str,
    at: cavra_store::Timestamp,
    src: ImportSource<'_>,
    limits: &SourceLimits,
) -> Result<InventoryVersion, InventoryError> {
    let parsed = parse_source(src.bytes, src.format, src.source, limits)?;
    Ok(db
        .import_inventory(
            tenant,
            NewInventory {
                source: src.source.to_string(),
                format: src.format.as_str().into(),
                digest: digest(src.bytes),
                etag: src.etag,
                imported_at: at,
                imported_by: by.to_string(),
                items: parsed.items,
            },
        )
        .await?)
}

/// Replaces `posture`'s hook coverage with the inventory's when `tenant` has one (decisions
/// between `since` and `until`); leaves it as it is otherwise.
pub async fn apply_to_posture(
    db: &Db,
    tenant: &str,
    config: &InventoryConfig,
    posture: &mut cavra_aispm::Posture,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<(), StoreError> {
    let judging = coverage::Judging {
        now: time::OffsetDateTime::now_utc(),
        stale_after_days: config.stale_after_days,
        list_max: 0,
        since,
        until,
    };
    if let Some(c) = coverage::coverage(db, tenant, judging).await? {
        let unregistered = posture.hook_coverage.unregistered;
        posture.set_hook_coverage(coverage::hook_coverage(&c, unregistered));
    }
    Ok(())
}

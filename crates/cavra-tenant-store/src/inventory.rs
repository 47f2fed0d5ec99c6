//! A tenant's inventory of what runs agents: endpoints and developers' machines, repositories,
//! CI runners, agents installed and MCP servers configured, as imported from a file, an HTTP
//! endpoint or osquery results. Each import is a new version (earlier ones stay readable) with
//! an evidence entry (`inventory`: the import's digest, counts and source) written in the same
//! transaction. Connector polling leases ([`Inventory::try_lease`]) live here too: a small
//! table that lets one replica of several poll a given connector at a time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Result, Timestamp};

/// What an inventory item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum InventoryKind {
    /// A server, workstation or developer's machine.
    Endpoint,
    /// A source repository.
    Repository,
    /// A CI runner.
    CiRunner,
    /// A coding agent installed somewhere.
    Agent,
    /// An MCP server configured somewhere.
    McpServer,
}

impl InventoryKind {
    /// Every kind, in order.
    pub const ALL: [InventoryKind; 5] = [
        InventoryKind::Endpoint,
        InventoryKind::Repository,
        InventoryKind::CiRunner,
        InventoryKind::Agent,
        InventoryKind::McpServer,
    ];

    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            InventoryKind::Endpoint => "endpoint",
            InventoryKind::Repository => "repository",
            InventoryKind::CiRunner => "ci_runner",
            InventoryKind::Agent => "agent",
            InventoryKind::McpServer => "mcp_server",
        }
    }

    /// Reads a word (the stored one, or `-` for `_`, any case).
    pub fn parse(s: &str) -> Option<InventoryKind> {
        let w = s.trim().to_ascii_lowercase().replace('-', "_");
        InventoryKind::ALL.into_iter().find(|k| k.as_str() == w)
    }
}

/// One item of an inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventoryItem {
    /// Its stable id: given by the source, else `kind:name` (with `@endpoint` for what is
    /// installed or configured on one), so that the same thing keeps its id across imports.
    pub id: String,
    /// What it is.
    pub kind: InventoryKind,
    /// Its name (host name, repository, runner, agent or MCP server name).
    pub name: String,
    /// The endpoint it is on (agents, MCP servers, runners), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The repository it works in, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// When the source last saw it (RFC 3339), when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Whether the source reports cavra's hooks installed for it (agents), when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<bool>,
    /// Every other field the source gave, as given.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub attributes: Map<String, Value>,
}

/// One import of a tenant's inventory, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventoryVersion {
    /// Its number: 1 for the tenant's first import, one more for each after.
    pub version: u64,
    /// Where it came from (a file name or URL).
    pub source: String,
    /// `json`, `csv` or `osquery`.
    pub format: String,
    /// `sha256:` of the source's bytes as read.
    pub digest: String,
    /// The HTTP source's ETag, sent back as If-None-Match next time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Items by kind.
    pub counts: BTreeMap<String, u64>,
    /// Items in all.
    pub items: u64,
    /// When it was imported.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub imported_at: Timestamp,
    /// Who imported it.
    pub imported_by: String,
    /// The evidence entry recording it.
    pub log_index: u64,
}

/// An import to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInventory {
    /// Where it came from.
    pub source: String,
    /// `json`, `csv` or `osquery`.
    pub format: String,
    /// `sha256:` of the source's bytes.
    pub digest: String,
    /// The HTTP source's ETag.
    pub etag: Option<String>,
    /// When.
    pub imported_at: Timestamp,
    /// Who.
    pub imported_by: String,
    /// The items, ids unique.
    pub items: Vec<InventoryItem>,
}

impl NewInventory {
    /// Items by kind.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for i in &self.items {
            *out.entry(i.kind.as_str().to_string()).or_insert(0) += 1;
        }
        out
    }

    /// The stored version this import becomes as `version`, recorded at `log_index`.
    pub(crate) fn version(&self, version: u64, log_index: u64) -> InventoryVersion {
        InventoryVersion {
            version,
            source: self.source.clone(),
            format: self.format.clone(),
            digest: self.digest.clone(),
            etag: self.etag.clone(),
            counts: self.counts(),
            items: self.items.len() as u64,
            imported_at: self.imported_at,
            imported_by: self.imported_by.clone(),
            log_index,
        }
    }

    /// The body of its evidence entry.
    pub(crate) fn entry_body(&self, version: u64) -> Value {
        serde_json::json!({
            "version": version,
            "source": self.source,
            "format": self.format,
            "digest": self.digest,
            "etag": self.etag,
            "counts": self.counts(),
            "items": self.items.len(),
            "by": self.imported_by,
        })
    }

    /// Refuses two items with one id (the store keys items by id).
    pub(crate) fn check(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for i in &self.items {
            if !seen.insert(i.id.as_str()) {
                return Err(crate::StoreError::Conflict(format!(
                    "two inventory items have the id `{}`",
                    i.id
                )));
            }
        }
        Ok(())
    }
}

/// The columns of `inventory_versions` every read selects, in [`version_from`]'s order.
pub(crate) const VERSION_COLUMNS: &str =
    "version, source, format, digest, etag, counts, items, imported_at, imported_by, log_index";

/// A version from its columns.
#[allow(clippy::too_many_arguments)]
pub(crate) fn version_from(
    version: i64,
    source: String,
    format: String,
    digest: String,
    etag: Option<String>,
    counts: String,
    items: i64,
    imported_at: String,
    imported_by: String,
    log_index: i64,
) -> Result<InventoryVersion> {
    Ok(InventoryVersion {
        version: version.max(0) as u64,
        source,
        format,
        digest,
        etag,
        counts: serde_json::from_str(&counts)?,
        items: items.max(0) as u64,
        imported_at: Timestamp::parse(&imported_at)
            .map_err(|e| crate::StoreError::Corrupt(format!("inventory version {version}: {e}")))?,
        imported_by,
        log_index: log_index.max(0) as u64,
    })
}

/// A tenant's inventory versions and items, and the connectors' polling leases.
pub trait Inventory {
    /// Stores `import` as the tenant's next version with its evidence entry, in one
    /// transaction; returns the version.
    fn import_inventory(
        &self,
        tenant: &str,
        import: NewInventory,
    ) -> impl Future<Output = Result<InventoryVersion>> + Send;

    /// The tenant's versions, newest first, at most `limit`.
    fn inventory_versions(
        &self,
        tenant: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<InventoryVersion>>> + Send;

    /// One version (None: the newest); None when there is none.
    fn inventory_version(
        &self,
        tenant: &str,
        version: Option<u64>,
    ) -> impl Future<Output = Result<Option<InventoryVersion>>> + Send;

    /// Items of a version ordered by id, those after `after` (keyset pagination), at most
    /// `limit`.
    fn inventory_items(
        &self,
        tenant: &str,
        version: u64,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<InventoryItem>>> + Send;

    /// Takes or renews the lease `name` for `owner` until `now_ms + lease_ms`: true when
    /// `owner` holds it now (it was free, expired, or already `owner`'s).
    fn try_lease(
        &self,
        name: &str,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Gives the lease `name` up if `owner` holds it.
    fn release_lease(&self, name: &str, owner: &str) -> impl Future<Output = Result<()>> + Send;
}

impl Inventory for crate::Db {
    async fn import_inventory(
        &self,
        tenant: &str,
        import: NewInventory,
    ) -> Result<InventoryVersion> {
        match self {
            crate::Db::Sqlite(db) => db.import_inventory(tenant, import).await,
            crate::Db::Postgres(db) => db.import_inventory(tenant, import).await,
        }
    }

    async fn inventory_versions(
        &self,
        tenant: &str,
        limit: usize,
    ) -> Result<Vec<InventoryVersion>> {
        match self {
            crate::Db::Sqlite(db) => db.inventory_versions(tenant, limit).await,
            crate::Db::Postgres(db) => db.inventory_versions(tenant, limit).await,
        }
    }

    async fn inventory_version(
        &self,
        tenant: &str,
        version: Option<u64>,
    ) -> Result<Option<InventoryVersion>> {
        match self {
            crate::Db::Sqlite(db) => db.inventory_version(tenant, version).await,
            crate::Db::Postgres(db) => db.inventory_version(tenant, version).await,
        }
    }

    async fn inventory_items(
        &self,
        tenant: &str,
        version: u64,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<InventoryItem>> {
        match self {
            crate::Db::Sqlite(db) => db.inventory_items(tenant, version, after, limit).await,
            crate::Db::Postgres(db) => db.inventory_items(tenant, version, after, limit).await,
        }
    }

    async fn try_lease(&self, name: &str, owner: &str, now_ms: i64, lease_ms: i64) -> Result<bool> {
        match self {
            crate::Db::Sqlite(db) => db.try_lease(name, owner, now_ms, lease_ms).await,
            crate::Db::Postgres(db) => db.try_lease(name, owner, now_ms, lease_ms).await,
        }
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<()> {
        match self {
            crate::Db::Sqlite(db) => db.release_lease(name, owner).await,
            crate::Db::Postgres(db) => db.release_lease(name, owner).await,
        }
    }
}

/// Migration 6 on SQLite: inventory versions and items, and polling leases.
pub(crate) const SQLITE_MIGRATION: &str = r#"
CREATE TABLE inventory_versions (
    tenant TEXT NOT NULL,
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    format TEXT NOT NULL,
    digest TEXT NOT NULL,
    etag TEXT,
    counts TEXT NOT NULL,
    items INTEGER NOT NULL,
    imported_at TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    PRIMARY KEY (tenant, version)
);
CREATE TABLE inventory_items (
    tenant TEXT NOT NULL,
    version INTEGER NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (tenant, version, id)
) WITHOUT ROWID;
CREATE TABLE connector_leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until_ms INTEGER NOT NULL
);
"#;

/// Migration 6 on PostgreSQL.
pub(crate) const POSTGRES_MIGRATION: &str = r#"
CREATE TABLE inventory_versions (
    tenant TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    source TEXT NOT NULL,
    format TEXT COLLATE "C" NOT NULL,
    digest TEXT COLLATE "C" NOT NULL,
    etag TEXT,
    counts TEXT NOT NULL,
    items BIGINT NOT NULL,
    imported_at TEXT COLLATE "C" NOT NULL,
    imported_by TEXT NOT NULL,
    log_index BIGINT NOT NULL,
    PRIMARY KEY (tenant, version)
);
CREATE TABLE inventory_items (
    tenant TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (tenant, version, id)
);
CREATE TABLE connector_leases (
    name TEXT COLLATE "C" PRIMARY KEY,
    owner TEXT NOT NULL,
    until_ms BIGINT NOT NULL
);
"#;

//! `cavra inventory import`: a file or URL read here, then stored in the database or sent to
//! the service. A URL is asked with the ETag of the last import from it (304: that version is
//! kept, nothing is written).

use cavra_connectors::inventory_http::{Fetched, fetch};
use cavra_tenant_store::inventory_source::{SourceFormat, parse_source};
use cavra_tenant_store::{Inventory, InventoryVersion};
use serde::Serialize;
use serde_json::{Value, json};

use super::{ImportSource, InventoryError, import};
use crate::ServerConfig;
use crate::api::inventory::{ImportView, InventoryPage};

/// The environment variable whose value is sent as a bearer token to an HTTP source.
pub const SOURCE_TOKEN_ENV: &str = "CAVRA_INVENTORY_SOURCE_TOKEN";

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportArgs {
    /// A file path, or an `http(s)://` URL.
    pub source: String,
    /// The tenant (required with a database; checked against the service's otherwise).
    pub tenant: Option<String>,
    /// The format (default: from the file name; JSON for URLs).
    pub format: Option<SourceFormat>,
    /// Who imports, for a database import.
    pub by: String,
}

impl ImportArgs {
    /// The CLI's arguments: `format` a word (`json`, `csv`, `osquery`; others are the
    /// default), the importer `$USER` (else `cli`).
    pub fn new(source: &str, tenant: Option<&str>, format: Option<&str>) -> ImportArgs {
        ImportArgs {
            source: source.to_string(),
            tenant: tenant.map(str::to_string),
            format: format.and_then(SourceFormat::parse),
            by: std::env::var("USER").unwrap_or_else(|_| "cli".into()),
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    /// The tenant.
    pub tenant: String,
    /// `imported`, or `not_modified` (the URL answered 304).
    pub outcome: &'static str,
    /// The version stored, or the one kept.
    pub inventory: Option<InventoryVersion>,
    /// Pages read from a URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<usize>,
}

impl ImportOutcome {
    /// As JSON.
    pub fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// One line for people.
    pub fn text(&self) -> String {
        match (&self.inventory, self.outcome) {
            (Some(v), "imported") => format!(
                "imported inventory version {} of tenant {} from {}: {} items ({}), evidence entry {}\n",
                v.version,
                self.tenant,
                v.source,
                v.items,
                v.counts
                    .iter()
                    .map(|(k, n)| format!("{n} {k}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                v.log_index
            ),
            (Some(v), _) => format!(
                "{} not modified since inventory version {} of tenant {}: kept\n",
                v.source, v.version, self.tenant
            ),
            (None, _) => format!("nothing imported for tenant {}\n", self.tenant),
        }
    }
}

/// Where the import goes.
pub enum Target<'a, C> {
    /// The database of this configuration.
    Database(&'a ServerConfig),
    /// The service, through `call(method, path, body)` with an admin's token.
    Service(C),
}

/// A call that is never made (the type of a database target's).
pub type NoCall = fn(&str, &str, Option<&Value>) -> Result<Value, String>;

impl<'a> Target<'a, NoCall> {
    /// The database of `config`.
    pub fn database(config: &'a ServerConfig) -> Self {
        Target::Database(config)
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// Runs an import (on a runtime of its own: the CLI's call is blocking).
pub fn run_import<C>(
    args: &ImportArgs,
    target: Target<'_, C>,
) -> Result<ImportOutcome, InventoryError>
where
    C: FnMut(&str, &str, Option<&Value>) -> Result<Value, String>,
{
    let format = args.format.unwrap_or_else(|| {
        if is_url(&args.source) {
            SourceFormat::Json
        } else {
            SourceFormat::from_name(&args.source)
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| InventoryError::Remote(format!("cannot start the async runtime: {e}")))?;
    match target {
        Target::Database(config) => rt.block_on(to_database(args, format, config)),
        Target::Service(call) => to_service(args, format, call, &rt),
    }
}

async fn to_database(
    args: &ImportArgs,
    format: SourceFormat,
    config: &ServerConfig,
) -> Result<ImportOutcome, InventoryError> {
    let tenant = args
        .tenant
        .clone()
        .ok_or_else(|| InventoryError::Usage("--tenant is required without --server".into()))?;
    let db = crate::admin::open_existing(config)
        .await
        .map_err(|e| InventoryError::Remote(e.to_string()))?;
    use cavra_tenant_store::Directory as _;
    if db.tenant(&tenant).await?.is_none() {
        return Err(InventoryError::Usage(format!(
            "no tenant {tenant} in the database"
        )));
    }
    let limits = config.inventory.limits();
    let at = cavra_store::Timestamp::now();
    if is_url(&args.source) {
        let last = db.inventory_version(&tenant, None).await?;
        let etag = last
            .as_ref()
            .filter(|v| v.source == args.source)
            .and_then(|v| v.etag.clone());
        let token = std::env::var(SOURCE_TOKEN_ENV).ok();
        return match fetch(
            &args.source,
            etag.as_deref(),
            format,
            &limits,
            token.as_deref(),
        )
        .await?
        {
            Fetched::NotModified => Ok(ImportOutcome {
                tenant,
                outcome: "not_modified",
                inventory: last,
                pages: Some(1),
            }),
            Fetched::Items {
                items,
                digest,
                etag,
                pages,
            } => {
                let v = db
                    .import_inventory(
                        &tenant,
                        cavra_tenant_store::NewInventory {
                            source: args.source.clone(),
                            format: format.as_str().into(),
                            digest,
                            etag,
                            imported_at: at,
                            imported_by: args.by.clone(),
                            items,
                        },
                    )
                    .await?;
                Ok(ImportOutcome {
                    tenant,
                    outcome: "imported",
                    inventory: Some(v),
                    pages: Some(pages),
                })
            }
        };
    }
    let bytes = read_file(&args.source, limits.max_bytes)?;
    let v = import(
        &db,
        &tenant,
        &args.by,
        at,
        ImportSource {
            source: &args.source,
            format,
            bytes: &bytes,
            etag: None,
        },
        &limits,
    )
    .await?;
    Ok(ImportOutcome {
        tenant,
        outcome: "imported",
        inventory: Some(v),
        pages: None,
    })
}

fn to_service<C>(
    args: &ImportArgs,
    format: SourceFormat,
    mut call: C,
    rt: &tokio::runtime::Runtime,
) -> Result<ImportOutcome, InventoryError>
where
    C: FnMut(&str, &str, Option<&Value>) -> Result<Value, String>,
{
    let current: InventoryPage = serde_json::from_value(
        call("GET", "/v1/inventory?limit=1", None).map_err(InventoryError::Remote)?,
    )
    .map_err(|e| InventoryError::Remote(format!("the service's inventory does not read: {e}")))?;
    if let Some(t) = &args.tenant
        && *t != current.tenant
    {
        return Err(InventoryError::Usage(format!(
            "the token acts in tenant {}, not {t}",
            current.tenant
        )));
    }
    // Checked here too, so that a bad file is reported with its line before anything is sent.
    let limits = cavra_tenant_store::inventory_source::SourceLimits::default();
    let (content, sent_format, etag, pages) = if is_url(&args.source) {
        let etag = current
            .inventory
            .as_ref()
            .filter(|v| v.source == args.source)
            .and_then(|v| v.etag.clone());
        let token = std::env::var(SOURCE_TOKEN_ENV).ok();
        match rt.block_on(fetch(
            &args.source,
            etag.as_deref(),
            format,
            &limits,
            token.as_deref(),
        ))? {
            Fetched::NotModified => {
                return Ok(ImportOutcome {
                    tenant: current.tenant,
                    outcome: "not_modified",
                    inventory: current.inventory,
                    pages: Some(1),
                });
            }
            Fetched::Items {
                items, etag, pages, ..
            } => (
                serde_json::to_string(&items).map_err(|e| InventoryError::Remote(e.to_string()))?,
                SourceFormat::Json,
                etag,
                Some(pages),
            ),
        }
    } else {
        let bytes = read_file(&args.source, limits.max_bytes)?;
        parse_source(&bytes, format, &args.source, &limits)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| InventoryError::Remote(format!("{}: not UTF-8", args.source)))?;
        (text, format, None, None)
    };
    let body =
        json!({"source": args.source, "format": sent_format, "etag": etag, "content": content});
    let view: ImportView = serde_json::from_value(
        call("POST", "/v1/inventory", Some(&body)).map_err(InventoryError::Remote)?,
    )
    .map_err(|e| InventoryError::Remote(format!("the service's answer does not read: {e}")))?;
    Ok(ImportOutcome {
        tenant: view.tenant,
        outcome: "imported",
        inventory: Some(view.inventory),
        pages,
    })
}

/// Reads a file of at most `max` bytes (a larger one is refused before it is read whole).
fn read_file(path: &str, max: usize) -> Result<Vec<u8>, InventoryError> {
    use std::io::Read as _;
    let file = |source| InventoryError::File {
        path: path.to_string(),
        source,
    };
    let f = std::fs::File::open(path).map_err(file)?;
    let mut bytes = Vec::new();
    f.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(file)?;
    if bytes.len() > max {
        return Err(
            cavra_tenant_store::inventory_source::SourceError::TooLarge {
                source_name: path.to_string(),
                size: bytes.len(),
                max,
            }
            .into(),
        );
    }
    Ok(bytes)
}

//! Inventory versions and items, and polling leases, on SQLite (see [`crate::inventory`]).

use super::*;
use crate::inventory::{
    InventoryItem, InventoryVersion, NewInventory, VERSION_COLUMNS, version_from,
};

fn version_row(r: &Row<'_>) -> rusqlite::Result<VersionRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

type VersionRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    String,
    String,
    i64,
);

fn to_version(v: VersionRow) -> Result<InventoryVersion> {
    version_from(v.0, v.1, v.2, v.3, v.4, v.5, v.6, v.7, v.8, v.9)
}

impl crate::inventory::Inventory for SqliteDb {
    async fn import_inventory(
        &self,
        tenant: &str,
        import: NewInventory,
    ) -> Result<InventoryVersion> {
        import.check()?;
        let tenant = tenant.to_string();
        self.write(move |c, settings| {
            atomic(c, |c| {
                let last: i64 = c
                    .prepare_cached(
                        "SELECT coalesce(max(version), 0) FROM inventory_versions WHERE tenant = ?1",
                    )?
                    .query_row(params![tenant], |r| r.get(0))?;
                let version = last + 1;
                let log_index = append(
                    c,
                    settings,
                    &tenant,
                    NewEntry {
                        kind: "inventory",
                        ref_id: Some(&format!("inventory:{version}")),
                        session_id: None,
                        timestamp: &import.imported_at.to_string(),
                        body: import.entry_body(version as u64).into(),
                    },
                )?;
                let stored = import.version(version as u64, log_index);
                c.prepare_cached(&format!(
                    "INSERT INTO inventory_versions (tenant, {VERSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ))?
                .execute(params![
                    tenant,
                    version,
                    stored.source,
                    stored.format,
                    stored.digest,
                    stored.etag,
                    serde_json::to_string(&stored.counts)?,
                    stored.items as i64,
                    stored.imported_at,
                    stored.imported_by,
                    log_index as i64
                ])?;
                let mut st = c.prepare_cached(
                    "INSERT INTO inventory_items (tenant, version, id, kind, item) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for item in &import.items {
                    st.execute(params![
                        tenant,
                        version,
                        item.id,
                        item.kind.as_str(),
                        serde_json::to_string(item)?
                    ])?;
                }
                Ok(stored)
            })
        })
        .await
    }

    async fn inventory_versions(
        &self,
        tenant: &str,
        limit: usize,
    ) -> Result<Vec<InventoryVersion>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM inventory_versions WHERE tenant = ?1 ORDER BY version DESC LIMIT ?2"
            ))?;
            let rows = st.query_map(params![tenant, limit.min(i64::MAX as usize) as i64], version_row)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(to_version(r?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn inventory_version(
        &self,
        tenant: &str,
        version: Option<u64>,
    ) -> Result<Option<InventoryVersion>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let row = match version {
                Some(v) => c
                    .prepare_cached(&format!(
                        "SELECT {VERSION_COLUMNS} FROM inventory_versions WHERE tenant = ?1 AND version = ?2"
                    ))?
                    .query_row(params![tenant, v.min(i64::MAX as u64) as i64], version_row)
                    .optional()?,
                None => c
                    .prepare_cached(&format!(
                        "SELECT {VERSION_COLUMNS} FROM inventory_versions WHERE tenant = ?1 ORDER BY version DESC LIMIT 1"
                    ))?
                    .query_row(params![tenant], version_row)
                    .optional()?,
            };
            row.map(to_version).transpose()
        })
        .await
    }

    async fn inventory_items(
        &self,
        tenant: &str,
        version: u64,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<InventoryItem>> {
        let (tenant, after) = (tenant.to_string(), after.unwrap_or("").to_string());
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT item FROM inventory_items WHERE tenant = ?1 AND version = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
            )?;
            let rows = st.query_map(
                params![
                    tenant,
                    version.min(i64::MAX as u64) as i64,
                    after,
                    limit.min(i64::MAX as usize) as i64
                ],
                |r| r.get::<_, String>(0),
            )?;
            let mut out = Vec::new();
            for r in rows {
                out.push(serde_json::from_str(&r?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn try_lease(&self, name: &str, owner: &str, now_ms: i64, lease_ms: i64) -> Result<bool> {
        let (name, owner) = (name.to_string(), owner.to_string());
        self.write(move |c, _| {
            let changed = c
                .prepare_cached(
                    "INSERT INTO connector_leases (name, owner, until_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms
                     WHERE connector_leases.owner = excluded.owner OR connector_leases.until_ms <= ?4",
                )?
                .execute(params![name, owner, now_ms.saturating_add(lease_ms), now_ms])?;
            Ok(changed == 1)
        })
        .await
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<()> {
        let (name, owner) = (name.to_string(), owner.to_string());
        self.write(move |c, _| {
            c.prepare_cached("DELETE FROM connector_leases WHERE name = ?1 AND owner = ?2")?
                .execute(params![name, owner])?;
            Ok(())
        })
        .await
    }
}

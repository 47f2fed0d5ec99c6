//! Inventory versions and items, and polling leases, on PostgreSQL (see
//! [`crate::inventory`]). Imports of one tenant are serialised by a transaction-scoped
//! advisory lock, so that two replicas never number two imports the same.

use super::*;
use crate::inventory::{
    InventoryItem, InventoryVersion, NewInventory, VERSION_COLUMNS, version_from,
};

/// Items written per statement.
const CHUNK: usize = 2_000;

fn to_version(r: &Row) -> Result<InventoryVersion> {
    version_from(
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
        r.try_get(7)?,
        r.try_get(8)?,
        r.try_get(9)?,
    )
}

impl crate::inventory::Inventory for PgDb {
    async fn import_inventory(
        &self,
        tenant: &str,
        import: NewInventory,
    ) -> Result<InventoryVersion> {
        import.check()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('cavra-inventory:' || $1))",
            &[&tenant],
        )
        .await?;
        let last: i64 = tx
            .query_one(
                "SELECT coalesce(max(version), 0)::BIGINT FROM inventory_versions WHERE tenant = $1",
                &[&tenant],
            )
            .await?
            .try_get(0)?;
        let version = last + 1;
        let ref_id = format!("inventory:{version}");
        let log_index = append(
            &tx,
            &self.settings,
            tenant,
            NewEntry {
                kind: "inventory",
                ref_id: Some(&ref_id),
                session_id: None,
                timestamp: &import.imported_at.to_string(),
                body: import.entry_body(version as u64).into(),
            },
        )
        .await?;
        let stored = import.version(version as u64, log_index);
        tx.execute(
            &format!(
                "INSERT INTO inventory_versions (tenant, {VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            &[
                &tenant,
                &version,
                &stored.source,
                &stored.format,
                &stored.digest,
                &stored.etag,
                &serde_json::to_string(&stored.counts)?,
                &(stored.items as i64),
                &stored.imported_at.to_string(),
                &stored.imported_by,
                &(log_index as i64),
            ],
        )
        .await?;
        for chunk in import.items.chunks(CHUNK) {
            let ids: Vec<&str> = chunk.iter().map(|i| i.id.as_str()).collect();
            let kinds: Vec<&str> = chunk.iter().map(|i| i.kind.as_str()).collect();
            let items = chunk
                .iter()
                .map(serde_json::to_string)
                .collect::<std::result::Result<Vec<String>, _>>()?;
            tx.execute(
                "INSERT INTO inventory_items (tenant, version, id, kind, item) SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[])",
                &[&tenant, &version, &ids, &kinds, &items],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    async fn inventory_versions(
        &self,
        tenant: &str,
        limit: usize,
    ) -> Result<Vec<InventoryVersion>> {
        let c = self.client().await?;
        c.query(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM inventory_versions WHERE tenant = $1 ORDER BY version DESC LIMIT $2"
            ),
            &[&tenant, &(limit.min(i64::MAX as usize) as i64)],
        )
        .await?
        .iter()
        .map(to_version)
        .collect()
    }

    async fn inventory_version(
        &self,
        tenant: &str,
        version: Option<u64>,
    ) -> Result<Option<InventoryVersion>> {
        let c = self.client().await?;
        let row = match version {
            Some(v) => {
                c.query_opt(
                    &format!(
                        "SELECT {VERSION_COLUMNS} FROM inventory_versions WHERE tenant = $1 AND version = $2"
                    ),
                    &[&tenant, &(v.min(i64::MAX as u64) as i64)],
                )
                .await?
            }
            None => {
                c.query_opt(
                    &format!(
                        "SELECT {VERSION_COLUMNS} FROM inventory_versions WHERE tenant = $1 ORDER BY version DESC LIMIT 1"
                    ),
                    &[&tenant],
                )
                .await?
            }
        };
        row.as_ref().map(to_version).transpose()
    }

    async fn inventory_items(
        &self,
        tenant: &str,
        version: u64,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<InventoryItem>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT item FROM inventory_items WHERE tenant = $1 AND version = $2 AND id > $3 ORDER BY id LIMIT $4",
                &[
                    &tenant,
                    &(version.min(i64::MAX as u64) as i64),
                    &after.unwrap_or(""),
                    &(limit.min(i64::MAX as usize) as i64),
                ],
            )
            .await?;
        rows.iter()
            .map(|r| Ok(serde_json::from_str(r.try_get::<_, &str>(0)?)?))
            .collect()
    }

    async fn try_lease(&self, name: &str, owner: &str, now_ms: i64, lease_ms: i64) -> Result<bool> {
        let c = self.client().await?;
        let changed = c
            .execute(
                "INSERT INTO connector_leases (name, owner, until_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, until_ms = EXCLUDED.until_ms
                 WHERE connector_leases.owner = EXCLUDED.owner OR connector_leases.until_ms <= $4",
                &[&name, &owner, &now_ms.saturating_add(lease_ms), &now_ms],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "DELETE FROM connector_leases WHERE name = $1 AND owner = $2",
            &[&name, &owner],
        )
        .await?;
        Ok(())
    }
}

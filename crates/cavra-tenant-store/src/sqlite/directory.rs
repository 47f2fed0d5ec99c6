//! Tenants and their API tokens.

use super::*;

impl Directory for SqliteDb {
    async fn create_tenant(&self, t: &Tenant) -> Result<bool> {
        let t = t.clone();
        self.write(move |c, _| {
            Ok(c.prepare_cached(
                "INSERT OR IGNORE INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![t.id, t.name, t.created_at])?
                == 1)
        })
        .await
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        self.read(|c| {
            let mut st =
                c.prepare_cached("SELECT id, name, created_at FROM tenants ORDER BY id")?;
            let rows = st.query_map([], |r| {
                Ok(Tenant {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        let id = id.to_string();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT id, name, created_at FROM tenants WHERE id = ?1")?
                    .query_row(params![id], |r| {
                        Ok(Tenant {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            created_at: r.get(2)?,
                        })
                    })
                    .optional()?,
            )
        })
        .await
    }

    async fn entitlement(&self, tenant: &str) -> Result<Option<Entitlement>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let row = c
                .prepare_cached(
                    "SELECT status, expires_at, features, limits FROM tenants WHERE id = ?1",
                )?
                .query_row(params![tenant], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            row.map(|cols| crate::entitlement::from_columns(&tenant, cols))
                .transpose()
        })
        .await
    }

    async fn set_entitlement(&self, tenant: &str, e: &Entitlement) -> Result<bool> {
        let tenant = tenant.to_string();
        let (status, expires_at, features, limits) = crate::entitlement::to_columns(e)?;
        self.write(move |c, _| {
            Ok(c.prepare_cached(
                "UPDATE tenants SET status = ?1, expires_at = ?2, features = ?3, limits = ?4 WHERE id = ?5",
            )?
            .execute(params![status, expires_at, features, limits, tenant])?
                == 1)
        })
        .await
    }

    async fn insert_token(&self, t: &TokenRecord) -> Result<()> {
        let (id, tenant, subject) = (t.id.clone(), t.tenant.clone(), t.subject.clone());
        let cols = TokenColumns::of(t)?;
        self.write(move |c, _| {
            c.prepare_cached(&format!(
                "INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))?
            .execute(params![
                id,
                tenant,
                subject,
                cols.roles,
                cols.groups,
                cols.digest,
                cols.created_at,
                cols.expires_at,
                cols.revoked_at
            ])?;
            Ok(())
        })
        .await
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        let id = id.to_string();
        self.read(move |c| {
            let row = c
                .prepare_cached(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?1"
                ))?
                .query_row(params![id], token_row)
                .optional()?;
            row.map(finish_token).transpose()
        })
        .await
    }

    async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenRecord>> {
        let tenant = tenant.map(str::to_string);
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE ?1 IS NULL OR tenant = ?1 ORDER BY created_at, id"
            ))?;
            let rows = st.query_map(params![tenant], token_row)?;
            rows.map(|r| finish_token(r?)).collect()
        })
        .await
    }

    async fn revoke_token(&self, tenant: Option<&str>, id: &str, at: Timestamp) -> Result<bool> {
        let (tenant, id) = (tenant.map(str::to_string), id.to_string());
        self.write(move |c, _| {
            Ok(c.prepare_cached(
                "UPDATE api_tokens SET revoked_at = ?1 WHERE id = ?2 AND (?3 IS NULL OR tenant = ?3) AND revoked_at IS NULL",
            )?
            .execute(params![at, id, tenant])?
                == 1)
        })
        .await
    }
}

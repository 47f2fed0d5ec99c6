//! Tenants and their API tokens.

use super::*;

impl Directory for PgDb {
    async fn create_tenant(&self, t: &Tenant) -> Result<bool> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .await?;
        Ok(c.execute(&st, &[&t.id, &t.name, &t.created_at.text()])
            .await?
            == 1)
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached("SELECT id, name, created_at FROM tenants ORDER BY id")
            .await?;
        c.query(&st, &[]).await?.iter().map(tenant_row).collect()
    }

    async fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached("SELECT id, name, created_at FROM tenants WHERE id = $1")
            .await?;
        c.query_opt(&st, &[&id])
            .await?
            .as_ref()
            .map(tenant_row)
            .transpose()
    }

    async fn entitlement(&self, tenant: &str) -> Result<Option<Entitlement>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT status, expires_at, features, limits FROM tenants WHERE id = $1",
            )
            .await?;
        match c.query_opt(&st, &[&tenant]).await? {
            None => Ok(None),
            Some(r) => crate::entitlement::from_columns(
                tenant,
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?),
            )
            .map(Some),
        }
    }

    async fn set_entitlement(&self, tenant: &str, e: &Entitlement) -> Result<bool> {
        let (status, expires_at, features, limits) = crate::entitlement::to_columns(e)?;
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "UPDATE tenants SET status = $1, expires_at = $2, features = $3, limits = $4 WHERE id = $5",
            )
            .await?;
        Ok(
            c.execute(&st, &[&status, &expires_at, &features, &limits, &tenant])
                .await?
                == 1,
        )
    }

    async fn insert_token(&self, t: &TokenRecord) -> Result<()> {
        let cols = TokenColumns::of(t)?;
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .await?;
        c.execute(
            &st,
            &[
                &t.id,
                &t.tenant,
                &t.subject,
                &cols.roles,
                &cols.groups,
                &cols.digest,
                &cols.created_at,
                &cols.expires_at,
                &cols.revoked_at,
            ],
        )
        .await?;
        Ok(())
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1"
            ))
            .await?;
        c.query_opt(&st, &[&id])
            .await?
            .as_ref()
            .map(token_row)
            .transpose()
    }

    async fn tokens(&self, tenant: Option<&str>) -> Result<Vec<TokenRecord>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE $1::text IS NULL OR tenant = $1 ORDER BY created_at, id"
            ))
            .await?;
        c.query(&st, &[&tenant])
            .await?
            .iter()
            .map(token_row)
            .collect()
    }

    async fn revoke_token(&self, tenant: Option<&str>, id: &str, at: Timestamp) -> Result<bool> {
        let at = at.text();
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND ($3::text IS NULL OR tenant = $3) AND revoked_at IS NULL",
            )
            .await?;
        Ok(c.execute(&st, &[&at, &id, &tenant]).await? == 1)
    }
}

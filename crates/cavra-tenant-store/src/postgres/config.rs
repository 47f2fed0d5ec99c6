//! The registry, policy packs and their assignments.

use super::*;

impl Configuration for PgDb {
    async fn put_registry(&self, tenant: &str, r: &RegistryRecord) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO registry (tenant, kind, name, record, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, kind, name) DO UPDATE SET record = EXCLUDED.record, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by",
            )
            .await?,
            &[
                &tenant,
                &r.kind.as_str(),
                &r.name,
                &serde_json::to_string(&r.record)?,
                &r.updated_at.text(),
                &r.updated_by,
            ],
        )
        .await?;
        append(&tx, &self.settings, tenant, NewEntry { kind: "registry", ref_id: Some(&r.name), session_id: None, timestamp: &r.updated_at.text(), body: serde_json::json!({"kind": r.kind, "name": r.name, "record": r.record, "by": r.updated_by}).into() })
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn registry(&self, tenant: &str, kind: RegistryKind) -> Result<Vec<RegistryRecord>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT name, record, updated_at, updated_by FROM registry WHERE tenant = $1 AND kind = $2 ORDER BY name",
            )
            .await?;
        c.query(&st, &[&tenant, &kind.as_str()])
            .await?
            .iter()
            .map(|r| registry_row(kind, r))
            .collect()
    }

    async fn registry_entry(
        &self,
        tenant: &str,
        kind: RegistryKind,
        name: &str,
    ) -> Result<Option<RegistryRecord>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT name, record, updated_at, updated_by FROM registry WHERE tenant = $1 AND kind = $2 AND name = $3",
            )
            .await?;
        c.query_opt(&st, &[&tenant, &kind.as_str(), &name])
            .await?
            .as_ref()
            .map(|r| registry_row(kind, r))
            .transpose()
    }

    async fn delete_registry(&self, tenant: &str, kind: RegistryKind, name: &str) -> Result<bool> {
        let c = self.client().await?;
        let st = c
            .prepare_cached("DELETE FROM registry WHERE tenant = $1 AND kind = $2 AND name = $3")
            .await?;
        Ok(c.execute(&st, &[&tenant, &kind.as_str(), &name]).await? == 1)
    }

    async fn put_pack(&self, tenant: &str, p: &StoredPack) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let st = tx
            .prepare_cached(&format!(
                "INSERT INTO policy_packs (tenant, {PACK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant, digest) DO NOTHING"
            ))
            .await?;
        let inserted = tx
            .execute(
                &st,
                &[
                    &tenant,
                    &p.digest,
                    &p.pack_id,
                    &p.document,
                    &p.signed_by.as_ref().map(|v| v.to_string()),
                    &p.uploaded_at.text(),
                    &p.uploaded_by,
                ],
            )
            .await?;
        // The upload is evidence (with its verified signer) the first time only: a pack
        // uploaded again is the same pack.
        if inserted == 1 {
            append(
                &tx,
                &self.settings,
                tenant,
                NewEntry {
                    kind: "policy_pack",
                    ref_id: Some(&p.digest),
                    session_id: None,
                    timestamp: &p.uploaded_at.text(),
                    body: crate::log::pack_body(p).into(),
                },
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn packs(&self, tenant: &str) -> Result<Vec<StoredPack>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {PACK_COLUMNS} FROM policy_packs WHERE tenant = $1 ORDER BY uploaded_at, digest"
            ))
            .await?;
        c.query(&st, &[&tenant])
            .await?
            .iter()
            .map(pack_row)
            .collect()
    }

    async fn pack(&self, tenant: &str, digest: &str) -> Result<Option<StoredPack>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {PACK_COLUMNS} FROM policy_packs WHERE tenant = $1 AND digest = $2"
            ))
            .await?;
        c.query_opt(&st, &[&tenant, &digest])
            .await?
            .as_ref()
            .map(pack_row)
            .transpose()
    }

    async fn assign(&self, tenant: &str, a: &Assignment) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO policy_assignments (tenant, scope, pack, assigned_at, assigned_by) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, scope) DO UPDATE SET pack = EXCLUDED.pack, assigned_at = EXCLUDED.assigned_at, assigned_by = EXCLUDED.assigned_by",
            )
            .await?,
            &[&tenant, &a.scope, &a.pack, &a.assigned_at.text(), &a.assigned_by],
        )
        .await?;
        append(
            &tx,
            &self.settings,
            tenant,
            NewEntry {
                kind: "policy_assignment",
                ref_id: Some(&a.pack),
                session_id: None,
                timestamp: &a.assigned_at.text(),
                body: serde_json::to_value(a)?.into(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn assignments(&self, tenant: &str) -> Result<Vec<Assignment>> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "SELECT scope, pack, assigned_at, assigned_by FROM policy_assignments WHERE tenant = $1 ORDER BY scope",
            )
            .await?;
        c.query(&st, &[&tenant])
            .await?
            .iter()
            .map(|r| {
                Ok(Assignment {
                    scope: r.try_get(0)?,
                    pack: r.try_get(1)?,
                    assigned_at: stamp(r, 2, "policy assignment")?,
                    assigned_by: r.try_get(3)?,
                })
            })
            .collect()
    }
}

//! The registry, policy packs and their assignments.

use super::*;

impl Configuration for SqliteDb {
    async fn put_registry(&self, tenant: &str, r: &RegistryRecord) -> Result<()> {
        let (tenant, r) = (tenant.to_string(), r.clone());
        self.write(move |c, settings| {
            atomic(c, |c| {
                c.prepare_cached(
                    "INSERT OR REPLACE INTO registry (tenant, kind, name, record, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    tenant,
                    r.kind.as_str(),
                    r.name,
                    serde_json::to_string(&r.record)?,
                    r.updated_at,
                    r.updated_by
                ])?;
                append(c, settings, &tenant, NewEntry { kind: "registry", ref_id: Some(&r.name), session_id: None, timestamp: &r.updated_at.text(), body: serde_json::json!({"kind": r.kind, "name": r.name, "record": r.record, "by": r.updated_by}).into() })?;
                Ok(())
            })
        })
        .await
    }

    async fn registry(&self, tenant: &str, kind: RegistryKind) -> Result<Vec<RegistryRecord>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT name, record, updated_at, updated_by FROM registry WHERE tenant = ?1 AND kind = ?2 ORDER BY name",
            )?;
            let rows = st.query_map(params![tenant, kind.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (name, record, updated_at, updated_by) = row?;
                out.push(RegistryRecord {
                    kind,
                    record: serde_json::from_str(&record)
                        .map_err(|e| StoreError::Corrupt(format!("registry {name}: {e}")))?,
                    name,
                    updated_at,
                    updated_by,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn registry_entry(
        &self,
        tenant: &str,
        kind: RegistryKind,
        name: &str,
    ) -> Result<Option<RegistryRecord>> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        self.read(move |c| {
            let row = c
                .prepare_cached(
                    "SELECT record, updated_at, updated_by FROM registry WHERE tenant = ?1 AND kind = ?2 AND name = ?3",
                )?
                .query_row(params![tenant, kind.as_str(), name], |r| {
                    Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            row.map(|(record, updated_at, updated_by)| {
                Ok(RegistryRecord {
                    kind,
                    record: serde_json::from_str(&record)
                        .map_err(|e| StoreError::Corrupt(format!("registry {name}: {e}")))?,
                    name: name.clone(),
                    updated_at,
                    updated_by,
                })
            })
            .transpose()
        })
        .await
    }

    async fn delete_registry(&self, tenant: &str, kind: RegistryKind, name: &str) -> Result<bool> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        self.write(move |c, _| {
            Ok(c.prepare_cached(
                "DELETE FROM registry WHERE tenant = ?1 AND kind = ?2 AND name = ?3",
            )?
            .execute(params![tenant, kind.as_str(), name])?
                == 1)
        })
        .await
    }

    async fn put_pack(&self, tenant: &str, p: &StoredPack) -> Result<()> {
        let (tenant, p) = (tenant.to_string(), p.clone());
        self.write(move |c, settings| {
            atomic(c, |c| {
                let inserted = c
                    .prepare_cached(
                        "INSERT OR IGNORE INTO policy_packs (tenant, digest, pack_id, document, signed_by, uploaded_at, uploaded_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?
                    .execute(params![
                        tenant,
                        p.digest,
                        p.pack_id,
                        p.document,
                        p.signed_by.as_ref().map(|v| v.to_string()),
                        p.uploaded_at,
                        p.uploaded_by
                    ])?;
                // The upload is evidence (with its verified signer) the first time only.
                if inserted == 1 {
                    append(c, settings, &tenant, NewEntry { kind: "policy_pack", ref_id: Some(&p.digest), session_id: None, timestamp: &p.uploaded_at.text(), body: crate::log::pack_body(&p).into() })?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn packs(&self, tenant: &str) -> Result<Vec<StoredPack>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT digest, pack_id, document, signed_by, uploaded_at, uploaded_by FROM policy_packs WHERE tenant = ?1 ORDER BY uploaded_at, digest",
            )?;
            let rows = st.query_map(params![tenant], pack_row)?;
            rows.map(|r| finish_pack(r?)).collect()
        })
        .await
    }

    async fn pack(&self, tenant: &str, digest: &str) -> Result<Option<StoredPack>> {
        let (tenant, digest) = (tenant.to_string(), digest.to_string());
        self.read(move |c| {
            let row = c
                .prepare_cached(
                    "SELECT digest, pack_id, document, signed_by, uploaded_at, uploaded_by FROM policy_packs WHERE tenant = ?1 AND digest = ?2",
                )?
                .query_row(params![tenant, digest], pack_row)
                .optional()?;
            row.map(finish_pack).transpose()
        })
        .await
    }

    async fn assign(&self, tenant: &str, a: &Assignment) -> Result<()> {
        let (tenant, a) = (tenant.to_string(), a.clone());
        self.write(move |c, settings| {
            atomic(c, |c| {
                c.prepare_cached(
                    "INSERT OR REPLACE INTO policy_assignments (tenant, scope, pack, assigned_at, assigned_by) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![tenant, a.scope, a.pack, a.assigned_at, a.assigned_by])?;
                append(c, settings, &tenant, NewEntry { kind: "policy_assignment", ref_id: Some(&a.pack), session_id: None, timestamp: &a.assigned_at.text(), body: serde_json::to_value(&a)?.into() })?;
                Ok(())
            })
        })
        .await
    }

    async fn assignments(&self, tenant: &str) -> Result<Vec<Assignment>> {
        let tenant = tenant.to_string();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT scope, pack, assigned_at, assigned_by FROM policy_assignments WHERE tenant = ?1 ORDER BY scope",
            )?;
            let rows = st.query_map(params![tenant], |r| {
                Ok(Assignment {
                    scope: r.get(0)?,
                    pack: r.get(1)?,
                    assigned_at: r.get(2)?,
                    assigned_by: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}

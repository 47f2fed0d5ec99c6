//! A tenant's AISPM posture from its evidence log in the store: the entries read page by
//! page in log order and folded by `cavra-aispm`, exactly as `cavra aispm posture
//! --from-bundle` folds a bundle's entries.

use cavra_aispm::{Accumulator, Posture};
use cavra_tenant_store::{Db, EntryQuery, Evidence as _, Result};

use crate::admin::AdminError;

/// Entries read from the store at a time: two pages (one read, one folded) are all the
/// posture holds of the log.
const PAGE: usize = 4096;

/// The posture of `tenant`'s log as it is now (the entries up to its head when the read
/// starts; entries appended meanwhile wait for the next call).
pub async fn tenant_posture(db: &Db, tenant: &str) -> Result<Posture> {
    posture_at(db, tenant, None, None).await
}

/// The posture of the entries of `tenant`'s log written at or after `since` and before
/// `until` (RFC 3339 in the store's form, as `api::query_time` gives it; None: unbounded).
/// Only the period's entries are folded: an approval asked before `since` and answered in the
/// period counts as answered but not as asked.
pub async fn posture_at(
    db: &Db,
    tenant: &str,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Posture> {
    let size = db.log_head(tenant).await?.map(|h| h.size).unwrap_or(0);
    let mut acc = Accumulator::new();
    // The next page is read (on the store's reader thread) while this one is folded here.
    let read = |after: Option<u64>| {
        let (db, tenant) = (db.clone(), tenant.to_string());
        let query = EntryQuery {
            since: since.map(str::to_string),
            until: until.map(str::to_string),
            after_index: after,
            limit: PAGE,
            ..EntryQuery::default()
        };
        tokio::spawn(async move { db.entry_bytes(&tenant, &query).await })
    };
    let mut next = Some(read(None));
    while let Some(reading) = next.take() {
        let page = reading
            .await
            .map_err(|e| cavra_tenant_store::StoreError::Corrupt(format!("posture read: {e}")))??;
        let Some(last) = page.last().map(|e| e.0) else {
            break;
        };
        if last + 1 < size && page.len() == PAGE {
            next = Some(read(Some(last)));
        }
        // The stored bytes, folded as a bundle's lines are: no JSON value per entry.
        for (_, bytes) in page.iter().take_while(|e| e.0 < size) {
            acc.push_line(bytes);
        }
    }
    let mut posture = acc.finish();
    // A log (or period) without entries still belongs to the tenant asked about.
    posture.tenant.get_or_insert_with(|| tenant.to_string());
    Ok(posture)
}

/// The posture of `tenant` read straight from the database at `url` (`cavra aispm posture
/// --database-url`); a tenant the database does not hold is a usage error.
pub async fn database_posture(url: &str, tenant: &str) -> std::result::Result<Posture, AdminError> {
    use cavra_tenant_store::Directory as _;
    let config = crate::ServerConfig {
        database_url: url.to_string(),
        ..crate::ServerConfig::default()
    };
    let db = crate::admin::open_existing(&config).await?;
    let other = |e: cavra_tenant_store::StoreError| AdminError::Other(e.to_string());
    if db.tenant(tenant).await.map_err(other)?.is_none() {
        return Err(AdminError::Usage(format!(
            "no tenant `{tenant}` in this database"
        )));
    }
    let mut posture = tenant_posture(&db, tenant).await.map_err(other)?;
    crate::inventory::apply_to_posture(&db, tenant, &config.inventory, &mut posture, None, None)
        .await
        .map_err(other)?;
    Ok(posture)
}

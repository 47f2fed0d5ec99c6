//! A tenant's AISPM posture from its evidence log in the store: the entries read page by
//! page in log order and folded by `cavra-aispm`, exactly as `cavra aispm posture
//! --from-bundle` folds a bundle's entries.

use cavra_aispm::{Accumulator, Posture};
use cavra_tenant_store::{Db, EntryQuery, Evidence, Result};

/// Entries read from the store at a time: one page is all the posture holds of the log.
const PAGE: usize = 2048;

/// The posture of `tenant`'s log as it is now (the entries up to its head when the read
/// starts; entries appended meanwhile wait for the next call).
pub async fn tenant_posture(db: &Db, tenant: &str) -> Result<Posture> {
    let size = db.log_head(tenant).await?.map(|h| h.size).unwrap_or(0);
    let mut acc = Accumulator::new();
    let mut after: Option<u64> = None;
    let mut read = 0u64;
    while read < size {
        let want = usize::try_from(size - read).unwrap_or(PAGE).min(PAGE);
        let page = db
            .entries(
                tenant,
                &EntryQuery {
                    after_index: after,
                    limit: want,
                    ..EntryQuery::default()
                },
            )
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.index);
        read += page.len() as u64;
        for e in &page {
            acc.push_value(&e.entry);
        }
    }
    let mut posture = acc.finish();
    // A log without entries still belongs to the tenant asked about.
    posture.tenant.get_or_insert_with(|| tenant.to_string());
    Ok(posture)
}

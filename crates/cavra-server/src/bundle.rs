//! Signed evidence bundles of one tenant's log, in exactly the format `cavra evidence bundle`
//! writes (so `cavra evidence verify` checks them offline), delivered as a tar archive.

use std::collections::HashMap;

use cavra_bundle::{BundleError, BundleOptions, LogSource, Selection};
use cavra_evidence::canonical::to_canonical_bytes;
use cavra_evidence::checkpoint::Checkpoint;
use cavra_evidence::dsse::Envelope;
use cavra_store::{EntryFilter, LogEntry, LogSigner, StoredCheckpoint};
use cavra_tenant_store::{Db, EntryQuery};
use serde_json::Value;

use crate::packs::PackCache;
use crate::problem::Problem;

/// One tenant's log, read for a bundle: only its own entries, leaves, packs and approvals.
pub struct TenantLog {
    log_id: String,
    checkpoint: StoredCheckpoint,
    entries: Vec<LogEntry>,
    leaves: Vec<[u8; 32]>,
    policies: HashMap<String, String>,
    approvals: HashMap<String, Value>,
}

fn too_many_entries(max: usize) -> Problem {
    Problem::unprocessable(format!(
        "the selection holds more than {max} entries (the service's limits.bundle_entries); narrow it with session_id, since or until"
    ))
}

/// Refuses a selection of more than `max_entries` of `tenant`'s log entries. Counted (no further
/// than one past the cap) before anything of it is read, and before a bundle permit is taken,
/// so an oversized request is answered at once whatever else is being assembled.
pub async fn check_selection_size(
    db: &Db,
    tenant: &str,
    selection: &Selection,
    max_entries: usize,
) -> Result<(), Problem> {
    let selected = db
        .count_entries(
            tenant,
            &EntryQuery {
                session_id: selection.session_id.clone(),
                since: selection.since.clone(),
                until: selection.until.clone(),
                ..EntryQuery::default()
            },
            max_entries as u64,
        )
        .await?;
    if selected > max_entries as u64 {
        return Err(too_many_entries(max_entries));
    }
    Ok(())
}

impl TenantLog {
    /// Reads what a bundle of `selection` needs from `tenant`'s log, checkpointing it first.
    /// The caller has checked the selection's size ([`check_selection_size`]); `max_entries`
    /// still bounds what is read, should the log grow in between.
    pub async fn load(
        db: &Db,
        packs: &PackCache,
        tenant: &str,
        selection: &Selection,
        now: &str,
        max_entries: usize,
    ) -> Result<TenantLog, Problem> {
        let Some(cp) = db.checkpoint_now(tenant, now).await? else {
            return Err(Problem::not_found(
                "evidence (the tenant has no entries yet)",
            ));
        };
        let head = db
            .log_head(tenant)
            .await?
            .ok_or_else(|| Problem::not_found("evidence"))?;
        let payload = Envelope::from_json(&cp.envelope)
            .and_then(|e| e.payload_bytes())
            .map_err(Problem::internal)?;
        let checkpoint = Checkpoint::from_payload(&payload).map_err(Problem::internal)?;
        let tree_size = checkpoint.tree_size;
        let mut entries = Vec::new();
        let mut after = None;
        loop {
            let page = db
                .entries(
                    tenant,
                    &EntryQuery {
                        session_id: selection.session_id.clone(),
                        since: selection.since.clone(),
                        until: selection.until.clone(),
                        after_index: after,
                        limit: 1000,
                        ..EntryQuery::default()
                    },
                )
                .await?;
            let Some(last) = page.last().map(|e| e.index) else {
                break;
            };
            for e in page {
                if e.index >= tree_size {
                    continue;
                }
                let bytes = to_canonical_bytes(&e.entry);
                let leaf = cavra_evidence::merkle::leaf_hash(&bytes);
                if hex::encode(leaf) != e.leaf_hash {
                    return Err(Problem::internal(format!(
                        "tenant {tenant}: entry {} does not match its leaf hash",
                        e.index
                    )));
                }
                entries.push(LogEntry {
                    index: e.index,
                    kind: e.kind,
                    ref_id: e.ref_id,
                    session_id: e.session_id,
                    timestamp: e.timestamp,
                    bytes,
                    leaf_hash: leaf,
                });
            }
            if entries.len() > max_entries {
                return Err(too_many_entries(max_entries));
            }
            if last + 1 >= tree_size {
                break;
            }
            after = Some(last);
        }
        let leaves = db.leaf_hashes(tenant, tree_size).await?;
        let mut approvals = HashMap::new();
        let mut digests = std::collections::BTreeSet::new();
        for e in &entries {
            let v: Value = serde_json::from_slice(&e.bytes).unwrap_or_default();
            match e.kind.as_str() {
                "approval" => {
                    if let Some(id) = v["body"]["approval_id"].as_str()
                        && !approvals.contains_key(id)
                        && let Some(a) = db.approval(tenant, id).await?
                    {
                        approvals.insert(
                            id.to_string(),
                            serde_json::to_value(&a).map_err(Problem::internal)?,
                        );
                    }
                }
                "decision" => {
                    if let Some(d) = v["body"]["policy_digest"].as_str() {
                        digests.insert(d.to_string());
                    }
                }
                _ => {}
            }
        }
        let policies = policy_documents(db, packs, tenant, &digests).await?;
        Ok(TenantLog {
            log_id: head.log_id,
            checkpoint: StoredCheckpoint {
                checkpoint,
                envelope: cp.envelope,
            },
            entries,
            leaves,
            policies,
            approvals,
        })
    }
}

/// The canonical documents of the merged packs with `digests`: built-in packs and the
/// tenant's own uploads (never another tenant's).
async fn policy_documents(
    db: &Db,
    packs: &PackCache,
    tenant: &str,
    digests: &std::collections::BTreeSet<String>,
) -> Result<HashMap<String, String>, Problem> {
    let mut out = HashMap::new();
    if digests.is_empty() {
        return Ok(out);
    }
    let mut candidates = Vec::new();
    for p in cavra_policy::builtin::builtin_packs() {
        if let Ok(c) = packs.builtin(&format!("{}{}", crate::packs::BUILTIN, p.id)) {
            candidates.push(c);
        }
    }
    for stored in db.packs(tenant).await? {
        if let Ok(c) = packs.uploaded(&stored.digest, &stored.document) {
            candidates.push(c);
        }
    }
    for c in candidates {
        if digests.contains(&c.digest) && !out.contains_key(&c.digest) {
            let canonical = cavra_policy::canonical_document(&c.document)
                .map_err(|e| Problem::internal(e.message))?;
            out.insert(c.digest.clone(), canonical);
        }
    }
    Ok(out)
}

impl LogSource for TenantLog {
    fn log_id(&self) -> Result<String, BundleError> {
        Ok(self.log_id.clone())
    }

    fn checkpoint(
        &mut self,
        _fresh: Option<&LogSigner>,
        _created_at: &str,
    ) -> Result<StoredCheckpoint, BundleError> {
        // Signed by the store when the log was read, so that entries and checkpoint agree.
        Ok(self.checkpoint.clone())
    }

    fn for_each_entry(
        &self,
        filter: &EntryFilter,
        f: &mut dyn FnMut(LogEntry) -> Result<(), BundleError>,
    ) -> Result<(), BundleError> {
        for e in &self.entries {
            if filter.below.is_some_and(|b| e.index >= b) {
                continue;
            }
            f(e.clone())?;
        }
        Ok(())
    }

    fn leaf_hashes(&self, size: u64) -> Result<Vec<[u8; 32]>, BundleError> {
        Ok(self.leaves.iter().take(size as usize).copied().collect())
    }

    fn policy_document(&self, digest: &str) -> Result<Option<String>, BundleError> {
        Ok(self.policies.get(digest).cloned())
    }

    fn approval(&self, id: &str) -> Result<Option<Value>, BundleError> {
        Ok(self.approvals.get(id).cloned())
    }
}

/// Writes the bundle (signed with `signer`) and returns it as a tar archive.
pub fn bundle_tar(
    mut log: TenantLog,
    selection: Selection,
    signer: &LogSigner,
    retention_days: u32,
) -> Result<Vec<u8>, Problem> {
    let dir = tempfile::tempdir().map_err(Problem::internal)?;
    let out = dir.path().join("bundle");
    cavra_bundle::write_bundle_from(
        &mut log,
        &out,
        BundleOptions {
            selection,
            sign: Some(signer),
            log_signer: None,
            retention_days,
            legal_hold: false,
            created_at: time::OffsetDateTime::now_utc(),
            progress: None,
        },
    )
    .map_err(|e| match e {
        BundleError::Selection(m) => Problem::not_found(&format!("evidence to bundle ({m})")),
        other => Problem::internal(other),
    })?;
    let mut archive = tar::Builder::new(Vec::new());
    archive.mode(tar::HeaderMode::Deterministic);
    archive
        .append_dir_all("bundle", &out)
        .map_err(Problem::internal)?;
    archive.into_inner().map_err(Problem::internal)
}

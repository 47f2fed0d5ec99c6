//! Writing a bundle from the store's log.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use cavra_evidence::compact::batch_proof;
use cavra_evidence::dsse::Envelope;
use cavra_evidence::intoto::{Statement, Subject};
use cavra_evidence::trust::format_time;
use cavra_store::{EntryFilter, LogEntry, LogSigner, Store, StoredCheckpoint, Timestamp};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::{
    BUNDLE_PREDICATE_TYPE, BundleError, EntryHead, MANIFEST_FORMAT, digest_hex, files, io_err,
};

/// Which entries go into the bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Selection {
    /// One agent session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Entries at or after this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// Entries before this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

/// Where a bundle's entries, proofs, policies and approvals come from: the repository's
/// local store, or one tenant's log in the API service.
pub trait LogSource {
    /// The log's id.
    fn log_id(&self) -> Result<String, BundleError>;
    /// A checkpoint covering the entries to bundle: signed now by `fresh` when given, else
    /// the newest stored one.
    fn checkpoint(
        &mut self,
        fresh: Option<&LogSigner>,
        created_at: &str,
    ) -> Result<StoredCheckpoint, BundleError>;
    /// Calls `f` on each matching entry, in log order.
    fn for_each_entry(
        &self,
        filter: &EntryFilter,
        f: &mut dyn FnMut(LogEntry) -> Result<(), BundleError>,
    ) -> Result<(), BundleError>;
    /// The leaf hashes of the first `size` entries.
    fn leaf_hashes(&self, size: u64) -> Result<Vec<[u8; 32]>, BundleError>;
    /// The batch inclusion proof of `indices` (strictly increasing) in the tree of the first
    /// `size` entries. By default built from all `size` leaf hashes; a source that keeps
    /// subtree hashes answers without holding every leaf.
    fn batch_proof(&self, size: u64, indices: &[u64]) -> Result<Vec<[u8; 32]>, BundleError> {
        let leaves = self.leaf_hashes(size)?;
        if leaves.len() as u64 != size {
            return Err(BundleError::Invalid(format!(
                "the log holds {} entries but the checkpoint covers {size}; run `cavra evidence log verify`",
                leaves.len()
            )));
        }
        batch_proof(&leaves, indices)
            .map_err(|e| BundleError::Invalid(format!("cannot build the inclusion proof: {e}")))
    }
    /// The canonical JSON of the merged pack with this digest.
    fn policy_document(&self, digest: &str) -> Result<Option<String>, BundleError>;
    /// An approval as JSON (redacted again by the writer).
    fn approval(&self, id: &str) -> Result<Option<Value>, BundleError>;
}

impl LogSource for Store {
    fn log_id(&self) -> Result<String, BundleError> {
        Ok(self.log_state()?.0)
    }

    fn checkpoint(
        &mut self,
        fresh: Option<&LogSigner>,
        created_at: &str,
    ) -> Result<StoredCheckpoint, BundleError> {
        match fresh {
            Some(signer) => Ok(self.checkpoint_now(signer, created_at)?),
            None => self.checkpoints()?.pop().ok_or_else(|| {
                BundleError::Selection(
                    "the log has no signed checkpoint yet and no log key was given to sign one"
                        .into(),
                )
            }),
        }
    }

    fn for_each_entry(
        &self,
        filter: &EntryFilter,
        f: &mut dyn FnMut(LogEntry) -> Result<(), BundleError>,
    ) -> Result<(), BundleError> {
        let mut failed = None;
        Store::for_each_entry(self, filter, |e| {
            if failed.is_none()
                && let Err(err) = f(e)
            {
                failed = Some(err);
            }
            Ok(())
        })?;
        failed.map_or(Ok(()), Err)
    }

    fn leaf_hashes(&self, size: u64) -> Result<Vec<[u8; 32]>, BundleError> {
        Ok(Store::leaf_hashes(self, size)?)
    }

    fn policy_document(&self, digest: &str) -> Result<Option<String>, BundleError> {
        Ok(self.policy(digest)?.map(|(_, document)| document))
    }

    fn approval(&self, id: &str) -> Result<Option<Value>, BundleError> {
        Store::approval(self, id)?
            .map(|a| {
                serde_json::to_value(&a)
                    .map_err(|e| BundleError::Invalid(format!("approval {id}: {e}")))
            })
            .transpose()
    }
}

/// A key that signs bundles (the same shape as the log's checkpoint key).
pub type BundleSigner = LogSigner;

/// How to write a bundle.
pub struct BundleOptions<'a> {
    /// What to select.
    pub selection: Selection,
    /// Signs manifest.json's statement and co-signs the checkpoint. None: an unsigned bundle
    /// (which verifies only with `--allow-unsigned`).
    pub sign: Option<&'a BundleSigner>,
    /// The log's key: signs a fresh checkpoint covering every entry. None: the newest stored
    /// checkpoint is used and later entries are left out.
    pub log_signer: Option<&'a LogSigner>,
    /// Days the bundle must be kept.
    pub retention_days: u32,
    /// Kept until the hold is lifted, whatever the days say.
    pub legal_hold: bool,
    /// The bundle's time (the caller's clock).
    pub created_at: OffsetDateTime,
    /// Called with (entries written, entries in the log) as the bundle is written.
    pub progress: Option<&'a mut dyn FnMut(u64, u64)>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WrittenBundle {
    /// The bundle folder.
    pub dir: PathBuf,
    /// Entries in it.
    pub entries: u64,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// The checkpoint's tree head.
    pub root_hash: String,
    /// Counts by decision word (decision entries).
    pub decisions: BTreeMap<String, u64>,
    /// The bundle key, when signed.
    pub signed_by: Option<String>,
    /// Every file with sha256 and size.
    pub files: Vec<ManifestFile>,
}

/// One manifest line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Path inside the bundle, `/`-separated.
    pub path: String,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
}

/// Writes `bytes` to `dir/rel`, returning its manifest line.
fn put(dir: &Path, rel: &str, bytes: &[u8]) -> Result<ManifestFile, BundleError> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    std::fs::write(&path, bytes).map_err(io_err(&path))?;
    Ok(ManifestFile {
        path: rel.to_string(),
        sha256: hex::encode(Sha256::digest(bytes)),
        size: bytes.len() as u64,
    })
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s.into_bytes()
}

/// One action worth a line in the summary.
struct Notable {
    time: String,
    action: String,
    target: String,
    rule: String,
    reason: String,
    approver_group: Option<String>,
}

/// Writes a bundle of the selected entries to `out` (which must not exist or be empty). The
/// bundle is assembled in a sibling folder and renamed into place at the end, so a failure
/// leaves no half-written bundle behind.
pub fn write_bundle(
    store: &mut Store,
    out: &Path,
    options: BundleOptions<'_>,
) -> Result<WrittenBundle, BundleError> {
    write_bundle_from(store, out, options)
}

/// Writes a bundle from any [`LogSource`]; see [`write_bundle`].
pub fn write_bundle_from(
    store: &mut dyn LogSource,
    out: &Path,
    mut options: BundleOptions<'_>,
) -> Result<WrittenBundle, BundleError> {
    if out.exists() {
        let empty = std::fs::read_dir(out)
            .map_err(io_err(out))?
            .next()
            .is_none();
        if !empty {
            return Err(BundleError::Selection(format!(
                "{} exists and is not empty; choose a new folder",
                out.display()
            )));
        }
    }
    let created_at = format_time(options.created_at);
    let checkpoint: StoredCheckpoint = store.checkpoint(options.log_signer, &created_at)?;
    let tree_size = checkpoint.checkpoint.tree_size;
    let log_id = store.log_id()?;

    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(io_err(&staging))?;
    let result = assemble(
        store,
        &staging,
        &mut options,
        &checkpoint,
        &log_id,
        &created_at,
    );
    match result {
        Ok(mut written) => {
            if out.exists() {
                std::fs::remove_dir(out).map_err(io_err(out))?;
            }
            std::fs::rename(&staging, out).map_err(io_err(out))?;
            written.dir = out.to_path_buf();
            debug_assert_eq!(written.tree_size, tree_size);
            Ok(written)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

fn assemble(
    store: &mut dyn LogSource,
    dir: &Path,
    options: &mut BundleOptions<'_>,
    checkpoint: &StoredCheckpoint,
    log_id: &str,
    created_at: &str,
) -> Result<WrittenBundle, BundleError> {
    let tree_size = checkpoint.checkpoint.tree_size;
    let filter = EntryFilter {
        session_id: options.selection.session_id.clone(),
        since: options.selection.since,
        until: options.selection.until,
        below: Some(tree_size),
    };
    let mut manifest = Vec::new();

    // entries.jsonl, streamed.
    let entries_path = dir.join(files::ENTRIES);
    let file = std::fs::File::create(&entries_path).map_err(io_err(&entries_path))?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut indices = Vec::new();
    let mut decisions: BTreeMap<String, u64> = BTreeMap::new();
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    let mut policies = BTreeSet::new();
    let mut approval_ids = BTreeSet::new();
    let mut blocked = Vec::new();
    let mut routed = Vec::new();
    let mut first_time: Option<String> = None;
    let mut last_time = String::new();
    let mut write_error = None;
    store.for_each_entry(&filter, &mut |e| {
        if write_error.is_some() {
            return Ok(());
        }
        let head: EntryHead = serde_json::from_slice(&e.bytes).unwrap_or_default();
        if let Err(err) = writer
            .write_all(&e.bytes)
            .and_then(|_| writer.write_all(b"\n"))
        {
            write_error = Some(err);
            return Ok(());
        }
        hasher.update(&e.bytes);
        hasher.update(b"\n");
        size += e.bytes.len() as u64 + 1;
        indices.push(e.index);
        *kinds.entry(head.kind.clone()).or_default() += 1;
        if first_time.is_none() {
            first_time = Some(head.time.clone());
        }
        last_time.clone_from(&head.time);
        match head.kind.as_str() {
            "decision" => {
                let word = head.body.decision.clone().unwrap_or_default();
                *decisions.entry(word.clone()).or_default() += 1;
                if let Some(record) = &head.body.record {
                    if let Some(d) = &record.policy_digest {
                        policies.insert(d.clone());
                    }
                    if word == "block" || word == "require_approval" {
                        let notable = Notable {
                            time: head.time.clone(),
                            action: head.body.action_type.clone().unwrap_or_default(),
                            target: record.target.clone().unwrap_or_default(),
                            rule: record.rule_id.clone().unwrap_or_default(),
                            reason: record.reason.clone().unwrap_or_default(),
                            approver_group: record.approver_group.clone(),
                        };
                        if word == "block" {
                            blocked.push(notable);
                        } else {
                            routed.push(notable);
                        }
                    }
                }
            }
            "approval" => {
                if let Some(id) = &head.body.approval_id {
                    approval_ids.insert(id.clone());
                }
            }
            _ => {}
        }
        if indices.len() % 4096 == 0
            && let Some(progress) = options.progress.as_mut()
        {
            progress(indices.len() as u64, tree_size);
        }
        Ok(())
    })?;
    if let Some(err) = write_error {
        return Err(io_err(&entries_path)(err));
    }
    writer
        .flush()
        .and_then(|_| writer.get_ref().sync_all())
        .map_err(io_err(&entries_path))?;
    if indices.is_empty() {
        return Err(BundleError::Selection(
            "no log entries match the selection; nothing to bundle".into(),
        ));
    }
    if let Some(progress) = options.progress.as_mut() {
        progress(indices.len() as u64, tree_size);
    }
    manifest.push(ManifestFile {
        path: files::ENTRIES.into(),
        sha256: hex::encode(hasher.finalize()),
        size,
    });

    // proof.json
    let proof = store.batch_proof(tree_size, &indices)?;
    let proof_json = json!({
        "format": "cavra-batch-proof/v1",
        "tree_size": tree_size,
        "root_hash": checkpoint.checkpoint.root_hash,
        "hashes": proof.iter().map(hex::encode).collect::<Vec<_>>(),
    });
    manifest.push(put(dir, files::PROOF, &pretty(&proof_json))?);

    // checkpoint.dsse.json, co-signed by the bundle key.
    let mut envelope = Envelope::from_json(&checkpoint.envelope)
        .map_err(|e| BundleError::Invalid(format!("stored checkpoint: {e}")))?;
    if let Some(signer) = options.sign
        && !envelope.signatures.iter().any(|s| s.keyid == signer.key_id)
    {
        envelope
            .add_signature(&signer.key, signer.key_id.clone())
            .map_err(|e| BundleError::Invalid(format!("co-signing the checkpoint: {e}")))?;
    }
    manifest.push(put(
        dir,
        files::CHECKPOINT,
        format!("{}\n", envelope.to_json()).as_bytes(),
    )?);

    // policies/<hex>.json
    for digest in &policies {
        let hex_name = digest_hex(digest).ok_or_else(|| {
            BundleError::Invalid(format!(
                "an entry names a malformed policy digest {digest:?}"
            ))
        })?;
        let document = store.policy_document(digest)?.ok_or_else(|| {
            BundleError::Invalid(format!(
                "the policy {digest} that made some of these decisions is not in the store"
            ))
        })?;
        let computed = hex::encode(Sha256::digest(document.as_bytes()));
        if computed != hex_name {
            return Err(BundleError::Invalid(format!(
                "the stored policy {digest} does not match its digest"
            )));
        }
        manifest.push(put(
            dir,
            &format!("{}/{hex_name}.json", files::POLICIES),
            document.as_bytes(),
        )?);
    }

    // approvals.jsonl
    let redactor = cavra_redact::Redactor::builtin();
    let mut approvals = String::new();
    for id in &approval_ids {
        if let Some(value) = store.approval(id)? {
            let redacted = redactor.redact_json(&value).value;
            approvals.push_str(&cavra_evidence::canonical::to_canonical(&redacted));
            approvals.push('\n');
        }
    }
    manifest.push(put(dir, files::APPROVALS, approvals.as_bytes())?);

    // retention.json
    let retain_until = if options.legal_hold {
        None
    } else {
        Some(format_time(
            options.created_at + time::Duration::days(i64::from(options.retention_days)),
        ))
    };
    let retention = json!({
        "created_at": created_at,
        "retention_days": options.retention_days,
        "legal_hold": options.legal_hold,
        "retain_until": retain_until,
    });
    manifest.push(put(dir, files::RETENTION, &pretty(&retention))?);

    // summary.md
    let summary = summary_markdown(
        &options.selection,
        created_at,
        indices.len() as u64,
        &kinds,
        &decisions,
        &blocked,
        &routed,
        first_time.as_deref().unwrap_or(""),
        &last_time,
        &policies,
        approval_ids.len(),
        tree_size,
        &checkpoint.checkpoint.root_hash,
    );
    manifest.push(put(dir, files::SUMMARY, summary.as_bytes())?);

    manifest.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest_json = json!({
        "format": MANIFEST_FORMAT,
        "created_at": created_at,
        "log_id": log_id,
        "selection": options.selection,
        "entries": indices.len(),
        "tree_size": tree_size,
        "root_hash": checkpoint.checkpoint.root_hash,
        "files": manifest,
    });
    let manifest_bytes = pretty(&manifest_json);
    put(dir, files::MANIFEST, &manifest_bytes)?;

    let mut signed_by = None;
    if let Some(signer) = options.sign {
        let statement = Statement::new(
            vec![Subject::sha256_of(files::MANIFEST, &manifest_bytes)],
            BUNDLE_PREDICATE_TYPE,
            json!({
                "created_at": created_at,
                "log_id": log_id,
                "entries": indices.len(),
                "tree_size": tree_size,
                "root_hash": checkpoint.checkpoint.root_hash,
                "retention_days": options.retention_days,
                "legal_hold": options.legal_hold,
                "key_id": signer.key_id,
            }),
        );
        statement
            .validate()
            .map_err(|e| BundleError::Invalid(e.to_string()))?;
        let mut envelope = Envelope::new(
            cavra_evidence::intoto::PAYLOAD_TYPE,
            &statement.to_canonical_bytes(),
        );
        envelope
            .add_signature(&signer.key, signer.key_id.clone())
            .map_err(|e| BundleError::Invalid(e.to_string()))?;
        put(
            dir,
            files::SIGNATURE,
            format!("{}\n", envelope.to_json()).as_bytes(),
        )?;
        signed_by = Some(signer.key_id.clone());
    }

    Ok(WrittenBundle {
        dir: dir.to_path_buf(),
        entries: indices.len() as u64,
        tree_size,
        root_hash: checkpoint.checkpoint.root_hash.clone(),
        decisions,
        signed_by,
        files: manifest,
    })
}

fn cell(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let short: String = one_line.chars().take(160).collect();
    short.replace('|', "\\|")
}

#[allow(clippy::too_many_arguments)]
fn summary_markdown(
    selection: &Selection,
    created_at: &str,
    entries: u64,
    kinds: &BTreeMap<String, u64>,
    decisions: &BTreeMap<String, u64>,
    blocked: &[Notable],
    routed: &[Notable],
    first: &str,
    last: &str,
    policies: &BTreeSet<String>,
    approvals: usize,
    tree_size: u64,
    root_hash: &str,
) -> String {
    let mut s = String::new();
    s.push_str("# cavra evidence bundle\n\n");
    s.push_str(&format!("- Created: {created_at}\n"));
    let what = match (&selection.session_id, &selection.since, &selection.until) {
        (Some(id), _, _) => format!("session `{}`", cell(id)),
        (None, None, None) => "every entry of the log".into(),
        (None, since, until) => format!(
            "entries from {} to {}",
            since.map_or_else(|| "the start".to_string(), Timestamp::text),
            until.map_or_else(|| "now".to_string(), Timestamp::text)
        ),
    };
    s.push_str(&format!("- Selection: {what}\n"));
    s.push_str(&format!(
        "- Entries: {entries} ({first} to {last}), of a log of {tree_size} (tree head `{root_hash}`)\n"
    ));
    let kinds_text: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    s.push_str(&format!("- Kinds: {}\n", kinds_text.join(", ")));
    s.push_str(&format!(
        "- Policy packs: {}\n- Approvals referenced: {approvals}\n\n",
        policies
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    s.push_str("## Decisions\n\n| decision | count |\n|---|---:|\n");
    for (d, n) in decisions {
        s.push_str(&format!("| {} | {n} |\n", cell(d)));
    }
    for (title, list) in [
        ("Blocked actions", blocked),
        ("Actions routed for approval", routed),
    ] {
        s.push_str(&format!("\n## {title} ({})\n\n", list.len()));
        if list.is_empty() {
            s.push_str("None.\n");
            continue;
        }
        s.push_str(
            "| time | action | target | rule | reason | approvers |\n|---|---|---|---|---|---|\n",
        );
        for n in list.iter().take(1000) {
            s.push_str(&format!(
                "| {} | {} | `{}` | {} | {} | {} |\n",
                cell(&n.time),
                cell(&n.action),
                cell(&n.target).replace('`', "'"),
                cell(&n.rule),
                cell(&n.reason),
                cell(n.approver_group.as_deref().unwrap_or(""))
            ));
        }
        if list.len() > 1000 {
            s.push_str(&format!(
                "\n…and {} more (all are in entries.jsonl).\n",
                list.len() - 1000
            ));
        }
    }
    s
}

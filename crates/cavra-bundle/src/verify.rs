//! Verifying a bundle offline against a trust root.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use cavra_evidence::checkpoint::Checkpoint;
use cavra_evidence::compact::verify_batch;
use cavra_evidence::dsse::Envelope;
use cavra_evidence::intoto::{PAYLOAD_TYPE, Statement};
use cavra_evidence::merkle::{Hash, leaf_hash};
use cavra_evidence::trust::{TrustError, TrustRoot};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::write::ManifestFile;
use crate::{BUNDLE_PREDICATE_TYPE, EntryHead, MANIFEST_FORMAT, digest_hex, files};

/// What to require.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The bundle must be signed by this key of the trust root.
    pub key_id: Option<String>,
    /// The retention record must keep the bundle at least this many days (or hold it).
    pub minimum_retention_days: Option<u32>,
    /// Accept a bundle without bundle.dsse.json (the checkpoint must still verify).
    pub allow_unsigned: bool,
}

/// One check and its result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// Details (what failed, or what was found).
    pub detail: String,
}

/// The result of verifying a bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Each failure, one line each (`checksum mismatch: entries.jsonl`).
    pub failures: Vec<String>,
    /// Entries in the bundle.
    pub entries: u64,
    /// The key that signed the bundle.
    pub signed_by: Option<String>,
    /// Its status in the trust root.
    pub key_status: Option<String>,
    /// The checkpoint's tree size.
    pub tree_size: Option<u64>,
    /// Counts by decision word.
    pub decisions: BTreeMap<String, u64>,
}

impl VerifyReport {
    /// True when every check held.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    fn pass(&mut self, name: &str, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
        });
    }

    fn fail(&mut self, name: &str, failure: impl Into<String>) {
        let failure = failure.into();
        self.checks.push(Check {
            name: name.into(),
            ok: false,
            detail: failure.clone(),
        });
        self.failures.push(failure);
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: String,
    created_at: String,
    log_id: String,
    #[allow(dead_code)]
    selection: serde_json::Value,
    entries: u64,
    tree_size: u64,
    root_hash: String,
    files: Vec<ManifestFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Proof {
    format: String,
    tree_size: u64,
    root_hash: String,
    hashes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Retention {
    created_at: String,
    retention_days: u32,
    legal_hold: bool,
    retain_until: Option<String>,
}

fn trust_failure(e: &TrustError, what: &str) -> String {
    match e {
        TrustError::Revoked(k) => format!("key revoked: {k}"),
        TrustError::MissingSignature => format!("missing signature: {what}"),
        TrustError::Untrusted { hint } => format!("untrusted key: {hint} ({what})"),
        TrustError::OutsideValidity { key_id, at, .. } => {
            format!("key not valid at signing time: {key_id} at {at} ({what})")
        }
        TrustError::WrongKey(k) => format!("not signed by the required key: {k} ({what})"),
        TrustError::NoSuchKey(k) => format!("unknown key: {k} ({what})"),
        other => format!("signature: {other} ({what})"),
    }
}

/// Sha256 and size of a file, streamed.
fn file_digest(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(h.finalize()), size))
}

/// Every regular file under `dir`, as `/`-separated relative paths; anything else (a
/// symlink, a socket) is reported.
fn walk(dir: &Path, prefix: &str, out: &mut BTreeSet<String>, odd: &mut Vec<String>) {
    let Ok(read) = std::fs::read_dir(dir) else {
        odd.push(format!("cannot read folder {prefix}"));
        return;
    };
    for entry in read.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        match entry.file_type() {
            Ok(t) if t.is_file() => {
                out.insert(rel);
            }
            Ok(t) if t.is_dir() => walk(&entry.path(), &rel, out, odd),
            _ => odd.push(format!("unexpected file type: {rel}")),
        }
    }
}

fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// What reading entries.jsonl found.
#[derive(Default)]
struct EntryScan {
    leaves: Vec<(u64, Hash)>,
    policies: BTreeSet<String>,
    decisions: BTreeMap<String, u64>,
    problems: Vec<String>,
}

impl EntryScan {
    /// Takes one line of entries.jsonl (without its newline).
    fn line(&mut self, number: u64, line: &[u8], terminated: bool) {
        self.line_with_leaf(number, line, terminated, leaf_hash(line));
    }

    /// The same, with the line's leaf hash computed elsewhere.
    fn line_with_leaf(&mut self, number: u64, line: &[u8], terminated: bool, leaf: Hash) {
        if self.problems.len() > 100 {
            return;
        }
        if !terminated {
            self.problems.push(format!(
                "entries.jsonl line {number}: no final newline (truncated?)"
            ));
        }
        if let Some(head) = fast_head(line) {
            self.leaves.push((head.index, leaf));
            if head.kind == "decision" {
                // No allocation for words and digests already seen (nearly all of them).
                let word = head.decision.unwrap_or_default();
                match self.decisions.get_mut(word) {
                    Some(n) => *n += 1,
                    None => {
                        self.decisions.insert(word.to_string(), 1);
                    }
                }
                if let Some(d) = head.policy_digest
                    && !self.policies.contains(d)
                {
                    self.policies.insert(d.to_string());
                }
            }
            return;
        }
        match serde_json::from_slice::<EntryHead>(line) {
            Ok(head) => {
                let Some(index) = head.index else {
                    self.problems
                        .push(format!("entries.jsonl line {number}: no index"));
                    return;
                };
                self.leaves.push((index, leaf));
                if head.kind == "decision" {
                    *self
                        .decisions
                        .entry(head.body.decision.unwrap_or_default())
                        .or_default() += 1;
                    if let Some(d) = head.body.record.and_then(|r| r.policy_digest) {
                        self.policies.insert(d);
                    }
                }
            }
            Err(e) => self
                .problems
                .push(format!("entries.jsonl line {number}: not an entry ({e})")),
        }
        if self.problems.len() > 100 {
            self.problems
                .push("too many problems; stopped reading entries".into());
        }
    }
}

/// Reads entries.jsonl once. Each chunk goes to a thread that computes the file's SHA-256
/// and to a thread that hashes its lines as Merkle leaves, while this thread splits lines and
/// reads each line's head, one chunk behind: the work of a large bundle spread over the cores.
fn scan_and_hash(path: &Path) -> std::io::Result<(EntryScan, String, u64)> {
    scan_and_hash_in(path, 4 << 20)
}

fn scan_and_hash_in(path: &Path, chunk_size: u64) -> std::io::Result<(EntryScan, String, u64)> {
    use std::sync::Arc;
    type Job = (Arc<Vec<u8>>, Vec<(usize, usize)>);
    let mut file = std::fs::File::open(path)?;
    let (file_tx, file_rx) = std::sync::mpsc::sync_channel::<Arc<Vec<u8>>>(16);
    let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<Job>(16);
    let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<Vec<Hash>>(16);
    std::thread::scope(|scope| {
        let file_hasher = scope.spawn(move || {
            let mut h = Sha256::new();
            let mut size = 0u64;
            for chunk in file_rx {
                h.update(chunk.as_slice());
                size += chunk.len() as u64;
            }
            (hex::encode(h.finalize()), size)
        });
        scope.spawn(move || {
            for (chunk, ranges) in job_rx {
                let leaves = ranges
                    .iter()
                    .map(|&(a, b)| leaf_hash(&chunk[a..b]))
                    .collect();
                if done_tx.send(leaves).is_err() {
                    break;
                }
            }
        });
        let mut scan = EntryScan::default();
        let mut carry: Vec<u8> = Vec::new();
        let mut number = 0u64;
        // Lines wait here, in file order, until their chunk's leaves are back: the leaf
        // thread may run several chunks behind without stalling this one.
        enum Pending {
            Chunk(Job),
            Line(Vec<u8>),
        }
        let mut pending: std::collections::VecDeque<Pending> = std::collections::VecDeque::new();
        let flush =
            |item: Pending, scan: &mut EntryScan, number: &mut u64| -> std::io::Result<()> {
                match item {
                    Pending::Chunk((chunk, ranges)) => {
                        let leaves = done_rx
                            .recv()
                            .map_err(|_| std::io::Error::other("hashing entries failed"))?;
                        for (&(a, b), leaf) in ranges.iter().zip(leaves) {
                            *number += 1;
                            scan.line_with_leaf(*number, &chunk[a..b], true, leaf);
                        }
                    }
                    Pending::Line(line) => {
                        *number += 1;
                        scan.line(*number, &line, true);
                    }
                }
                Ok(())
            };
        let result = (|| -> std::io::Result<()> {
            loop {
                // Read into fresh capacity: no 4 MiB memset per chunk.
                let mut chunk = Vec::with_capacity(chunk_size as usize);
                (&mut file).take(chunk_size).read_to_end(&mut chunk)?;
                if chunk.is_empty() {
                    break;
                }
                let chunk = Arc::new(chunk);
                // The threads only go away if they panicked; the join below says so.
                let _ = file_tx.send(Arc::clone(&chunk));
                let mut ranges = Vec::new();
                let mut carried_end = None;
                let mut start = 0;
                for nl in memchr::memchr_iter(b'\n', &chunk) {
                    if start == 0 && !carry.is_empty() {
                        carried_end = Some(nl);
                    } else {
                        ranges.push((start, nl));
                    }
                    start = nl + 1;
                }
                let _ = job_tx.send((Arc::clone(&chunk), ranges.clone()));
                if let Some(end) = carried_end {
                    // A line that began in the previous chunk ends here: it comes after the
                    // previous chunk's lines and before this chunk's.
                    carry.extend_from_slice(&chunk[..end]);
                    pending.push_back(Pending::Line(std::mem::take(&mut carry)));
                }
                carry.extend_from_slice(&chunk[start..]);
                pending.push_back(Pending::Chunk((chunk, ranges)));
                while pending.len() > 12 {
                    if let Some(item) = pending.pop_front() {
                        flush(item, &mut scan, &mut number)?;
                    }
                }
            }
            while let Some(item) = pending.pop_front() {
                flush(item, &mut scan, &mut number)?;
            }
            if !carry.is_empty() {
                number += 1;
                scan.line(number, &carry, false);
            }
            Ok(())
        })();
        drop(file_tx);
        drop(job_tx);
        let (sha, size) = file_hasher
            .join()
            .map_err(|_| std::io::Error::other("hashing entries.jsonl failed"))?;
        result.map(|()| (scan, sha, size))
    })
}

/// What the scan needs from an entry, read straight from its canonical bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FastHead<'a> {
    pub index: u64,
    pub kind: &'a str,
    pub decision: Option<&'a str>,
    pub policy_digest: Option<&'a str>,
}

/// Searchers built once: building one per line costs more than the search.
struct Finders {
    index: memchr::memmem::FinderRev<'static>,
    decision: memchr::memmem::Finder<'static>,
    policy: memchr::memmem::Finder<'static>,
}

fn finders() -> &'static Finders {
    static F: std::sync::OnceLock<Finders> = std::sync::OnceLock::new();
    F.get_or_init(|| Finders {
        index: memchr::memmem::FinderRev::new(b",\"format\":\"cavra-log-entry/v1\",\"index\":"),
        decision: memchr::memmem::Finder::new(b"\"decision\":\""),
        policy: memchr::memmem::Finder::new(b"\"policy_digest\":\""),
    })
}

/// A JSON string value starting at `at` (just after its opening quote) with no escapes.
fn plain_string(line: &[u8], at: usize) -> Option<&str> {
    let rest = line.get(at..)?;
    let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    if rest[end] != b'"' {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()
}

/// Reads an entry's index, kind, decision and policy digest without parsing the whole JSON,
/// relying on the writer's canonical form: keys sorted, no whitespace. Top-level keys after
/// `body` are `format`, `index`, `kind`, `redactions`, `time`, so the last `,"index":` is the
/// top-level one; the body's `decision` precedes any nested object, and the record's
/// `policy_digest` precedes anything that could nest another. A line not in that shape gives
/// None and is parsed in full. (A line that is not an authentic entry fails the Merkle proof
/// whatever is read from it.)
pub(crate) fn fast_head(line: &[u8]) -> Option<FastHead<'_>> {
    if !line.starts_with(b"{\"body\":{") || !line.ends_with(b"\"}") {
        return None;
    }
    let f = finders();
    let at = f.index.rfind(line)? + 39;
    let digits = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    let index: u64 = std::str::from_utf8(&line[at..at + digits])
        .ok()?
        .parse()
        .ok()?;
    let after = at + digits;
    let kind_at = after
        + line
            .get(after..)?
            .strip_prefix(b",\"kind\":\"")
            .map(|_| 9)?;
    let kind = plain_string(line, kind_at)?;
    let (mut decision, mut policy_digest) = (None, None);
    if kind == "decision" {
        let body = &line[..at];
        let d = f.decision.find(body)? + 12;
        decision = Some(plain_string(line, d)?);
        let mut digests = f.policy.find_iter(body);
        if let Some(p) = digests.next() {
            if digests.next().is_some() {
                // Some nested value uses the same key: let the full parse tell them apart.
                return None;
            }
            policy_digest = Some(plain_string(line, p + 17)?);
        }
    }
    Some(FastHead {
        index,
        kind,
        decision,
        policy_digest,
    })
}

/// Verifies the bundle in `dir` against `trust`. Never panics on hostile input; every problem
/// is a failure in the report.
pub fn verify_bundle(dir: &Path, trust: &TrustRoot, options: &VerifyOptions) -> VerifyReport {
    let mut report = VerifyReport::default();
    let manifest_path = dir.join(files::MANIFEST);
    let manifest_bytes = match std::fs::read(&manifest_path) {
        Ok(b) => b,
        Err(e) => {
            report.fail("manifest", format!("missing file: manifest.json ({e})"));
            return report;
        }
    };
    let manifest_sha = hex::encode(Sha256::digest(&manifest_bytes));

    // 1. The bundle signature over manifest.json.
    let mut signed_predicate: Option<serde_json::Value> = None;
    match std::fs::read_to_string(dir.join(files::SIGNATURE)) {
        Err(_) if options.allow_unsigned => {
            report.pass("signature", "unsigned bundle accepted (--allow-unsigned)")
        }
        Err(_) => report.fail("signature", "missing signature: bundle.dsse.json"),
        Ok(text) => match Envelope::from_json(&text) {
            Err(e) => report.fail("signature", format!("invalid signature file: {e}")),
            Ok(env) => {
                let at = |payload: &[u8]| -> Option<String> {
                    let s: Statement = serde_json::from_slice(payload).ok()?;
                    s.predicate.get("created_at")?.as_str().map(str::to_string)
                };
                match trust.verify(&env, PAYLOAD_TYPE, options.key_id.as_deref(), &at) {
                    Err(e) => report.fail("signature", trust_failure(&e, "bundle.dsse.json")),
                    Ok(by) => match serde_json::from_slice::<Statement>(&by.payload) {
                        Err(e) => {
                            report.fail("signature", format!("not an in-toto statement: {e}"))
                        }
                        Ok(statement) => {
                            let subject_ok = statement.validate().is_ok()
                                && statement.predicate_type == BUNDLE_PREDICATE_TYPE
                                && statement.subject.len() == 1
                                && statement.subject[0].name == files::MANIFEST
                                && statement.subject[0].digest.get("sha256") == Some(&manifest_sha);
                            if subject_ok {
                                report.pass(
                                    "signature",
                                    format!("signed by {} ({})", by.key_id, by.status.as_str()),
                                );
                                report.signed_by = Some(by.key_id.clone());
                                report.key_status = Some(by.status.as_str().into());
                                signed_predicate = Some(statement.predicate);
                            } else {
                                report.fail(
                                    "signature",
                                    "checksum mismatch: manifest.json (not the manifest that was signed)",
                                );
                            }
                        }
                    },
                }
            }
        },
    }

    // 2. The manifest itself.
    let manifest: Manifest = match serde_json::from_slice(&manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            report.fail("manifest", format!("invalid manifest.json: {e}"));
            return report;
        }
    };
    if manifest.format != MANIFEST_FORMAT {
        report.fail(
            "manifest",
            format!(
                "manifest format {:?} is not {MANIFEST_FORMAT}",
                manifest.format
            ),
        );
        return report;
    }
    if let Some(p) = &signed_predicate {
        let same = p.get("tree_size").and_then(|v| v.as_u64()) == Some(manifest.tree_size)
            && p.get("root_hash").and_then(|v| v.as_str()) == Some(manifest.root_hash.as_str())
            && p.get("entries").and_then(|v| v.as_u64()) == Some(manifest.entries)
            && p.get("log_id").and_then(|v| v.as_str()) == Some(manifest.log_id.as_str())
            && p.get("created_at").and_then(|v| v.as_str()) == Some(manifest.created_at.as_str());
        if !same {
            report.fail(
                "manifest",
                "manifest.json differs from the signed statement",
            );
        }
    }

    // 3. The exact file set, every hash and size.
    let mut listed = BTreeMap::new();
    let mut manifest_ok = true;
    for f in &manifest.files {
        if !safe_relative(&f.path) || f.path == files::MANIFEST || f.path == files::SIGNATURE {
            report.fail(
                "files",
                format!("manifest lists an invalid path: {:?}", f.path),
            );
            manifest_ok = false;
            continue;
        }
        if listed.insert(f.path.clone(), f).is_some() {
            report.fail("files", format!("manifest lists {} twice", f.path));
            manifest_ok = false;
        }
    }
    for required in [
        files::ENTRIES,
        files::PROOF,
        files::CHECKPOINT,
        files::RETENTION,
        files::SUMMARY,
        files::APPROVALS,
    ] {
        if !listed.contains_key(required) {
            report.fail("files", format!("manifest does not list {required}"));
            manifest_ok = false;
        }
    }
    let mut present = BTreeSet::new();
    let mut odd = Vec::new();
    walk(dir, "", &mut present, &mut odd);
    for o in odd {
        report.fail("files", o);
        manifest_ok = false;
    }
    for p in &present {
        if !listed.contains_key(p) && p != files::MANIFEST && p != files::SIGNATURE {
            report.fail("files", format!("unexpected file: {p}"));
            manifest_ok = false;
        }
    }
    for p in listed.keys() {
        if !present.contains(p) {
            report.fail("files", format!("missing file: {p}"));
            manifest_ok = false;
        }
    }
    // entries.jsonl is hashed on one core while it is scanned for the Merkle check on the other.
    let entries_path = dir.join(files::ENTRIES);
    let mut digests = Vec::new();
    let mut scan = Err(std::io::Error::other("entries.jsonl is missing"));
    for (path, f) in &listed {
        if !present.contains(path) {
            continue;
        }
        if path == files::ENTRIES {
            match scan_and_hash(&entries_path) {
                Ok((s, sha, size)) => {
                    digests.push((path.clone(), (*f).clone(), Ok((sha, size))));
                    scan = Ok(s);
                }
                Err(e) => {
                    digests.push((
                        path.clone(),
                        (*f).clone(),
                        Err(std::io::Error::other(e.to_string())),
                    ));
                    scan = Err(e);
                }
            }
        } else {
            digests.push((path.clone(), (*f).clone(), file_digest(&dir.join(path))));
        }
    }
    for (path, expected, actual) in digests {
        match actual {
            Err(e) => {
                report.fail("files", format!("cannot read {path}: {e}"));
                manifest_ok = false;
            }
            Ok((sha, size)) => {
                if sha != expected.sha256 {
                    report.fail("files", format!("checksum mismatch: {path}"));
                    manifest_ok = false;
                } else if size != expected.size {
                    report.fail("files", format!("size mismatch: {path}"));
                    manifest_ok = false;
                }
            }
        }
    }
    if manifest_ok {
        report.pass(
            "files",
            format!("{} files, hashes and sizes match", listed.len()),
        );
    }

    // 4. The checkpoint.
    let checkpoint = std::fs::read_to_string(dir.join(files::CHECKPOINT))
        .map_err(|e| format!("missing file: {} ({e})", files::CHECKPOINT))
        .and_then(|t| Envelope::from_json(&t).map_err(|e| format!("checkpoint: {e}")))
        .and_then(|env| {
            Checkpoint::open(&env, trust).map_err(|e| match e {
                cavra_evidence::checkpoint::CheckpointError::Trust(t) => {
                    trust_failure(&t, files::CHECKPOINT)
                }
                other => other.to_string(),
            })
        });
    let checkpoint = match checkpoint {
        Ok((cp, by)) => {
            if cp.tree_size != manifest.tree_size
                || cp.root_hash != manifest.root_hash
                || cp.log_id != manifest.log_id
            {
                report.fail("checkpoint", "checkpoint differs from manifest.json");
                None
            } else {
                report.pass(
                    "checkpoint",
                    format!("tree of {} entries signed by {}", cp.tree_size, by.key_id),
                );
                report.tree_size = Some(cp.tree_size);
                Some(cp)
            }
        }
        Err(e) => {
            report.fail("checkpoint", e);
            None
        }
    };

    // 5. Every entry's inclusion in the checkpoint's tree.
    let scan = match scan {
        Ok(s) => s,
        Err(e) => {
            report.fail("entries", format!("cannot read entries.jsonl: {e}"));
            return report;
        }
    };
    report.entries = scan.leaves.len() as u64;
    report.decisions = scan.decisions.clone();
    let mut entries_ok = true;
    for p in &scan.problems {
        report.fail("entries", p.clone());
        entries_ok = false;
    }
    if scan.leaves.len() as u64 != manifest.entries {
        report.fail(
            "entries",
            format!(
                "entries.jsonl holds {} entries, the manifest says {}",
                scan.leaves.len(),
                manifest.entries
            ),
        );
        entries_ok = false;
    }
    if scan.leaves.windows(2).any(|w| w[0].0 >= w[1].0) {
        report.fail("entries", "entries out of order or repeated (reordered?)");
        entries_ok = false;
    }
    if let Some(cp) = &checkpoint {
        let proof: Result<Proof, String> = std::fs::read(dir.join(files::PROOF))
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()));
        match proof {
            Err(e) => {
                report.fail("merkle", format!("invalid proof.json: {e}"));
                entries_ok = false;
            }
            Ok(proof) => {
                let hashes: Option<Vec<Hash>> = proof
                    .hashes
                    .iter()
                    .map(|h| hex::decode(h).ok().and_then(|b| b.try_into().ok()))
                    .collect();
                let root = cp.root();
                match (hashes, root) {
                    (Some(hashes), Ok(root))
                        if proof.format == "cavra-batch-proof/v1"
                            && proof.tree_size == cp.tree_size
                            && proof.root_hash == cp.root_hash =>
                    {
                        match verify_batch(cp.tree_size, &scan.leaves, &hashes, &root) {
                            Ok(()) => {}
                            Err(e) => {
                                report.fail(
                                    "merkle",
                                    format!("merkle proof: the entries are not those of the signed checkpoint ({e})"),
                                );
                                entries_ok = false;
                            }
                        }
                    }
                    _ => {
                        report.fail(
                            "merkle",
                            "invalid proof.json: does not match the checkpoint",
                        );
                        entries_ok = false;
                    }
                }
            }
        }
    } else {
        entries_ok = false;
    }
    if entries_ok {
        report.pass(
            "merkle",
            format!(
                "{} entries included in the checkpoint's tree",
                scan.leaves.len()
            ),
        );
    }

    // 6. Policy packs: each file is what its name says, and every digest used is present.
    let mut policies_ok = true;
    for path in listed.keys() {
        if let Some(name) = path.strip_prefix(&format!("{}/", files::POLICIES)) {
            let hex_name = name.strip_suffix(".json").unwrap_or("");
            let valid = digest_hex(&format!("sha256:{hex_name}")).is_some();
            let matches = valid
                && std::fs::read(dir.join(path))
                    .map(|b| hex::encode(Sha256::digest(&b)) == hex_name)
                    .unwrap_or(false);
            if !matches {
                report.fail("policies", format!("policy digest mismatch: {path}"));
                policies_ok = false;
            }
        }
    }
    for digest in &scan.policies {
        let file = digest_hex(digest).map(|h| format!("{}/{h}.json", files::POLICIES));
        if !file.is_some_and(|f| listed.contains_key(&f)) {
            report.fail("policies", format!("missing policy: {digest}"));
            policies_ok = false;
        }
    }
    if policies_ok {
        report.pass(
            "policies",
            format!("{} policy pack(s), digests match", scan.policies.len()),
        );
    }

    // 7. Retention.
    let retention: Result<Retention, String> = std::fs::read(dir.join(files::RETENTION))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()));
    match retention {
        Err(e) => report.fail("retention", format!("invalid retention.json: {e}")),
        Ok(r) => {
            let consistent = r.created_at == manifest.created_at
                && match (&r.retain_until, r.legal_hold) {
                    (None, true) => true,
                    (Some(until), false) => {
                        let parse = |s: &str| {
                            time::OffsetDateTime::parse(
                                s,
                                &time::format_description::well_known::Rfc3339,
                            )
                            .ok()
                        };
                        match (parse(&r.created_at), parse(until)) {
                            (Some(c), Some(u)) => {
                                u == c + time::Duration::days(i64::from(r.retention_days))
                            }
                            _ => false,
                        }
                    }
                    _ => false,
                };
            let signed_same = signed_predicate.as_ref().is_none_or(|p| {
                p.get("retention_days").and_then(|v| v.as_u64())
                    == Some(u64::from(r.retention_days))
                    && p.get("legal_hold").and_then(|v| v.as_bool()) == Some(r.legal_hold)
            });
            if !consistent || !signed_same {
                report.fail("retention", "retention.json is inconsistent");
            } else if let Some(min) = options.minimum_retention_days
                && !r.legal_hold
                && r.retention_days < min
            {
                report.fail(
                    "retention",
                    format!(
                        "retention too short: {} days, at least {min} required",
                        r.retention_days
                    ),
                );
            } else if r.legal_hold {
                report.pass("retention", "legal hold");
            } else {
                report.pass("retention", format!("{} days", r.retention_days));
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use cavra_store::{EntryFilter, NewDecision, Outcome, Store};

    /// The fast reader agrees with a full parse on entries the store writes, including ones
    /// whose content nests the same key names and quotes.
    #[test]
    fn fast_head_agrees_with_a_full_parse() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut store = Store::open_repo(dir.path()).expect("store");
        for (i, target) in [
            "ls",
            r#"echo '"decision":"allow"' ,"index":3"#,
            "cat \"policy_digest\":\"sha256:x\"",
        ]
        .iter()
        .enumerate()
        {
            store
                .record_decision(&NewDecision {
                    decision_id: format!("d{i}"),
                    session_id: Some("s".into()),
                    agent: Some("claude-code".into()),
                    action_type: cavra_store::ActionType::ExecuteCommand.into(),
                    decision: [
                        cavra_store::Decision::Allow,
                        cavra_store::Decision::Block,
                        cavra_store::Decision::Warn,
                    ][i],
                    rule_id: "r".into(),
                    timestamp: "2026-01-01T00:00:00.000Z".parse().unwrap(),
                    fingerprint: "f".into(),
                    extra: cavra_store::ToolCall {
                        cwd: Some("/r/\"decision\":\"x".into()),
                        tool_use_id: None,
                        record: serde_json::json!({
                        "break_glass": {"actor": "a", "decision": "x"},
                        "matched_rules": if i == 2 {
                            serde_json::json!([{"decision": "allow"}])
                        } else {
                            serde_json::json!([{"decision": "allow", "policy_digest": "no"}])
                        },
                        "tool_input": if i == 2 {
                            serde_json::json!({"index": 99, "kind": "k", "decision": "n"})
                        } else {
                            serde_json::json!({"index": 99, "kind": "k", "policy_digest": "nested", "decision": "n"})
                        },
                        "policy_digest": format!("sha256:{i:064}"),
                        "target": target,
                    }),
                    },
                })
                .expect("record");
        }
        store
            .record_outcome(&Outcome {
                tool_use_id: None,
                decision_id: Some("d1".into()),
                session_id: None,
                success: Some(true),
                sha256: None,
                path: Some(",\"index\":7".into()),
                timestamp: "2026-01-01T00:00:00.000Z".parse().unwrap(),
            })
            .expect("outcome");
        let entries = store.log_entries(&EntryFilter::default()).expect("entries");
        assert_eq!(entries.len(), 4);
        let mut fast_count = 0;
        for e in &entries {
            let Some(fast) = fast_head(&e.bytes) else {
                continue;
            };
            fast_count += 1;
            let full: EntryHead = serde_json::from_slice(&e.bytes).expect("parse");
            assert_eq!(Some(fast.index), full.index);
            assert_eq!(fast.kind, full.kind);
            if fast.kind == "decision" {
                assert_eq!(fast.decision, full.body.decision.as_deref());
                let record = full.body.record.expect("record");
                assert_eq!(fast.policy_digest, record.policy_digest.as_deref());
            }
        }
        // Records that nest `policy_digest` elsewhere take the slow path; the others, and the
        // outcome, the fast one.
        assert_eq!(fast_count, 2, "the third decision and the outcome");
        assert!(fast_head(b"{\"index\":1}").is_none());

        // Lines that span chunk boundaries are read the same at every chunk size.
        let path = dir.path().join("entries.jsonl");
        let mut text = Vec::new();
        for e in &entries {
            text.extend_from_slice(&e.bytes);
            text.push(b'\n');
        }
        text.extend_from_slice(&entries[0].bytes); // a last line without its newline
        std::fs::write(&path, &text).expect("write");
        let (reference, sha, size) = scan_and_hash_in(&path, 1 << 20).expect("scan");
        assert_eq!(reference.leaves.len(), 5);
        assert_eq!(reference.problems.len(), 1, "{:?}", reference.problems);
        for chunk in [1, 2, 7, 64, 333, 1000] {
            let (scan, s2, n2) = scan_and_hash_in(&path, chunk).expect("scan");
            assert_eq!(scan.leaves, reference.leaves, "chunk {chunk}");
            assert_eq!(scan.decisions, reference.decisions, "chunk {chunk}");
            assert_eq!(scan.policies, reference.policies, "chunk {chunk}");
            assert_eq!(scan.problems, reference.problems, "chunk {chunk}");
            assert_eq!((s2.as_str(), n2), (sha.as_str(), size), "chunk {chunk}");
        }
    }
}

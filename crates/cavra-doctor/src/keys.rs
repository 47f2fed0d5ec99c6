//! Keys: the repository's log key (signs the evidence log's checkpoints) and the trust root a
//! verifier uses (validity, expiry, revocation, and whether it holds the log key).

use crate::{Finding, Setup, Status};
use cavra_evidence::keys::{VerifyingKey, private_key_from_pem, public_key_from_pem};
use cavra_evidence::trust::{KeyStatus, TrustRoot, fingerprint};
use std::path::PathBuf;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Keys that expire within this many days are reported.
const EXPIRY_WARNING_DAYS: i64 = 30;

/// The repository's log key folder (`.cavra/keys`, as `cavra` writes it).
fn keys_dir(setup: &Setup) -> PathBuf {
    setup.repo_root.join(cavra_store::STORE_DIR).join("keys")
}

/// The trust root doctor checks against: the one given, else the repository's
/// `.cavra/trust-root.json` when it exists (the hook's default for policy signatures).
pub fn trust_root_path(setup: &Setup) -> Option<PathBuf> {
    setup.trust_root.clone().or_else(|| {
        let local = setup
            .repo_root
            .join(cavra_store::STORE_DIR)
            .join("trust-root.json");
        local.is_file().then_some(local)
    })
}

/// The trust root, read and checked; none when there is none.
pub fn read_trust_root(setup: &Setup) -> Option<Result<TrustRoot, String>> {
    let path = trust_root_path(setup)?;
    Some(
        std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|text| {
                TrustRoot::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
            }),
    )
}

/// The public half of the repository's log key, when there is one (from `log.pub`, else from
/// the private key).
pub fn log_public_key(setup: &Setup) -> Option<VerifyingKey> {
    let dir = keys_dir(setup);
    let pem = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .ok()
            .map(|t| format!("{}\n", t.trim().replace("\r\n", "\n")))
    };
    if let Some(key) = pem("log.pub").and_then(|p| public_key_from_pem(&p).ok()) {
        return Some(key);
    }
    pem("log.key")
        .and_then(|p| private_key_from_pem(&p).ok())
        .map(|k| k.verifying_key())
}

fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// The log key and the trust root.
pub fn check_keys(setup: &Setup, out: &mut Vec<Finding>) {
    check_log_key(setup, out);
    check_trust_root(setup, out);
}

fn check_log_key(setup: &Setup, out: &mut Vec<Finding>) {
    use std::os::unix::fs::PermissionsExt;
    let private = keys_dir(setup).join("log.key");
    let shown = ".cavra/keys/log.key";
    let meta = match std::fs::metadata(&private) {
        Ok(meta) => meta,
        Err(_) => {
            out.push(Finding::new(
                "keys",
                Status::Info,
                "no log key yet: cavra creates .cavra/keys/log.key when the evidence log's first checkpoint is signed",
            ));
            return;
        }
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        out.push(
            Finding::new(
                "keys",
                Status::Fail,
                format!("{shown} is readable by others (mode {mode:o}): cavra refuses to sign with it, so checkpoints stop"),
            )
            .fix(format!("chmod 600 {shown}")),
        );
        return;
    }
    let parsed = std::fs::read_to_string(&private)
        .map_err(|e| e.to_string())
        .and_then(|t| {
            private_key_from_pem(&format!("{}\n", t.trim().replace("\r\n", "\n")))
                .map_err(|e| e.to_string())
        });
    let key = match parsed {
        Ok(key) => key,
        Err(why) => {
            out.push(
                Finding::new("keys", Status::Fail, format!("{shown} is not a private key: {why}"))
                    .fix("restore the key from a backup; if it is lost, move .cavra/keys aside (a new key signs from then on, and verifiers need its public half in their trust root)"),
            );
            return;
        }
    };
    let public_file = keys_dir(setup).join("log.pub");
    let public_matches = std::fs::read_to_string(&public_file)
        .ok()
        .and_then(|t| public_key_from_pem(&format!("{}\n", t.trim())).ok())
        .map(|p| p == key.verifying_key());
    match public_matches {
        Some(false) => out.push(
            Finding::new(
                "keys",
                Status::Fail,
                ".cavra/keys/log.pub is not the public half of log.key: trust roots built from it reject this log's checkpoints",
            )
            .fix("delete .cavra/keys/log.pub (cavra writes it again from log.key) and re-add the key to trust roots (`cavra trust add --log-key`)"),
        ),
        _ => out.push(Finding::new(
            "keys",
            Status::Ok,
            format!(
                "log key {} ({}), mode {mode:o}",
                shown,
                fingerprint(&key.verifying_key())
            ),
        )),
    }
}

fn check_trust_root(setup: &Setup, out: &mut Vec<Finding>) {
    let Some(read) = read_trust_root(setup) else {
        out.push(Finding::new(
            "trust_root",
            Status::Info,
            "no trust root (--trust-root, CAVRA_TRUST_ROOT or .cavra/trust-root.json): signed packs are not checked, and checkpoints only against this repository's own log key",
        ));
        return;
    };
    let trust = match read {
        Ok(trust) => trust,
        Err(why) => {
            out.push(
                Finding::new(
                    "trust_root",
                    Status::Fail,
                    format!("the trust root cannot be used: {why}"),
                )
                .fix("restore it from its source, or rebuild it with `cavra trust add`"),
            );
            return;
        }
    };
    let now = setup.now;
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    for k in &trust.keys {
        let until = k.valid_until.as_deref().and_then(parse_time);
        let from = parse_time(&k.valid_from);
        match k.status {
            KeyStatus::Revoked => notes.push(format!(
                "{}: revoked{} — verifies nothing",
                k.key_id,
                k.status_reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )),
            KeyStatus::Retired => notes.push(format!(
                "{}: retired — verifies what it signed inside its validity",
                k.key_id
            )),
            KeyStatus::Active => {
                if until.is_some_and(|u| u < now) {
                    problems.push(format!(
                        "{}: expired at {} — signatures made since are refused",
                        k.key_id,
                        k.valid_until.as_deref().unwrap_or("")
                    ));
                } else if until.is_some_and(|u| u - now < time::Duration::days(EXPIRY_WARNING_DAYS))
                {
                    problems.push(format!(
                        "{}: expires at {}",
                        k.key_id,
                        k.valid_until.as_deref().unwrap_or("")
                    ));
                } else if from.is_some_and(|f| f > now) {
                    problems.push(format!(
                        "{}: not valid before {} — signatures made until then are refused",
                        k.key_id, k.valid_from
                    ));
                } else {
                    notes.push(format!("{}: active ({})", k.key_id, k.owner));
                }
            }
        }
    }
    let path = trust_root_path(setup)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    if !problems.is_empty() {
        let mut details = problems;
        details.extend(notes);
        out.push(
            Finding::new(
                "trust_root",
                Status::Warn,
                format!("{path}: a key is expired, about to expire or not valid yet"),
            )
            .details(details)
            .fix(format!(
                "add a successor key (`cavra keys generate`, then `cavra trust add --trust-root {path} …`), sign with it, and retire the old one (`cavra trust retire`)"
            )),
        );
    } else {
        out.push(
            Finding::new(
                "trust_root",
                Status::Ok,
                format!("{path}: {} key(s)", trust.keys.len()),
            )
            .details(notes),
        );
    }
    // Checkpoints of this repository's log verify only against a trust root that holds its key.
    if let Some(log_key) = log_public_key(setup) {
        let wanted = fingerprint(&log_key);
        match trust.keys.iter().find(|k| k.fingerprint == wanted) {
            None => out.push(
                Finding::new(
                    "trust_root.log_key",
                    Status::Warn,
                    format!("{path} does not hold this repository's log key ({wanted}): this log's checkpoints and proofs do not verify against it"),
                )
                .fix(format!("cavra trust add --trust-root {path} --log-key --owner NAME")),
            ),
            Some(k) if k.status == KeyStatus::Revoked => out.push(
                Finding::new(
                    "trust_root.log_key",
                    Status::Warn,
                    format!("{path} holds this repository's log key as {}, revoked: this log's checkpoints do not verify", k.key_id),
                )
                .fix("if the revocation stands, move .cavra/keys aside so a new log key signs from now on, and add it with `cavra trust add --log-key`"),
            ),
            Some(k) => out.push(Finding::new(
                "trust_root.log_key",
                Status::Ok,
                format!("{path} holds this repository's log key as {}", k.key_id),
            )),
        }
    }
}

//! Key files on disk: generating Ed25519 key pairs (private key 0600), reading them back, and
//! the repository's own log key that signs the local evidence log's checkpoints.

use cavra_evidence::keys::{self, SigningKey, VerifyingKey};
use cavra_evidence::trust::{KeyRecord, TrustRoot};
pub use cavra_store::LogSigner;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Folder (under `.cavra/`) of the repository's log key; ignored by git.
pub const KEYS_DIR: &str = "keys";
/// The log key's file name.
pub const LOG_KEY_FILE: &str = "log.key";
/// The log key's public half.
pub const LOG_PUB_FILE: &str = "log.pub";

/// Why a key file could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// A file or folder could not be read, written or created.
    #[error("{what} {}: {error}", path.display())]
    Io {
        /// `reading`, `writing` or `creating`.
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The key, its file or its id is unusable (the message says how).
    #[error("{0}")]
    Invalid(String),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError {
    let path = path.to_path_buf();
    move |error| KeyFileError::Io { what, path, error }
}

/// A fresh key from the operating system's CSPRNG.
pub fn fresh_key() -> Result<SigningKey, KeyFileError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| KeyFileError::Invalid(format!("no randomness from the OS: {e}")))?;
    Ok(keys::from_seed(&seed))
}

/// Writes `text` to `path` with mode 0600, failing if the file exists.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Paths and fingerprint of a generated key pair.
#[derive(Debug, serde::Serialize)]
pub struct GeneratedKey {
    /// The key id.
    pub key_id: String,
    /// PKCS#8 PEM, mode 0600.
    pub private_key: PathBuf,
    /// SPKI PEM.
    pub public_key: PathBuf,
    /// `sha256:<hex>` of the public key.
    pub fingerprint: String,
}

impl GeneratedKey {
    /// What `cavra keys generate` prints: the files, the fingerprint, and how to trust the key.
    pub fn to_text(&self) -> String {
        format!(
            "generated Ed25519 key {id}\n  private key: {} (mode 0600; keep it secret)\n  public key:  {}\n  fingerprint: {}\ntrust it with: cavra trust add --trust-root FILE --key-id {id} --public-key {} --owner NAME\n",
            self.private_key.display(),
            self.public_key.display(),
            self.fingerprint,
            self.public_key.display(),
            id = self.key_id,
        )
    }
}

/// Whether a key id can name files: letters, digits, `-`, `_`, `.`, not starting with `.`.
fn usable_key_id(key_id: &str) -> bool {
    !key_id.is_empty()
        && key_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !key_id.starts_with('.')
}

/// Generates `DIR/ID.key` (0600) and `DIR/ID.pub`; refuses to overwrite either.
pub fn generate(dir: &Path, key_id: &str) -> Result<GeneratedKey, KeyFileError> {
    if !usable_key_id(key_id) {
        return Err(KeyFileError::Invalid(format!(
            "key id {key_id:?} must be letters, digits, '-', '_' or '.' (it names the files)"
        )));
    }
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let private = dir.join(format!("{key_id}.key"));
    let public = dir.join(format!("{key_id}.pub"));
    for p in [&private, &public] {
        if p.exists() {
            return Err(KeyFileError::Invalid(format!(
                "{} exists; cavra never overwrites a key (choose another --key-id or folder)",
                p.display()
            )));
        }
    }
    let key = fresh_key()?;
    let invalid = |e: keys::KeyError| KeyFileError::Invalid(e.to_string());
    let private_pem = keys::private_key_to_pem(&key).map_err(invalid)?;
    let public_pem = keys::public_key_to_pem(&key.verifying_key()).map_err(invalid)?;
    write_private(&private, &private_pem).map_err(io("writing", &private))?;
    std::fs::write(&public, public_pem).map_err(io("writing", &public))?;
    Ok(GeneratedKey {
        key_id: key_id.to_string(),
        private_key: private,
        public_key: public,
        fingerprint: cavra_evidence::trust::fingerprint(&key.verifying_key()),
    })
}

/// A PEM text as pasted into CI secrets (surrounding blank lines, CRLF endings), normalised.
fn normalised_pem(text: &str) -> String {
    format!("{}\n", text.trim().replace("\r\n", "\n"))
}

/// Reads a private key file; refuses one that others can read.
pub fn read_private(path: &Path) -> Result<SigningKey, KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(io("reading", path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(KeyFileError::Invalid(format!(
            "{} is readable by others (mode {:o}); `chmod 600` it first",
            path.display(),
            meta.permissions().mode() & 0o777
        )));
    }
    let text = std::fs::read_to_string(path).map_err(io("reading", path))?;
    keys::private_key_from_pem(&normalised_pem(&text))
        .map_err(|e| KeyFileError::Invalid(format!("{}: {e}", path.display())))
}

/// Reads a public key file (SPKI PEM), or the public half of a private key file.
pub fn read_public(path: &Path) -> Result<VerifyingKey, KeyFileError> {
    let text = std::fs::read_to_string(path).map_err(io("reading", path))?;
    if text.contains("PRIVATE KEY") {
        return Err(KeyFileError::Invalid(format!(
            "{} is a private key; give the public key (.pub) — a trust root never holds private keys",
            path.display()
        )));
    }
    keys::public_key_from_pem(&normalised_pem(&text))
        .map_err(|e| KeyFileError::Invalid(format!("{}: {e}", path.display())))
}

/// A signer from `--sign-key FILE [--key-id ID]`; the id defaults to the file's stem.
pub fn signer(path: &Path, key_id: Option<&str>) -> Result<LogSigner, KeyFileError> {
    let key = read_private(path)?;
    let key_id = match key_id {
        Some(id) => id.to_string(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                KeyFileError::Invalid(format!(
                    "cannot take a key id from {}; give --key-id",
                    path.display()
                ))
            })?,
    };
    Ok(LogSigner { key_id, key })
}

/// A signer from `--sign-key FILE [--key-id ID]` that must be an active key of `trust` whose
/// public half the trust root holds: what signs a trust package, a release record or an
/// offline bundle, so that what it signs verifies where that trust root is trusted.
pub fn trusted_signer(
    trust: &TrustRoot,
    path: &Path,
    key_id: Option<&str>,
) -> Result<LogSigner, KeyFileError> {
    let signer = signer(path, key_id)?;
    match trust.get(&signer.key_id) {
        Some(k) if k.status == cavra_evidence::trust::KeyStatus::Active => {
            let key = k
                .verifying_key()
                .map_err(|e| KeyFileError::Invalid(e.to_string()))?;
            if key != signer.key.verifying_key() {
                return Err(KeyFileError::Invalid(format!(
                    "{} is not the private half of the trusted key {}",
                    path.display(),
                    signer.key_id
                )));
            }
            Ok(signer)
        }
        _ => Err(KeyFileError::Invalid(format!(
            "the signing key {} must be an active key of the trust root",
            signer.key_id
        ))),
    }
}

/// The key id of a repository's log key: `log-` and the fingerprint's first 12 hex digits.
pub fn log_key_id(key: &VerifyingKey) -> String {
    cavra_store::log_key_id(key)
}

/// The repository's log key, created on first use (`.cavra/keys/log.key`, 0600, and
/// `log.pub`). Concurrent first uses agree on one key: it is written to a private temporary
/// file and hard-linked into place, which fails if another process got there first.
pub fn log_key(repo_root: &Path) -> Result<LogSigner, KeyFileError> {
    let dir = repo_root.join(cavra_store::STORE_DIR).join(KEYS_DIR);
    let path = dir.join(LOG_KEY_FILE);
    if !path.exists() {
        std::fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
        let key = fresh_key()?;
        let pem =
            keys::private_key_to_pem(&key).map_err(|e| KeyFileError::Invalid(e.to_string()))?;
        let tmp = dir.join(format!(".log.key.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        write_private(&tmp, &pem).map_err(io("writing", &tmp))?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io("writing", &path)(e)),
        }
    }
    let key = read_private(&path)?;
    let public = dir.join(LOG_PUB_FILE);
    if !public.exists() {
        let pem = keys::public_key_to_pem(&key.verifying_key())
            .map_err(|e| KeyFileError::Invalid(e.to_string()))?;
        let _ = std::fs::write(&public, pem);
    }
    Ok(LogSigner {
        key_id: log_key_id(&key.verifying_key()),
        key,
    })
}

/// Where the repository's log key's public half is (`.cavra/keys/log.pub`).
pub fn log_public_path(repo_root: &Path) -> PathBuf {
    repo_root
        .join(cavra_store::STORE_DIR)
        .join(KEYS_DIR)
        .join(LOG_PUB_FILE)
}

/// The repository's log key as a trust root entry needs it: its id and its public key file;
/// an error when no decision was recorded yet (the key is made with the first).
pub fn log_public_key(repo_root: &Path) -> Result<(String, PathBuf), KeyFileError> {
    let file = log_public_path(repo_root);
    if !file.is_file() {
        return Err(KeyFileError::Invalid(format!(
            "no log key at {} yet (it is made with the first recorded decision)",
            file.display()
        )));
    }
    let id = log_key_id(&read_public(&file)?);
    Ok((id, file))
}

/// Lets `store` sign checkpoints with the repository's log key, read only when one is due.
pub fn attach_log_key(store: &mut cavra_store::Store, repo_root: &Path) {
    let root = repo_root.to_path_buf();
    store.set_log_signer(Box::new(move || log_key(&root).map_err(|e| e.to_string())));
}

/// A trust root holding only this repository's log key (what `evidence log verify` trusts
/// when no trust root is given), read from `.cavra/keys` — a verifier creates no key; none
/// when the repository has no log key yet.
pub fn own_log_trust(repo_root: &Path) -> Result<Option<TrustRoot>, KeyFileError> {
    let dir = repo_root.join(cavra_store::STORE_DIR).join(KEYS_DIR);
    let public = dir.join(LOG_PUB_FILE);
    let private = dir.join(LOG_KEY_FILE);
    let key = if public.is_file() {
        read_public(&public)?
    } else if private.is_file() {
        read_private(&private)?.verifying_key()
    } else {
        return Ok(None);
    };
    let mut trust = TrustRoot::default();
    let record = KeyRecord::new(
        log_key_id(&key),
        "this repository's log key",
        &key,
        time::OffsetDateTime::UNIX_EPOCH,
        None,
    )
    .map_err(|e| KeyFileError::Invalid(e.to_string()))?;
    trust
        .add(record)
        .map_err(|e| KeyFileError::Invalid(e.to_string()))?;
    Ok(Some(trust))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_generated_pair_reads_back_and_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let made = generate(dir.path(), "ci-2026").expect("generate");
        let mode = std::fs::metadata(&made.private_key)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let private = read_private(&made.private_key).expect("private");
        let public = read_public(&made.public_key).expect("public");
        assert_eq!(private.verifying_key(), public);
        assert_eq!(
            made.fingerprint,
            cavra_evidence::trust::fingerprint(&public)
        );
        let again = generate(dir.path(), "ci-2026").expect_err("second generate");
        assert!(again.to_string().contains("never overwrites"), "{again}");
        // The signer's id defaults to the file's stem.
        let signer = signer(&made.private_key, None).expect("signer");
        assert_eq!(signer.key_id, "ci-2026");
        let text = made.to_text();
        assert!(
            text.starts_with("generated Ed25519 key ci-2026\n"),
            "{text}"
        );
        assert!(
            text.ends_with(&format!(
                "--key-id ci-2026 --public-key {} --owner NAME\n",
                made.public_key.display()
            )),
            "{text}"
        );
    }

    #[test]
    fn unusable_ids_and_readable_private_keys_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        for id in ["", ".hidden", "a/b", "a b"] {
            assert!(
                matches!(generate(dir.path(), id), Err(KeyFileError::Invalid(_))),
                "{id:?}"
            );
        }
        let made = generate(dir.path(), "k").expect("generate");
        std::fs::set_permissions(&made.private_key, std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let e = read_private(&made.private_key).expect_err("readable by others");
        assert!(e.to_string().contains("chmod 600"), "{e}");
        // A private key handed over as a public one is refused by name.
        std::fs::set_permissions(&made.private_key, std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        let e = read_public(&made.private_key).expect_err("private as public");
        assert!(e.to_string().contains("is a private key"), "{e}");
    }

    #[test]
    fn a_pasted_key_with_crlf_and_blank_lines_still_reads() {
        let dir = tempfile::tempdir().expect("temp dir");
        let made = generate(dir.path(), "k").expect("generate");
        let text = std::fs::read_to_string(&made.public_key).expect("read");
        let pasted = dir.path().join("pasted.pub");
        std::fs::write(&pasted, format!("\n\n{}\n\n", text.replace('\n', "\r\n"))).expect("write");
        assert_eq!(
            read_public(&pasted).expect("pasted"),
            read_public(&made.public_key).expect("original")
        );
    }

    #[test]
    fn the_log_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = log_key(dir.path()).expect("first");
        let second = log_key(dir.path()).expect("second");
        assert_eq!(first.key_id, second.key_id);
        assert!(first.key_id.starts_with("log-"), "{}", first.key_id);
        let keys = dir.path().join(cavra_store::STORE_DIR).join(KEYS_DIR);
        assert!(keys.join(LOG_PUB_FILE).is_file());
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&keys)
            .expect("list")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
        // A verifier trusts exactly that key, and makes none where there is none.
        let trust = own_log_trust(dir.path())
            .expect("read")
            .expect("a trust root");
        assert_eq!(trust.keys.len(), 1);
        assert_eq!(trust.keys[0].key_id, first.key_id);
        let empty = tempfile::tempdir().expect("temp dir");
        assert!(own_log_trust(empty.path()).expect("read").is_none());
        assert!(!empty.path().join(cavra_store::STORE_DIR).exists());
    }
}

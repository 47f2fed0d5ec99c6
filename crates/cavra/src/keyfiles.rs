//! Key files on disk: generating Ed25519 key pairs (private key 0600), reading them back, and
//! the repository's own log key that signs the local evidence log's checkpoints.

use anyhow::{Context as _, anyhow, bail};
use cavra_evidence::keys::{self, SigningKey, VerifyingKey};
use cavra_store::LogSigner;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Folder (under `.cavra/`) of the repository's log key; ignored by git.
pub const KEYS_DIR: &str = "keys";
/// The log key's file name.
pub const LOG_KEY_FILE: &str = "log.key";
/// The log key's public half.
pub const LOG_PUB_FILE: &str = "log.pub";

/// A fresh key from the operating system's CSPRNG.
pub fn fresh_key() -> anyhow::Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow!("no randomness from the OS: {e}"))?;
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

/// Generates `DIR/ID.key` (0600) and `DIR/ID.pub`; refuses to overwrite either.
pub fn generate(dir: &Path, key_id: &str) -> anyhow::Result<GeneratedKey> {
    if key_id.is_empty()
        || !key_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || key_id.starts_with('.')
    {
        bail!("key id {key_id:?} must be letters, digits, '-', '_' or '.' (it names the files)");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let private = dir.join(format!("{key_id}.key"));
    let public = dir.join(format!("{key_id}.pub"));
    for p in [&private, &public] {
        if p.exists() {
            bail!(
                "{} exists; cavra never overwrites a key (choose another --key-id or folder)",
                p.display()
            );
        }
    }
    let key = fresh_key()?;
    let private_pem = keys::private_key_to_pem(&key).map_err(|e| anyhow!("{e}"))?;
    let public_pem = keys::public_key_to_pem(&key.verifying_key()).map_err(|e| anyhow!("{e}"))?;
    write_private(&private, &private_pem)
        .with_context(|| format!("writing {}", private.display()))?;
    std::fs::write(&public, public_pem).with_context(|| format!("writing {}", public.display()))?;
    Ok(GeneratedKey {
        key_id: key_id.to_string(),
        private_key: private,
        public_key: public,
        fingerprint: cavra_evidence::trust::fingerprint(&key.verifying_key()),
    })
}

/// Reads a private key file; refuses one that others can read.
pub fn read_private(path: &Path) -> anyhow::Result<SigningKey> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} is readable by others (mode {:o}); `chmod 600` it first",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // Keys pasted into CI secrets often gain surrounding blank lines or CRLF endings.
    let text = format!("{}\n", text.trim().replace("\r\n", "\n"));
    keys::private_key_from_pem(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// Reads a public key file (SPKI PEM), or the public half of a private key file.
pub fn read_public(path: &Path) -> anyhow::Result<VerifyingKey> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if text.contains("PRIVATE KEY") {
        bail!(
            "{} is a private key; give the public key (.pub) — a trust root never holds private keys",
            path.display()
        );
    }
    let text = format!("{}\n", text.trim().replace("\r\n", "\n"));
    keys::public_key_from_pem(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// A signer from `--sign-key FILE [--key-id ID]`; the id defaults to the file's stem.
pub fn signer(path: &Path, key_id: Option<&str>) -> anyhow::Result<LogSigner> {
    let key = read_private(path)?;
    let key_id = match key_id {
        Some(id) => id.to_string(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                anyhow!(
                    "cannot take a key id from {}; give --key-id",
                    path.display()
                )
            })?,
    };
    Ok(LogSigner { key_id, key })
}

/// The key id of a repository's log key: `log-` and the fingerprint's first 12 hex digits.
pub fn log_key_id(key: &VerifyingKey) -> String {
    cavra_store::log_key_id(key)
}

/// The repository's log key, created on first use (`.cavra/keys/log.key`, 0600, and
/// `log.pub`). Concurrent first uses agree on one key: it is written to a private temporary
/// file and hard-linked into place, which fails if another process got there first.
pub fn log_key(repo_root: &Path) -> anyhow::Result<LogSigner> {
    let dir = repo_root.join(cavra_store::STORE_DIR).join(KEYS_DIR);
    let path = dir.join(LOG_KEY_FILE);
    if !path.exists() {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let key = fresh_key()?;
        let pem = keys::private_key_to_pem(&key).map_err(|e| anyhow!("{e}"))?;
        let tmp = dir.join(format!(".log.key.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        write_private(&tmp, &pem).with_context(|| format!("writing {}", tmp.display()))?;
        let linked = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("writing {}", path.display())),
        }
    }
    let key = read_private(&path)?;
    let public = dir.join(LOG_PUB_FILE);
    if !public.exists() {
        let pem = keys::public_key_to_pem(&key.verifying_key()).map_err(|e| anyhow!("{e}"))?;
        let _ = std::fs::write(&public, pem);
    }
    Ok(LogSigner {
        key_id: log_key_id(&key.verifying_key()),
        key,
    })
}

/// Lets `store` sign checkpoints with the repository's log key, read only when one is due.
pub fn attach_log_key(store: &mut cavra_store::Store, repo_root: &Path) {
    let root = repo_root.to_path_buf();
    store.set_log_signer(Box::new(move || {
        log_key(&root).map_err(|e| format!("{e:#}"))
    }));
}

//! What the release crate's integration tests share: key files, trust roots, trust packages,
//! a small release archive, and archives rebuilt with one change (to tamper with).
#![allow(dead_code)]

use cavra_evidence::trust::{KeyRecord, TrustRoot};
use cavra_release::tarball::{self, Entry, Files};
use cavra_runtime::keyfiles::{self, LogSigner};
use std::path::{Path, PathBuf};

/// A key pair written by `cavra keys generate` into `dir`, and its signer.
pub struct Key {
    /// The private key file.
    pub path: PathBuf,
    /// The signer.
    pub signer: LogSigner,
    /// `sha256:…`.
    pub fingerprint: String,
}

/// Generates key `id` in `dir`.
pub fn key(dir: &Path, id: &str) -> Key {
    let generated = keyfiles::generate(dir, id).expect("key");
    Key {
        signer: keyfiles::signer(&generated.private_key, Some(id)).expect("signer"),
        path: generated.private_key,
        fingerprint: generated.fingerprint,
    }
}

/// A trust root holding `keys`, valid since 2020, written to `path`.
pub fn trust_root(path: &Path, keys: &[&Key]) -> TrustRoot {
    let mut root = TrustRoot::default();
    let from = time::macros::datetime!(2020-01-01 0:00 UTC);
    for k in keys {
        root.add(
            KeyRecord::new(
                k.signer.key_id.clone(),
                "release",
                &k.signer.key.verifying_key(),
                from,
                None,
            )
            .expect("record"),
        )
        .expect("add");
    }
    std::fs::write(path, root.to_json()).expect("write trust root");
    root
}

/// A trust package of the trust root at `trust` signed by `key`, written to `output`.
pub fn trust_package(trust: &Path, key: &Key, output: &Path) {
    cavra_runtime::trust_package::export(trust, &[], &key.path, Some(&key.signer.key_id), output)
        .expect("trust package");
}

/// A minimal `cargo metadata` document: the `cavra` package and one dependency.
pub fn metadata() -> Vec<u8> {
    serde_json::json!({
        "packages": [
            {"id": "cavra-id", "name": "cavra", "version": "0.1.0", "source": null, "license": "Apache-2.0"},
            {"id": "sha2-id", "name": "sha2", "version": "0.10.9", "source": "registry+x", "license": "MIT OR Apache-2.0"},
        ],
        "resolve": {"nodes": [
            {"id": "cavra-id", "deps": [{"pkg": "sha2-id", "dep_kinds": [{"kind": null}]}]},
            {"id": "sha2-id", "deps": []},
        ]}
    })
    .to_string()
    .into_bytes()
}

/// `Cargo.lock` text for [`metadata`].
pub const LOCK: &str = "[[package]]\nname = \"sha2\"\nversion = \"0.10.9\"\nchecksum = \"abcd\"\n";

/// Two stand-in binaries in `dir`.
pub fn binaries(dir: &Path) -> Vec<PathBuf> {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    ["cavra", "cavra-hook"]
        .iter()
        .map(|n| {
            let p = bin.join(n);
            std::fs::write(&p, format!("\x7fELF stand-in for {n}")).expect("binary");
            p
        })
        .collect()
}

/// A release archive of [`binaries`] signed by `key`.
pub fn archive(dir: &Path, key: &Key) -> cavra_release::archive::Built {
    let bins = binaries(dir);
    cavra_release::archive::build_from_cargo(
        &cavra_release::archive::CargoInputs {
            version: "1.2.3",
            target: "x86_64-unknown-linux-gnu",
            binaries: &bins,
            metadata: &metadata(),
            lock: LOCK,
            source_date_epoch: 1_780_000_000,
        },
        &key.signer,
    )
    .expect("archive")
}

/// The files of a (gzip) tar archive.
pub fn unpack(bytes: &[u8]) -> Files {
    tarball::read_tar(bytes).expect("readable archive")
}

/// A tar archive (gzip-compressed when `gz`) of `files`.
pub fn repack(files: &Files, gz: bool) -> Vec<u8> {
    let tar = tarball::write_tar(files, 0).expect("tar");
    if gz {
        tarball::gzip(&tar).expect("gzip")
    } else {
        tar
    }
}

/// A plain file entry.
pub fn entry(bytes: &[u8]) -> Entry {
    Entry {
        bytes: bytes.to_vec(),
        executable: false,
    }
}

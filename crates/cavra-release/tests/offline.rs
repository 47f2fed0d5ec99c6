//! Offline install bundles: made, verified against the fingerprint told out of band, installed;
//! and refused — nothing written — when tampered, unsigned or signed by an untrusted key.

mod support;

use cavra_release::offline::{self, SIGNATURE, TRUST_PACKAGE};
use cavra_release::tarball::Files;
use std::path::{Path, PathBuf};
use support::*;

struct Fixture {
    tmp: tempfile::TempDir,
    key: Key,
    trust_path: PathBuf,
    bundle: Vec<u8>,
}

/// A small OCI image layout in a tar, as `podman save --format oci-archive` writes one.
fn oci_archive(path: &Path) {
    let mut files = Files::new();
    files.insert(
        "oci-layout".into(),
        entry(br#"{"imageLayoutVersion": "1.0.0"}"#),
    );
    files.insert(
        "index.json".into(),
        entry(br#"{"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:00", "size": 1}]}"#),
    );
    std::fs::write(path, repack(&files, false)).unwrap();
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let key = key(dir, "release-2026");
    let trust_path = dir.join("trust.json");
    let trust = trust_root(&trust_path, &[&key]);
    trust_package(&trust_path, &key, &dir.join("trust-package.json"));
    let built = archive(&dir.join("build"), &key);
    let archive_path = cavra_release::archive::write(&built, &dir.join("dist")).unwrap();
    oci_archive(&dir.join("cavra-image.tar"));
    let (bundle, summary) = offline::bundle(
        &offline::Inputs {
            archives: &[archive_path],
            trust_package: &dir.join("trust-package.json"),
            packs: &[],
            images: &[dir.join("cavra-image.tar")],
            signed_at: "2026-06-01T00:00:00Z",
        },
        &trust,
        &trust_path,
        &key.signer,
    )
    .expect("bundle");
    assert_eq!(summary.signed_by, "release-2026");
    assert_eq!(summary.files.len(), 3, "{:?}", summary.files);
    Fixture {
        tmp,
        key,
        trust_path,
        bundle,
    }
}

/// A fresh site: no trust root yet.
fn site(f: &Fixture) -> PathBuf {
    let site = f.tmp.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    site.join("trust.json")
}

#[test]
fn a_bundle_verifies_by_fingerprint_and_installs() {
    let f = fixture();
    let site_trust = site(&f);
    // With no trust root and no fingerprint there is nothing to trust: a usage error.
    let none = offline::verify(&f.bundle, None, &site_trust)
        .err()
        .expect("no anchor");
    assert!(!none.is_verification(), "{none}");
    assert!(none.to_string().contains("--fingerprint"), "{none}");
    // The fingerprint told out of band anchors it.
    let checked = offline::verify(&f.bundle, Some(&f.key.fingerprint), &site_trust).unwrap();
    assert_eq!(
        checked.summary.releases,
        ["cavra-1.2.3-x86_64-unknown-linux-gnu"]
    );
    // A wrong fingerprint does not.
    let wrong = format!("sha256:{}", "0".repeat(64));
    assert!(offline::verify(&f.bundle, Some(&wrong), &site_trust).is_err());
    // The trust root the bundle was made with verifies it too.
    offline::verify(&f.bundle, None, &f.trust_path).unwrap();

    let prefix = f.tmp.path().join("site/opt");
    let installed = offline::install(checked, &prefix, &site_trust).unwrap();
    let cavra = prefix.join("bin/cavra");
    assert!(cavra.exists(), "{:?}", installed.written);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cavra).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert!(prefix.join("bin/cavra-hook").exists());
    assert!(prefix.join("share/cavra/SHA256SUMS").exists());
    assert!(
        prefix
            .join("share/cavra/packs/cavra-baseline.yaml")
            .exists()
    );
    assert!(prefix.join("images/cavra-image.tar").exists());
    let root = cavra_runtime::trust_file::read(&site_trust).unwrap();
    assert!(root.get("release-2026").is_some());
    // Installed, the site's trust root alone verifies the next bundle.
    offline::verify(&f.bundle, None, &site_trust).unwrap();
}

fn refused(bundle: &[u8], f: &Fixture, needle: &str) {
    let site_trust = site(f);
    let err = offline::verify(bundle, Some(&f.key.fingerprint), &site_trust)
        .err()
        .expect("refused");
    assert!(err.is_verification(), "{err}");
    assert!(err.to_string().contains(needle), "{needle:?} not in: {err}");
    assert!(!site_trust.exists(), "nothing written");
}

#[test]
fn tampered_unsigned_or_untrusted_bundles_are_refused() {
    let f = fixture();
    let files = unpack(&f.bundle);
    let archive_name = files
        .keys()
        .find(|k| k.starts_with("release/"))
        .unwrap()
        .clone();

    // A byte of the release archive.
    let mut changed = files.clone();
    let bytes = &mut changed.get_mut(&archive_name).unwrap().bytes;
    let at = bytes.len() - 9;
    bytes[at] ^= 1;
    refused(&repack(&changed, false), &f, "checksum mismatch: release/");

    // A byte of the trust package: its own signature no longer holds.
    let mut pkg = files.clone();
    let text = String::from_utf8(pkg[TRUST_PACKAGE].bytes.clone()).unwrap();
    let mut env: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sig = env["signatures"][0]["sig"].as_str().unwrap().to_string();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    env["signatures"][0]["sig"] = serde_json::json!(format!("{flipped}{}", &sig[1..]));
    pkg.get_mut(TRUST_PACKAGE).unwrap().bytes = env.to_string().into_bytes();
    refused(&repack(&pkg, false), &f, "trust/trust-package.json");

    // A file missing, a file added.
    let mut missing = files.clone();
    missing.remove("images/cavra-image.tar");
    refused(
        &repack(&missing, false),
        &f,
        "missing file: images/cavra-image.tar",
    );
    let mut extra = files.clone();
    extra.insert("release/other.tar.gz".into(), entry(b"x"));
    refused(
        &repack(&extra, false),
        &f,
        "extra file: release/other.tar.gz",
    );

    // Unsigned.
    let mut unsigned = files.clone();
    unsigned.remove(SIGNATURE);
    refused(&repack(&unsigned, false), &f, "unsigned");

    // Signed by a key the site does not trust: the trust package is the genuine one (signed
    // by the release key), but the bundle's signature is another key's.
    let other = key(f.tmp.path(), "intruder");
    let both = f.tmp.path().join("both.json");
    let trust = trust_root(&both, &[&f.key, &other]);
    let dir = f.tmp.path();
    let archive_path = dir
        .join("dist")
        .join(archive_name.trim_start_matches("release/"));
    let (forged, _) = offline::bundle(
        &offline::Inputs {
            archives: &[archive_path],
            trust_package: &dir.join("trust-package.json"),
            packs: &[],
            images: &[],
            signed_at: "2026-06-01T00:00:00Z",
        },
        &trust,
        &both,
        &other.signer,
    )
    .expect("the intruder's own trust root accepts it");
    refused(&forged, &f, "signature by an untrusted key");

    // An image that is not an OCI archive is never bundled.
    std::fs::write(dir.join("not-oci.tar"), b"plain bytes").unwrap();
    let err = offline::bundle(
        &offline::Inputs {
            archives: &[dir
                .join("dist")
                .join(archive_name.trim_start_matches("release/"))],
            trust_package: &dir.join("trust-package.json"),
            packs: &[],
            images: &[dir.join("not-oci.tar")],
            signed_at: "2026-06-01T00:00:00Z",
        },
        &trust,
        &both,
        &other.signer,
    )
    .expect_err("not an OCI archive");
    assert!(err.to_string().contains("images/not-oci.tar"), "{err}");
}

//! The release archive: the same inputs make the same bytes; it verifies offline; and every
//! change — a byte of a file, a missing or extra file, the sums, the signature, the key — fails,
//! naming what failed.

mod support;

use cavra_release::archive::{self, SUMS, SUMS_SIGNATURE};
use support::*;

const FOLDER: &str = "cavra-1.2.3-x86_64-unknown-linux-gnu";

#[test]
fn the_archive_is_reproducible_and_holds_what_a_release_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let k = key(tmp.path(), "release-2026");
    let trust = trust_root(&tmp.path().join("trust.json"), &[&k]);
    let one = archive(&tmp.path().join("a"), &k);
    let two = archive(&tmp.path().join("b"), &k);
    assert_eq!(one.bytes, two.bytes, "built twice, the same bytes");
    assert_eq!(one.sha256, two.sha256);
    assert_eq!(one.file_name, format!("{FOLDER}.tar.gz"));
    let v = archive::verify(&one.bytes, &trust).expect("verifies");
    assert_eq!(v.version, "1.2.3");
    assert_eq!(v.signed_by, "release-2026");
    for f in [
        "bin/cavra",
        "bin/cavra-hook",
        "packs/cavra-baseline.yaml",
        "packs/claude-code.yaml",
        "packs/community-starter.yaml",
        archive::SBOM,
    ] {
        assert!(v.files.iter().any(|x| x == f), "{f} in {:?}", v.files);
    }
    // Entries carry no owner and one time; binaries are executable.
    let files = unpack(&one.bytes);
    assert!(files[&format!("{FOLDER}/bin/cavra")].executable);
    assert!(!files[&format!("{FOLDER}/{SUMS}")].executable);
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(one.bytes.as_slice()));
    for e in tar.entries().unwrap() {
        let h = e.unwrap().header().clone();
        assert_eq!(h.uid().unwrap(), 0);
        assert_eq!(h.mtime().unwrap(), 1_780_000_000);
        assert!(h.username().unwrap().unwrap_or("").is_empty());
    }
    // The SBOM is CycloneDX and names the dependency with its lock checksum.
    let sbom: serde_json::Value =
        serde_json::from_slice(&files[&format!("{FOLDER}/{}", archive::SBOM)].bytes).unwrap();
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    assert_eq!(sbom["components"][0]["purl"], "pkg:cargo/sha2@0.10.9");
    assert_eq!(sbom["components"][0]["hashes"][0]["content"], "abcd");
    // The sums are `sha256sum -c` lines.
    let sums = String::from_utf8(files[&format!("{FOLDER}/{SUMS}")].bytes.clone()).unwrap();
    assert!(
        sums.lines()
            .all(|l| l.len() > 66 && l.as_bytes()[64..66] == *b"  "),
        "{sums}"
    );
}

fn fails(bytes: &[u8], trust: &cavra_evidence::trust::TrustRoot, needle: &str) {
    let err = archive::verify(bytes, trust).expect_err("must not verify");
    assert!(err.is_verification(), "{err}");
    assert!(err.to_string().contains(needle), "{needle:?} not in: {err}");
}

#[test]
fn any_change_to_the_archive_fails_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let k = key(tmp.path(), "release-2026");
    let trust = trust_root(&tmp.path().join("trust.json"), &[&k]);
    let built = archive(&tmp.path().join("a"), &k);
    let files = unpack(&built.bytes);
    let name = |f: &str| format!("{FOLDER}/{f}");

    // A changed byte in a binary.
    let mut changed = files.clone();
    changed.get_mut(&name("bin/cavra")).unwrap().bytes[0] ^= 1;
    fails(
        &repack(&changed, true),
        &trust,
        "checksum mismatch: bin/cavra",
    );

    // A file missing.
    let mut missing = files.clone();
    missing.remove(&name(archive::SBOM));
    fails(
        &repack(&missing, true),
        &trust,
        "missing file: sbom.cdx.json",
    );

    // A file added.
    let mut extra = files.clone();
    extra.insert(name("bin/backdoor"), entry(b"x"));
    fails(&repack(&extra, true), &trust, "extra file: bin/backdoor");

    // The sums edited to match a changed binary.
    let mut resummed = changed.clone();
    let new_sum = cavra_release::sha256_hex(&resummed[&name("bin/cavra")].bytes);
    let sums = String::from_utf8(resummed[&name(SUMS)].bytes.clone()).unwrap();
    let sums: String = sums
        .lines()
        .map(|l| {
            if l.ends_with("  bin/cavra") {
                format!("{new_sum}  bin/cavra\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    resummed.get_mut(&name(SUMS)).unwrap().bytes = sums.into_bytes();
    fails(
        &repack(&resummed, true),
        &trust,
        "SHA256SUMS is not the one signed",
    );

    // Unsigned: no signature file, or one with its signatures removed.
    let mut unsigned = files.clone();
    unsigned.remove(&name(SUMS_SIGNATURE));
    fails(&repack(&unsigned, true), &trust, "unsigned");
    let mut stripped = files.clone();
    let mut env: serde_json::Value =
        serde_json::from_slice(&stripped[&name(SUMS_SIGNATURE)].bytes).unwrap();
    env["signatures"] = serde_json::json!([]);
    stripped.get_mut(&name(SUMS_SIGNATURE)).unwrap().bytes = env.to_string().into_bytes();
    fails(&repack(&stripped, true), &trust, "missing signature");

    // A key the verifier does not trust, and a key it revoked.
    let other = key(tmp.path(), "someone-else");
    let other_trust = trust_root(&tmp.path().join("other.json"), &[&other]);
    fails(&built.bytes, &other_trust, "untrusted key");
    let mut revoked = trust.clone();
    revoked
        .revoke("release-2026", "leaked", time::OffsetDateTime::now_utc())
        .unwrap();
    fails(&built.bytes, &revoked, "revoked");

    // A flipped byte of the compressed file.
    let mut flipped = built.bytes.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 0x40;
    assert!(archive::verify(&flipped, &trust).is_err());

    // Entries outside the one folder.
    let mut two_folders = files.clone();
    two_folders.insert("elsewhere/x".into(), entry(b"x"));
    fails(&repack(&two_folders, true), &trust, "two folders");
}

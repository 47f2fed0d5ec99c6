//! `cavra release`, `cavra offline` and `cavra trust status` through the binary, as a release
//! manager and an air-gapped site run them: exit codes, messages that name what failed, JSON.

mod support;

use std::path::{Path, PathBuf};
use support::{Out, cavra, git, run};

fn ok(dir: &Path, args: &[&str]) -> Out {
    let out = run(cavra(dir).args(args), b"");
    assert_eq!(out.code, 0, "cavra {args:?}: {}{}", out.stdout, out.stderr);
    out
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A repository with three commits, a release key in a trust root (valid since 2020).
struct Fixture {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    out: PathBuf,
    key: PathBuf,
    trust: PathBuf,
    fingerprint: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path().join("repo");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&repo).expect("repo");
    std::fs::create_dir_all(&out).expect("out");
    git(&repo, &["init", "-q", "-b", "main"]);
    for f in ["a", "b", "c"] {
        std::fs::write(repo.join(f), f).expect("file");
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", f]);
    }
    let keys = out.join("keys");
    let generated = ok(
        &out,
        &[
            "keys",
            "generate",
            "--key-id",
            "release-2026",
            "--output",
            s(&keys),
            "--json",
        ],
    )
    .json();
    let trust = out.join("trust.json");
    ok(
        &out,
        &[
            "trust",
            "add",
            "--trust-root",
            s(&trust),
            "--key-id",
            "release-2026",
            "--owner",
            "release",
            "--valid-from",
            "2020-01-01T00:00:00Z",
            "--public-key",
            s(&keys.join("release-2026.pub")),
        ],
    );
    Fixture {
        key: keys.join("release-2026.key"),
        fingerprint: generated["fingerprint"].as_str().expect("fp").to_string(),
        trust,
        repo,
        out,
        _tmp: tmp,
    }
}

/// A release archive of stand-in binaries, through `cavra release archive`.
fn archive(f: &Fixture) -> PathBuf {
    let bin = f.out.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    for b in ["cavra", "cavra-hook"] {
        std::fs::write(bin.join(b), format!("stand-in {b}")).expect("bin");
    }
    let metadata = f.out.join("metadata.json");
    std::fs::write(
        &metadata,
        serde_json::json!({
            "packages": [{"id": "c", "name": "cavra", "version": "0.1.0", "source": null, "license": "Apache-2.0"}],
            "resolve": {"nodes": [{"id": "c", "deps": []}]}
        })
        .to_string(),
    )
    .expect("metadata");
    std::fs::write(f.out.join("Cargo.lock"), "version = 4\n").expect("lock");
    let built = ok(
        &f.out,
        &[
            "release",
            "archive",
            "--version",
            "0.1.0",
            "--target",
            "x86_64-unknown-linux-gnu",
            "--binary",
            s(&bin.join("cavra")),
            "--binary",
            s(&bin.join("cavra-hook")),
            "--metadata",
            s(&metadata),
            "--lock",
            s(&f.out.join("Cargo.lock")),
            "--source-date-epoch",
            "1780000000",
            "--sign-key",
            s(&f.key),
            "--trust-root",
            s(&f.trust),
            "--output",
            s(&f.out.join("dist")),
            "--json",
        ],
    )
    .json();
    PathBuf::from(built["archive"].as_str().expect("archive path"))
}

#[test]
fn record_verify_and_roll_back_a_release() {
    let f = fixture();
    let art = archive(&f);
    let verified = ok(
        &f.out,
        &["release", "verify", s(&art), "--trust-root", s(&f.trust)],
    );
    assert!(
        verified.stdout.contains("verified: release archive 0.1.0"),
        "{}",
        verified.stdout
    );

    let record = |version: &str| {
        run(
            cavra(&f.repo).args([
                "release",
                "record",
                "--version",
                version,
                "--artifact",
                s(&art),
                "--sign-key",
                s(&f.key),
                "--trust-root",
                s(&f.trust),
            ]),
            b"",
        )
    };
    let out = record("0.1.0");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("3 commit(s), 3 without a CI check"),
        "{}",
        out.stdout
    );
    let rec = f.repo.join(".cavra/releases/0.1.0.release.json");
    assert!(rec.exists());
    // Recorded once: the same version again is refused and the record stays.
    let again = record("0.1.0");
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("exists"), "{}", again.stderr);
    assert_eq!(record("0.2.0").code, 0);

    let v = ok(
        &f.repo,
        &[
            "release",
            "verify",
            s(&rec),
            "--trust-root",
            s(&f.trust),
            "--artifact",
            s(&art),
            "--json",
        ],
    )
    .json();
    assert_eq!(v["result"]["record"]["kind"], "release");
    assert_eq!(
        v["result"]["artifacts_checked"][0],
        art.file_name().unwrap().to_str().unwrap()
    );

    // A changed artefact fails, naming it.
    let copy = f.out.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    let changed = copy.join(art.file_name().unwrap());
    std::fs::write(&changed, b"other").unwrap();
    let out = run(
        cavra(&f.repo).args([
            "release",
            "verify",
            s(&rec),
            "--trust-root",
            s(&f.trust),
            "--artifact",
            s(&changed),
        ]),
        b"",
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("digest mismatch"), "{}", out.stderr);

    let rolled = ok(
        &f.repo,
        &[
            "release",
            "rollback",
            "--from",
            "0.2.0",
            "--to",
            "0.1.0",
            "--reason",
            "latency regression",
            "--actor",
            "alice",
            "--sign-key",
            s(&f.key),
            "--trust-root",
            s(&f.trust),
            "--json",
        ],
    )
    .json();
    let path = rolled["record"].as_str().unwrap();
    let out = ok(
        &f.repo,
        &["release", "verify", path, "--trust-root", s(&f.trust)],
    );
    assert!(
        out.stdout.contains("rollback 0.2.0 -> 0.1.0 by alice"),
        "{}",
        out.stdout
    );
    // Against a trust root without the key: refused.
    let empty = f.out.join("empty-trust.json");
    std::fs::write(&empty, r#"{"format": "cavra-trust-root/v1", "keys": []}"#).unwrap();
    let out = run(
        cavra(&f.repo).args(["release", "verify", path, "--trust-root", s(&empty)]),
        b"",
    );
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("untrusted key"), "{}", out.stderr);
}

#[test]
fn an_offline_bundle_installs_on_a_site_that_only_knows_the_fingerprint() {
    let f = fixture();
    let art = archive(&f);
    let package = f.out.join("trust-package.json");
    ok(
        &f.out,
        &[
            "trust",
            "export",
            "--trust-root",
            s(&f.trust),
            "--sign-key",
            s(&f.key),
            "--output",
            s(&package),
        ],
    );
    let bundle = f.out.join("offline.tar");
    ok(
        &f.out,
        &[
            "offline",
            "bundle",
            "--archive",
            s(&art),
            "--trust-package",
            s(&package),
            "--sign-key",
            s(&f.key),
            "--trust-root",
            s(&f.trust),
            "--output",
            s(&bundle),
        ],
    );
    let site = tempfile::tempdir().unwrap();
    let site_trust = site.path().join("etc/trust.json");
    // No trust root, no fingerprint: nothing to check against (usage, exit 2).
    let out = run(
        cavra(site.path()).args([
            "offline",
            "verify",
            s(&bundle),
            "--trust-root",
            s(&site_trust),
        ]),
        b"",
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    // A tampered bundle is refused and nothing is installed.
    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 1;
    let tampered = site.path().join("tampered.tar");
    std::fs::write(&tampered, bytes).unwrap();
    let out = run(
        cavra(site.path()).args([
            "offline",
            "install",
            s(&tampered),
            "--trust-root",
            s(&site_trust),
            "--fingerprint",
            &f.fingerprint,
            "--prefix",
            s(&site.path().join("opt")),
        ]),
        b"",
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("refused"), "{}", out.stderr);
    assert!(!site.path().join("opt").exists());
    assert!(!site_trust.exists());
    // The genuine bundle installs.
    let installed = ok(
        site.path(),
        &[
            "offline",
            "install",
            s(&bundle),
            "--trust-root",
            s(&site_trust),
            "--fingerprint",
            &f.fingerprint,
            "--prefix",
            s(&site.path().join("opt")),
            "--json",
        ],
    )
    .json();
    assert_eq!(installed["bundle"]["signed_by"], "release-2026");
    assert!(site.path().join("opt/bin/cavra-hook").exists());
    // The site's trust root now holds the key: verify needs no fingerprint, and it is in sync
    // with the package (exit 0); a key revoked on the site is drift (exit 3).
    ok(
        site.path(),
        &[
            "offline",
            "verify",
            s(&bundle),
            "--trust-root",
            s(&site_trust),
        ],
    );
    let status = ok(
        site.path(),
        &[
            "trust",
            "status",
            "--trust-root",
            s(&site_trust),
            "--package",
            s(&package),
            "--json",
        ],
    )
    .json();
    assert_eq!(status["in_sync"], true, "{status}");
    // A key only the site trusts is drift (exit 3), named.
    ok(
        site.path(),
        &[
            "keys",
            "generate",
            "--key-id",
            "site-local",
            "--output",
            s(&site.path().join("keys")),
        ],
    );
    ok(
        site.path(),
        &[
            "trust",
            "add",
            "--trust-root",
            s(&site_trust),
            "--key-id",
            "site-local",
            "--owner",
            "site",
            "--public-key",
            s(&site.path().join("keys/site-local.pub")),
        ],
    );
    let out = run(
        cavra(site.path()).args([
            "trust",
            "status",
            "--trust-root",
            s(&site_trust),
            "--package",
            s(&package),
        ]),
        b"",
    );
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("drift:") && out.stdout.contains("site-local"),
        "{}",
        out.stdout
    );
    ok(
        site.path(),
        &[
            "trust",
            "revoke",
            "--trust-root",
            s(&site_trust),
            "--key-id",
            "release-2026",
            "--reason",
            "drill",
        ],
    );
    let out = run(
        cavra(site.path()).args([
            "trust",
            "status",
            "--trust-root",
            s(&site_trust),
            "--package",
            s(&package),
        ]),
        b"",
    );
    // The package no longer verifies under a trust root that revoked its signer: an error,
    // never a silent pass.
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("revoked"), "{}", out.stderr);
    let out = run(
        cavra(site.path()).args([
            "trust",
            "status",
            "--trust-root",
            s(&site_trust),
            "--package",
            s(&package),
            "--fingerprint",
            &f.fingerprint,
        ]),
        b"",
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
}

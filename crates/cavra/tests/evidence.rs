//! `cavra keys`, `cavra trust`, `cavra evidence` and signed policies, driven through the real
//! binary on decisions the real hook recorded.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use support::{Out, command as cavra, key_pair as keygen, outcome as run};

fn project() -> tempfile::TempDir {
    support::marked_project(support::HOOK_POLICY)
}

fn hook(dir: &Path, tool: &str, input: Value, extra: &[&str]) -> Out {
    let id = format!("toolu_{}", uuid_like());
    let payload = support::claude_call(dir, "sess-1", "PreToolUse", tool, input, &id);
    support::hook_by(support::in_dir(dir), "claude-code", &payload, extra)
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A project where the hook decided a few things (allowed, blocked, asked).
fn project_with_decisions() -> tempfile::TempDir {
    let dir = project();
    let r = dir.path().to_string_lossy().into_owned();
    hook(dir.path(), "Bash", json!({"command": "ls -la"}), &[]);
    hook(
        dir.path(),
        "Read",
        json!({"file_path": format!("{r}/.env")}),
        &[],
    );
    hook(
        dir.path(),
        "Bash",
        json!({"command": "terraform plan && terraform apply -auto-approve"}),
        &[],
    );
    hook(
        dir.path(),
        "Write",
        json!({"file_path": format!("{r}/src/main.rs"), "content": "fn main() {}"}),
        &[],
    );
    dir
}

/// Adds `keys/ID.pub` to `trust` as `id`, owned by security.
fn trust_add(trust: &Path, keys: &Path, id: &str) {
    support::trust_key(trust, &keys.join(format!("{id}.pub")), id, "security");
}

#[test]
fn keys_are_private_and_never_overwritten() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let out = run(cavra()
        .args([
            "keys",
            "generate",
            "--key-id",
            "prod-2026",
            "--json",
            "--output",
        ])
        .arg(dir.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert!(
        v["fingerprint"]
            .as_str()
            .expect("fp")
            .starts_with("sha256:")
    );
    let mode = std::fs::metadata(dir.path().join("prod-2026.key"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let private = std::fs::read_to_string(dir.path().join("prod-2026.key")).expect("key");
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
    let again = run(cavra()
        .args(["keys", "generate", "--key-id", "prod-2026", "--output"])
        .arg(dir.path()));
    assert_eq!(again.code, 1);
    assert!(
        again.stderr.contains("never overwrites"),
        "{}",
        again.stderr
    );
    // A private key readable by others is refused when signing.
    std::fs::set_permissions(
        dir.path().join("prod-2026.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let pack = dir.path().join("p.yaml");
    std::fs::write(&pack, support::HOOK_POLICY).expect("pack");
    let out = run(cavra()
        .args(["policy", "sign"])
        .arg(&pack)
        .arg("--key")
        .arg(dir.path().join("prod-2026.key")));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("readable by others"), "{}", out.stderr);
    // A trust root never takes a private key.
    let out = run(cavra()
        .args(["trust", "add", "--trust-root"])
        .arg(dir.path().join("trust.json"))
        .args(["--key-id", "x", "--owner", "me", "--public-key"])
        .arg(dir.path().join("prod-2026.key")));
    assert_eq!(out.code, 1);
}

#[test]
fn trust_root_life_cycle() {
    let dir = tempfile::tempdir().expect("tmp");
    let trust = dir.path().join("trust.json");
    keygen(dir.path(), "old");
    keygen(dir.path(), "new");
    trust_add(&trust, dir.path(), "old");
    trust_add(&trust, dir.path(), "new");
    // The same key id twice is refused.
    let out = run(cavra()
        .args(["trust", "add", "--trust-root"])
        .arg(&trust)
        .args(["--key-id", "old", "--owner", "x", "--public-key"])
        .arg(dir.path().join("new.pub")));
    assert_eq!(out.code, 1);
    let out = run(cavra()
        .args([
            "trust",
            "retire",
            "--key-id",
            "old",
            "--reason",
            "rotated",
            "--trust-root",
        ])
        .arg(&trust));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(cavra()
        .args([
            "trust",
            "revoke",
            "--key-id",
            "new",
            "--reason",
            "leaked",
            "--trust-root",
        ])
        .arg(&trust));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(cavra()
        .args(["trust", "list", "--json", "--trust-root"])
        .arg(&trust));
    let keys: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(keys[0]["status"], "retired");
    assert!(keys[0]["valid_until"].is_string());
    assert_eq!(keys[1]["status"], "revoked");
    assert_eq!(keys[1]["status_reason"], "leaked");
    // An edited trust root (a public key swapped) is refused.
    let text = std::fs::read_to_string(&trust).expect("read");
    let mut v: Value = serde_json::from_str(&text).expect("json");
    v["keys"][0]["public_key"] = v["keys"][1]["public_key"].clone();
    std::fs::write(&trust, v.to_string()).expect("write");
    let out = run(cavra().args(["trust", "list", "--trust-root"]).arg(&trust));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("fingerprint"), "{}", out.stderr);
}

#[test]
fn bundle_of_real_decisions_verifies_and_every_tampering_is_named() {
    let dir = project_with_decisions();
    let keys = tempfile::tempdir().expect("keys");
    let key = keygen(keys.path(), "evidence-2026");
    let trust = keys.path().join("trust.json");
    trust_add(&trust, keys.path(), "evidence-2026");

    // The local log verifies (against the repository's own log key).
    let out = run(cavra()
        .args(["evidence", "log", "verify", "--json"])
        .current_dir(dir.path()));
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(report["entries"], 4);
    assert!(report["problems"].as_array().expect("problems").is_empty());
    // Verifying creates no key; the log key (made when the first checkpoint is signed, below)
    // is private and ignored by git.
    assert!(!dir.path().join(".cavra/keys/log.key").exists());
    let ignore = std::fs::read_to_string(dir.path().join(".cavra/.gitignore")).expect("ignore");
    assert!(ignore.lines().any(|l| l == "keys/"));

    let bundle = dir.path().join("out/bundle");
    let out = run(cavra()
        .args([
            "evidence",
            "bundle",
            "--session",
            "sess-1",
            "--retention-days",
            "400",
            "--json",
            "--output",
        ])
        .arg(&bundle)
        .arg("--sign-key")
        .arg(&key)
        .current_dir(dir.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let written: Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(written["entries"], 4);
    assert_eq!(written["decisions"]["block"], 2, "{written}");
    use std::os::unix::fs::PermissionsExt;
    let log_key = std::fs::metadata(dir.path().join(".cavra/keys/log.key")).expect("log key");
    assert_eq!(log_key.permissions().mode() & 0o777, 0o600);
    let summary = std::fs::read_to_string(bundle.join("summary.md")).expect("summary");
    assert!(summary.contains("terraform apply"), "{summary}");
    assert!(summary.contains(".env"), "{summary}");

    let verify = |extra: &[&str]| {
        run(cavra()
            .args(["evidence", "verify"])
            .arg(&bundle)
            .arg("--trust-root")
            .arg(&trust)
            .args(extra))
    };
    let out = verify(&["--minimum-retention-days", "365"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("verified: 4 entries"), "{}", out.stdout);
    let out = verify(&["--minimum-retention-days", "500"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("retention too short"), "{}", out.stdout);

    // A byte changed.
    let entries = bundle.join("entries.jsonl");
    let original = std::fs::read(&entries).expect("read");
    let mut changed = original.clone();
    changed[20] ^= 0x01;
    std::fs::write(&entries, &changed).expect("write");
    let out = verify(&["--json"]);
    assert_eq!(out.code, 1);
    let v: Value = serde_json::from_str(&out.stdout).expect("json");
    assert!(
        v["report"]["failures"]
            .as_array()
            .expect("failures")
            .contains(&json!("checksum mismatch: entries.jsonl")),
        "{v}"
    );
    std::fs::write(&entries, &original).expect("restore");
    assert_eq!(verify(&[]).code, 0);

    // The key revoked.
    let out = run(cavra()
        .args([
            "trust",
            "revoke",
            "--key-id",
            "evidence-2026",
            "--reason",
            "leaked",
            "--trust-root",
        ])
        .arg(&trust));
    assert_eq!(out.code, 0);
    let out = verify(&[]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("key revoked: evidence-2026"),
        "{}",
        out.stdout
    );

    // A trust root without the key: untrusted.
    let other = keys.path().join("other.json");
    keygen(keys.path(), "someone");
    trust_add(&other, keys.path(), "someone");
    let out = run(cavra()
        .args(["evidence", "verify"])
        .arg(&bundle)
        .arg("--trust-root")
        .arg(&other));
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("untrusted key"), "{}", out.stdout);
}

#[test]
fn unsigned_bundles_need_allow_unsigned() {
    let dir = project_with_decisions();
    let bundle = dir.path().join("unsigned");
    let out = run(cavra()
        .args(["evidence", "bundle", "--output"])
        .arg(&bundle)
        .current_dir(dir.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("UNSIGNED"), "{}", out.stdout);
    // Trust the repository's log key, which signed the checkpoint, under the id it signs with.
    let log_id = out
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("log-"))
        .expect("the log key id is printed")
        .to_string();
    let trust = dir.path().join("trust.json");
    let out = run(cavra()
        .args(["trust", "add", "--trust-root"])
        .arg(&trust)
        .args([
            "--key-id",
            &log_id,
            "--owner",
            "this machine",
            "--valid-from",
            "2020-01-01T00:00:00Z",
            "--public-key",
        ])
        .arg(dir.path().join(".cavra/keys/log.pub")));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(cavra()
        .args(["evidence", "verify"])
        .arg(&bundle)
        .arg("--trust-root")
        .arg(&trust));
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("missing signature: bundle.dsse.json"),
        "{}",
        out.stdout
    );
    let out = run(cavra()
        .args(["evidence", "verify", "--allow-unsigned"])
        .arg(&bundle)
        .arg("--trust-root")
        .arg(&trust));
    assert_eq!(out.code, 0, "{}", out.stdout);
    // Writing over a non-empty folder is refused; nothing half-written is left on failure.
    let out = run(cavra()
        .args(["evidence", "bundle", "--output"])
        .arg(&bundle)
        .current_dir(dir.path()));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("not empty"), "{}", out.stderr);
    let out = run(cavra()
        .args([
            "evidence",
            "bundle",
            "--session",
            "no-such-session",
            "--output",
        ])
        .arg(dir.path().join("empty"))
        .current_dir(dir.path()));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no log entries match"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("empty").exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn exports_for_siems() {
    let dir = project_with_decisions();
    for (format, needle) in [
        ("jsonl", "\"kind\":\"decision\""),
        ("splunk-hec", "\"sourcetype\":\"cavra:decision\""),
        ("ocsf", "\"class_uid\":6003"),
    ] {
        let file = dir.path().join(format!("out.{format}"));
        let out = run(cavra()
            .args(["evidence", "export", "--format", format, "--output"])
            .arg(&file)
            .current_dir(dir.path()));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let text = std::fs::read_to_string(&file).expect("export");
        assert_eq!(text.lines().count(), 4, "{format}");
        for line in text.lines() {
            serde_json::from_str::<Value>(line).expect("JSON lines");
        }
        assert!(text.contains(needle), "{format}: {text}");
    }
    let out = run(cavra()
        .args(["evidence", "export", "--format", "xml", "--output", "x"])
        .current_dir(dir.path()));
    assert_eq!(out.code, 2);
}

fn deny_reason(out: &Out) -> String {
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap_or(Value::Null);
    v["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap_or(&out.stderr)
        .to_string()
}

#[test]
fn signed_policies_required_by_the_hook() {
    let dir = project();
    let keys = tempfile::tempdir().expect("keys");
    let key = keygen(keys.path(), "policy-2026");
    let trust = dir.path().join(".cavra/trust-root.json");
    trust_add(&trust, keys.path(), "policy-2026");
    let pack = dir.path().join(".cavra/policy.yaml");
    let ls = || {
        hook(
            dir.path(),
            "Bash",
            json!({"command": "ls"}),
            &["--require-signed-policy"],
        )
    };

    // Unsigned: every call denied, saying why.
    let out = ls();
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        deny_reason(&out).contains("is not signed"),
        "{}",
        deny_reason(&out)
    );

    // Signed by the trusted key: decided normally.
    let signed = run(cavra()
        .args(["policy", "sign"])
        .arg(&pack)
        .arg("--key")
        .arg(&key));
    assert_eq!(signed.code, 0, "{}", signed.stderr);
    let out = ls();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let v = run(cavra()
        .args(["policy", "verify"])
        .arg(&pack)
        .arg("--trust-root")
        .arg(&trust));
    assert_eq!(v.code, 0, "{}", v.stdout);

    // Reformatting keeps the signature; changing what the pack says breaks it.
    let text = std::fs::read_to_string(&pack).expect("pack");
    std::fs::write(&pack, format!("# a comment\n{text}\n\n")).expect("write");
    assert_eq!(ls().code, 0);
    std::fs::write(
        &pack,
        text.replace("terraform apply*", "terraform destroy*"),
    )
    .expect("write");
    let out = ls();
    assert_eq!(out.code, 2);
    assert!(
        deny_reason(&out).contains("changed after it was signed"),
        "{}",
        deny_reason(&out)
    );
    let v = run(cavra()
        .args(["policy", "verify"])
        .arg(&pack)
        .arg("--trust-root")
        .arg(&trust));
    assert_eq!(v.code, 1);
    std::fs::write(&pack, &text).expect("restore");
    assert_eq!(ls().code, 0);

    // The environment can require it too; a revoked key no longer counts.
    let out = run(cavra()
        .args([
            "trust",
            "revoke",
            "--key-id",
            "policy-2026",
            "--reason",
            "rotated out",
            "--trust-root",
        ])
        .arg(&trust));
    assert_eq!(out.code, 0);
    let payload = json!({"session_id": "s", "cwd": dir.path().to_string_lossy(), "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}, "tool_use_id": "t"});
    let out = run(cavra()
        .args(["hook", "claude-code"])
        .env("CAVRA_REQUIRE_SIGNED_POLICY", "1")
        .current_dir(dir.path())
        .write_stdin(payload.to_string()));
    assert_eq!(out.code, 2);
    assert!(
        deny_reason(&out).contains("key revoked"),
        "{}",
        deny_reason(&out)
    );

    // A pack that says so requires it, whatever the flags.
    let requiring = text.replace(
        "version: 1.0.0}",
        "version: 1.0.0, require_signature: true}",
    );
    assert_ne!(requiring, text);
    std::fs::write(&pack, requiring).expect("write");
    let out = run(cavra()
        .args(["hook", "claude-code"])
        .current_dir(dir.path())
        .write_stdin(payload.to_string()));
    assert_eq!(out.code, 2, "{}", out.stdout);
}

#[test]
fn air_gapped_trust_package() {
    let outside = tempfile::tempdir().expect("outside");
    let key = keygen(outside.path(), "release");
    let trust = outside.path().join("trust.json");
    trust_add(&trust, outside.path(), "release");
    let pack = outside.path().join("team.yaml");
    std::fs::write(&pack, support::HOOK_POLICY).expect("pack");
    assert_eq!(
        run(cavra()
            .args(["policy", "sign"])
            .arg(&pack)
            .arg("--key")
            .arg(&key))
        .code,
        0
    );
    let package = outside.path().join("trust-package.json");
    let out = run(cavra()
        .args(["trust", "export", "--trust-root"])
        .arg(&trust)
        .arg("--policy")
        .arg(&pack)
        .arg("--sign-key")
        .arg(&key)
        .arg("--output")
        .arg(&package));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let fingerprint = {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&trust).expect("t")).expect("json");
        v["keys"][0]["fingerprint"]
            .as_str()
            .expect("fp")
            .to_string()
    };

    let inside = tempfile::tempdir().expect("inside");
    let local_trust = inside.path().join("trust.json");
    // Without an anchor the package is not trusted.
    let out = run(cavra()
        .args(["trust", "import"])
        .arg(&package)
        .arg("--trust-root")
        .arg(&local_trust));
    assert_eq!(out.code, 2, "{}", out.stderr);
    // A wrong fingerprint is refused.
    let out = run(cavra()
        .args(["trust", "import"])
        .arg(&package)
        .args(["--fingerprint", "sha256:0000"])
        .arg("--trust-root")
        .arg(&local_trust));
    assert_eq!(out.code, 1);
    // A tampered package is refused.
    let tampered = inside.path().join("tampered.json");
    let text = std::fs::read_to_string(&package).expect("package");
    let env: Value = serde_json::from_str(&text).expect("json");
    let payload = base64_decode(env["payload"].as_str().expect("payload"));
    let forged_payload = String::from_utf8(payload)
        .expect("utf8")
        .replace("commands", "commandz");
    let mut forged = env.clone();
    forged["payload"] = json!(base64_encode(forged_payload.as_bytes()));
    std::fs::write(&tampered, forged.to_string()).expect("write");
    let out = run(cavra()
        .args(["trust", "import"])
        .arg(&tampered)
        .args(["--fingerprint", &fingerprint])
        .arg("--trust-root")
        .arg(&local_trust));
    assert_eq!(out.code, 1, "{}", out.stdout);
    // The real one, anchored by the fingerprint told out of band.
    let policies = inside.path().join("policies");
    let out = run(cavra()
        .args(["trust", "import"])
        .arg(&package)
        .args(["--fingerprint", &fingerprint])
        .arg("--trust-root")
        .arg(&local_trust)
        .arg("--policies-dir")
        .arg(&policies));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = run(cavra()
        .args(["policy", "verify"])
        .arg(policies.join("team.yaml"))
        .arg("--trust-root")
        .arg(&local_trust));
    assert_eq!(v.code, 0, "{}", v.stdout);
}

fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = A.iter().position(|&a| a == c).expect("base64") as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    out
}

fn base64_encode(b: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                s.push(A[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[test]
fn inclusion_and_consistency_proofs_checked_offline() {
    let dir = project_with_decisions();
    let out = run(cavra()
        .args(["evidence", "checkpoint"])
        .current_dir(dir.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("checkpoint: 4 entries"),
        "{}",
        out.stdout
    );
    let log_id = out
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("log-"))
        .expect("key id")
        .to_string();
    hook(dir.path(), "Bash", json!({"command": "ls src"}), &[]);
    hook(dir.path(), "Bash", json!({"command": "git status"}), &[]);
    let trust = dir.path().join("trust.json");
    let added = run(cavra()
        .args(["trust", "add", "--trust-root"])
        .arg(&trust)
        .args([
            "--key-id",
            &log_id,
            "--owner",
            "me",
            "--valid-from",
            "2020-01-01T00:00:00Z",
            "--public-key",
        ])
        .arg(dir.path().join(".cavra/keys/log.pub")));
    assert_eq!(added.code, 0, "{}", added.stderr);
    let check = |file: &Path| {
        run(cavra()
            .args(["evidence", "check-proof"])
            .arg(file)
            .arg("--trust-root")
            .arg(&trust))
    };

    let inclusion = dir.path().join("inclusion.json");
    let out = run(cavra()
        .args(["evidence", "prove", "--index", "2", "--output"])
        .arg(&inclusion)
        .current_dir(dir.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = check(&inclusion);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("entry 2 is in log"), "{}", out.stdout);
    // The entry changed (terraform → terrafork): not in the signed tree.
    let text = std::fs::read_to_string(&inclusion).expect("proof");
    let mut v: Value = serde_json::from_str(&text).expect("json");
    let entry = v["entry"]
        .as_str()
        .expect("entry")
        .replace("terraform", "terrafork");
    assert_ne!(entry, v["entry"].as_str().expect("entry"));
    v["entry"] = json!(entry);
    std::fs::write(&inclusion, v.to_string()).expect("write");
    let out = check(&inclusion);
    assert_eq!(out.code, 1, "{}", out.stdout);

    let consistency = dir.path().join("consistency.json");
    let out = run(cavra()
        .args(["evidence", "consistency", "--from", "4", "--output"])
        .arg(&consistency)
        .current_dir(dir.path()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = check(&consistency);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stdout.contains("extends the tree of 4"),
        "{}",
        out.stdout
    );
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(&consistency).expect("p")).expect("json");
    let h = v["hashes"][0].as_str().expect("hash").to_string();
    let flipped = format!("{}{}", if h.starts_with('0') { "1" } else { "0" }, &h[1..]);
    v["hashes"][0] = json!(flipped);
    std::fs::write(&consistency, v.to_string()).expect("write");
    assert_eq!(check(&consistency).code, 1);
    // No checkpoint of that size: said so.
    let out = run(cavra()
        .args(["evidence", "consistency", "--from", "3"])
        .current_dir(dir.path()));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no signed checkpoint of size 3"),
        "{}",
        out.stderr
    );
}

//! The example pipelines under examples/ are run, command by command, against a real scratch
//! repository set up as the README says (`cavra init claude-code`, the pack it writes, a key
//! from `cavra keys generate` in the committed trust root): an agent session through the hook,
//! its signed bundle, the commits. A governed change passes; a change made by hand fails,
//! naming its path. Steps that install cavra or call other actions (`uses:`) are what the test
//! stands in for.

mod support;

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::{command as cavra, git, ok};

/// A service configuration for a test bed: the gate does not ask for recorded tenant and
/// runtime validations (tests/tenant_validation.rs in cavra-server proves those).
fn no_validations(dir: &Path) -> PathBuf {
    let path = dir.join("cavra-server.yaml");
    std::fs::write(&path, "readiness:\n  require_validations: false\n").expect("config");
    path
}

struct Scratch {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    temp: PathBuf,
    key_pem: String,
    trust_json: String,
    base: String,
}

/// main: `cavra init claude-code` (the default pack, signed), the trust root; agent: a
/// governed write and the session's bundle in cavra-evidence/ (the CI artifact; ignored by
/// git), committed.
fn scratch() -> Scratch {
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path().join("repo");
    let temp = tmp.path().join("runner-temp");
    let keys = tmp.path().join("keys");
    std::fs::create_dir_all(repo.join(".cavra")).expect("mkdir");
    std::fs::create_dir_all(&temp).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    support::key_pair(&keys, "ci-2026");
    let trust = repo.join(".cavra/trust-root.json");
    support::trust_key(&trust, &keys.join("ci-2026.pub"), "ci-2026", "ci");
    ok(cavra().args(["init", "claude-code"]).current_dir(&repo));
    ok(cavra()
        .args(["policy", "sign"])
        .arg(repo.join(".cavra/policy.yaml"))
        .arg("--key")
        .arg(keys.join("ci-2026.key")));
    std::fs::write(
        repo.join(".gitignore"),
        "cavra-evidence/\ncavra.sarif\ncavra-*.xml\ncavra-*.json\ngl-*.json\n",
    )
    .expect("ignore");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    let base = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["checkout", "-q", "-b", "agent"]);
    let file = repo.join("src/app.rs");
    let input = json!({"file_path": file.to_string_lossy(), "content": "fn main() {}\n"});
    for event in ["PreToolUse", "PostToolUse"] {
        if event == "PostToolUse" {
            std::fs::create_dir_all(repo.join("src")).expect("mkdir");
            std::fs::write(&file, "fn main() {}\n").expect("write");
        }
        let payload = support::claude_call(&repo, "s1", event, "Write", input.clone(), "t1");
        ok(cavra()
            .args(["hook", "claude-code"])
            .current_dir(&repo)
            .write_stdin(payload.to_string()));
    }
    ok(cavra()
        .args([
            "evidence",
            "bundle",
            "--session",
            "s1",
            "--output",
            "cavra-evidence",
            "--sign-key",
        ])
        .arg(keys.join("ci-2026.key"))
        .current_dir(&repo));
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "agent work"]);
    Scratch {
        key_pem: std::fs::read_to_string(keys.join("ci-2026.key")).expect("key"),
        trust_json: std::fs::read_to_string(&trust).expect("trust"),
        repo,
        temp,
        base,
        _tmp: tmp,
    }
}

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(support::workspace().join(path)).expect("example");
    serde_saphyr::from_str(&text).expect("the example is valid YAML")
}

/// Runs shell steps the way the CI runner would (bash -e), carrying $GITHUB_ENV forward.
/// Returns the exit code of each step and what the last step printed.
fn run_steps(s: &Scratch, env: &BTreeMap<String, String>, steps: &[String]) -> (Vec<i32>, String) {
    let path = support::path_with_cavra();
    let github_env = s.temp.join("github-env");
    std::fs::write(&github_env, "").expect("env file");
    let mut env = env.clone();
    let mut codes = Vec::new();
    let mut last = String::new();
    for script in steps {
        let out = std::process::Command::new("bash")
            .args(["-e", "-o", "pipefail", "-c", script])
            .current_dir(&s.repo)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", s.temp.to_string_lossy().as_ref())
            .env("RUNNER_TEMP", &s.temp)
            .env("GITHUB_ENV", &github_env)
            .env("GITHUB_OUTPUT", s.temp.join("github-output"))
            .env("GITHUB_STEP_SUMMARY", s.temp.join("summary.md"))
            .envs(&env)
            .output()
            .expect("bash");
        let code = out.status.code().unwrap_or(-1);
        if code != 0 {
            eprintln!(
                "step failed ({code}): {script}\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        codes.push(code);
        last = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for line in std::fs::read_to_string(&github_env)
            .unwrap_or_default()
            .lines()
        {
            if let Some((k, v)) = line.split_once('=') {
                env.insert(k.to_string(), v.to_string());
            }
        }
    }
    (codes, last)
}

/// The `run:` steps of a GitHub job (not the install step, not `uses:` steps) and its env,
/// with `${{ … }}` values supplied by the test.
fn github_job(
    path: &str,
    supplied: &BTreeMap<&str, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let doc = yaml(path);
    let job = &doc["jobs"]["cavra"];
    let mut env = BTreeMap::new();
    for (k, v) in job["env"].as_object().expect("job env") {
        let v = v.as_str().expect("env value").to_string();
        let value = if v.contains("${{") {
            supplied
                .get(k.as_str())
                .cloned()
                .unwrap_or_else(|| panic!("the test must supply {k}"))
        } else {
            v.clone()
        };
        assert!(
            !value.contains("BEGIN PRIVATE KEY") || v.contains("secrets."),
            "{k}: keys only from secrets"
        );
        env.insert(k.clone(), value);
    }
    let steps = job["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter(|s| s.get("uses").is_none() && s["id"] != "install")
        .map(|s| s["run"].as_str().expect("run").to_string())
        .collect();
    (env, steps)
}

#[test]
fn github_required_check() {
    let s = scratch();
    let head = git(&s.repo, &["rev-parse", "HEAD"]);
    let supplied = BTreeMap::from([
        ("BASE_SHA", s.base.clone()),
        ("HEAD_SHA", head),
        ("CAVRA_CI_SIGNING_KEY", s.key_pem.clone()),
    ]);
    let (env, steps) = github_job(
        "examples/github-actions/cavra-required-check.yml",
        &supplied,
    );
    assert!(steps.len() >= 3);
    let (codes, _) = run_steps(&s, &env, &steps);
    assert!(codes.iter().all(|&c| c == 0), "{codes:?}");
    assert!(s.repo.join("cavra-attestation.json").exists());
    let sarif: Value =
        serde_json::from_str(&std::fs::read_to_string(s.repo.join("cavra.sarif")).expect("sarif"))
            .expect("json");
    assert_eq!(sarif["version"], "2.1.0");
    // A change made by hand fails the gate (the last step).
    std::fs::write(s.repo.join("by-hand.txt"), "x\n").expect("write");
    git(&s.repo, &["add", "-A"]);
    git(&s.repo, &["commit", "-q", "-m", "by hand"]);
    let head = git(&s.repo, &["rev-parse", "HEAD"]);
    let supplied = BTreeMap::from([
        ("BASE_SHA", s.base.clone()),
        ("HEAD_SHA", head),
        ("CAVRA_CI_SIGNING_KEY", s.key_pem.clone()),
    ]);
    let (env, steps) = github_job(
        "examples/github-actions/cavra-required-check.yml",
        &supplied,
    );
    let (codes, gate) = run_steps(&s, &env, &steps);
    assert_ne!(*codes.last().expect("gate"), 0, "{codes:?}");
    assert!(gate.contains("by-hand.txt"), "{gate}");
}

/// Commits a change made without the agent (no hook call, no evidence).
fn hand_made_change(s: &Scratch) -> String {
    std::fs::write(s.repo.join("by-hand.txt"), "x\n").expect("write");
    git(&s.repo, &["add", "-A"]);
    git(&s.repo, &["commit", "-q", "-m", "by hand"]);
    git(&s.repo, &["rev-parse", "HEAD"])
}

#[test]
fn github_enterprise_enforcement() {
    let s = scratch();
    let head = git(&s.repo, &["rev-parse", "HEAD"]);
    let supplied = BTreeMap::from([
        ("BASE_SHA", s.base.clone()),
        ("HEAD_SHA", head),
        ("CAVRA_TRUST_ROOT_JSON", s.trust_json.clone()),
        ("CAVRA_CI_SIGNING_KEY", s.key_pem.clone()),
    ]);
    let (env, steps) = github_job(
        "examples/github-actions/cavra-enterprise-enforcement.yml",
        &supplied,
    );
    let (codes, _) = run_steps(&s, &env, &steps);
    assert!(codes.iter().all(|&c| c == 0), "{codes:?}");
    assert!(s.repo.join("cavra-attestation.json").exists());
    // A change made by hand fails the gate, naming the path.
    let head = hand_made_change(&s);
    let supplied = BTreeMap::from([
        ("BASE_SHA", s.base.clone()),
        ("HEAD_SHA", head),
        ("CAVRA_TRUST_ROOT_JSON", s.trust_json.clone()),
        ("CAVRA_CI_SIGNING_KEY", s.key_pem.clone()),
    ]);
    let (env, steps) = github_job(
        "examples/github-actions/cavra-enterprise-enforcement.yml",
        &supplied,
    );
    let (codes, gate) = run_steps(&s, &env, &steps);
    assert_ne!(*codes.last().expect("gate"), 0, "{codes:?}");
    assert!(gate.contains("by-hand.txt"), "{gate}");
    // The written key file is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.temp.join("ci-2026.key"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0);
}

#[test]
fn gitlab_required_check() {
    let s = scratch();
    let doc = yaml("examples/gitlab-ci/cavra-required-check.gitlab-ci.yml");
    let job = &doc["cavra-check"];
    let mut env: BTreeMap<String, String> = job["variables"]
        .as_object()
        .expect("variables")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("value").to_string()))
        .collect();
    // A File-type CI/CD variable: GitLab hands the job the path of a file holding the key.
    let key_file = s.temp.join("ci-signing-key");
    std::fs::write(&key_file, &s.key_pem).expect("key");
    // Private, as a runner keeps a secret file (cavra refuses a key others can read).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    env.insert(
        "CAVRA_CI_SIGNING_KEY".into(),
        key_file.to_string_lossy().into_owned(),
    );
    env.insert("CI_MERGE_REQUEST_DIFF_BASE_SHA".into(), s.base.clone());
    env.insert("CI_COMMIT_SHA".into(), git(&s.repo, &["rev-parse", "HEAD"]));
    let steps: Vec<String> = job["script"]
        .as_array()
        .expect("script")
        .iter()
        .map(|l| l.as_str().expect("line").to_string())
        .collect();
    let (codes, _) = run_steps(&s, &env, &steps);
    assert!(codes.iter().all(|&c| c == 0), "{codes:?}");
    for report in job["artifacts"]["reports"]
        .as_object()
        .expect("reports")
        .values()
    {
        let file = s.repo.join(report.as_str().expect("path"));
        assert!(file.exists(), "{} not written", file.display());
    }
    let xml = std::fs::read_to_string(s.repo.join("cavra-junit.xml")).expect("junit");
    roxmltree::Document::parse(&xml).expect("well-formed JUnit");
    // A change made by hand fails the gate, naming the path.
    env.insert("CI_COMMIT_SHA".into(), hand_made_change(&s));
    let (codes, gate) = run_steps(&s, &env, &steps);
    assert_ne!(*codes.last().expect("gate"), 0, "{codes:?}");
    assert!(gate.contains("by-hand.txt"), "{gate}");
}

/// The operator's side: a service database with tenant `acme` (nothing in the way), its
/// readiness packet and its AISPM review packet signed with the trusted key, under review/.
fn review_packets(s: &Scratch) {
    let key = s.temp.join("ci-2026.key");
    std::fs::write(&key, &s.key_pem).expect("key");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let db = format!("sqlite://{}", s.temp.join("server.db").display());
    ok(cavra().args(["db", "migrate", "--database-url", &db]));
    ok(cavra().args(["tenant", "create", "acme", "--database-url", &db]));
    std::fs::create_dir_all(s.repo.join("review")).expect("mkdir");
    ok(cavra()
        .args(["readiness", "--tenant", "acme", "--database-url", &db])
        .env("CAVRA_SERVER_CONFIG", no_validations(&s.temp))
        .args([
            "--packet",
            "review/cavra-readiness-packet.json",
            "--sign-key",
        ])
        .arg(&key)
        .current_dir(&s.repo));
    ok(cavra()
        .args([
            "aispm",
            "packet",
            "create",
            "--tenant",
            "acme",
            "--database-url",
            &db,
        ])
        .env("CAVRA_SERVER_CONFIG", no_validations(&s.temp))
        .args([
            "--period",
            "30d",
            "--output",
            "review/cavra-aispm-review-packet.json",
        ])
        .arg("--sign-key")
        .arg(&key)
        .current_dir(&s.repo));
}

/// Changes one byte of the signed payload of `file` (still valid base64 and JSON).
fn tamper(file: &Path) {
    let text = std::fs::read_to_string(file).expect("packet");
    let mut env: Value = serde_json::from_str(&text).expect("json");
    let mut payload = env["payload"]
        .as_str()
        .expect("payload")
        .as_bytes()
        .to_vec();
    let i = payload.len() / 2;
    payload[i] = if payload[i] == b'A' { b'B' } else { b'A' };
    env["payload"] = String::from_utf8(payload).expect("ascii").into();
    std::fs::write(file, env.to_string()).expect("write");
}

#[test]
fn github_aispm_review_packet_validation() {
    let s = scratch();
    review_packets(&s);
    let path = "examples/github-actions/cavra-aispm-review-packet-validation.yml";
    let supplied = BTreeMap::from([("CAVRA_TRUST_ROOT_JSON", s.trust_json.clone())]);
    let (env, steps) = github_job(path, &supplied);
    assert_eq!(steps.len(), 3, "{steps:?}");
    let (codes, last) = run_steps(&s, &env, &steps);
    assert!(codes.iter().all(|&c| c == 0), "{codes:?} {last}");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(s.repo.join("cavra-review-verify.json")).expect("report"),
    )
    .expect("json");
    assert_eq!(report["verified"], true, "{report}");
    // A packet changed after signing fails its step, naming the reason.
    tamper(&s.repo.join("review/cavra-aispm-review-packet.json"));
    let (codes, last) = run_steps(&s, &env, &steps);
    assert_eq!(codes[..2], [0, 0], "{codes:?}");
    assert_ne!(codes[2], 0, "{codes:?}");
    assert!(last.contains("\"reason\": \"tampered\""), "{last}");
}

#[test]
fn gitlab_aispm_review_packet_validation() {
    let s = scratch();
    review_packets(&s);
    let doc = yaml("examples/gitlab-ci/cavra-aispm-review-packet-validation.gitlab-ci.yml");
    let job = &doc["cavra-review-packet"];
    let env: BTreeMap<String, String> = job["variables"]
        .as_object()
        .expect("variables")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("value").to_string()))
        .collect();
    let steps: Vec<String> = job["script"]
        .as_array()
        .expect("script")
        .iter()
        .map(|l| l.as_str().expect("line").to_string())
        .collect();
    let (codes, last) = run_steps(&s, &env, &steps);
    assert!(codes.iter().all(|&c| c == 0), "{codes:?} {last}");
    for artifact in job["artifacts"]["paths"].as_array().expect("paths") {
        let file = s.repo.join(artifact.as_str().expect("path"));
        assert!(file.exists(), "{} not written", file.display());
    }
    // A packet older than CAVRA_PACKET_MAX_AGE is stale.
    let mut env = env;
    env.insert("CAVRA_PACKET_MAX_AGE".into(), "1s".into());
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (codes, last) = run_steps(&s, &env, &steps);
    assert_ne!(codes[0], 0, "{codes:?}");
    assert!(last.contains("\"reason\": \"stale\""), "{last}");
    // A readiness packet signed by a key the trust root does not hold is refused.
    let other = s.temp.join("other");
    ok(cavra()
        .args(["keys", "generate", "--key-id", "other", "--output"])
        .arg(&other));
    let db = format!("sqlite://{}", s.temp.join("server.db").display());
    ok(cavra()
        .args(["readiness", "--tenant", "acme", "--database-url", &db])
        .env("CAVRA_SERVER_CONFIG", no_validations(&s.temp))
        .args([
            "--packet",
            "review/cavra-readiness-packet.json",
            "--sign-key",
        ])
        .arg(other.join("other.key"))
        .current_dir(&s.repo));
    env.insert("CAVRA_PACKET_MAX_AGE".into(), "35d".into());
    let (codes, _) = run_steps(&s, &env, &steps[..1]);
    assert_eq!(codes, [1]);
    let report = std::fs::read_to_string(s.repo.join("cavra-readiness-verify.json")).expect("r");
    assert!(report.contains("\"reason\": \"untrusted_key\""), "{report}");
}

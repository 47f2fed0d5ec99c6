//! Real Codex (`@openai/codex`) and real Gemini CLI (`@google/gemini-cli`), governed by cavra,
//! end to end — both pinned in tests/agents/node/package-lock.json and installed by
//! scripts/test with `npm ci`.
//!
//! Each runs headless (`codex exec`, `gemini -p`) in a scratch repository set up with
//! `cavra init codex` / `cavra init gemini`. Its model is cavra-validate's stand-in on loopback
//! (Codex: a custom model provider whose `base_url` is the stand-in, speaking the Responses
//! API; Gemini CLI: `GOOGLE_GEMINI_BASE_URL`), answering each turn with the next scripted tool
//! call, then a final text; every proxy variable points at a closed loopback port, so the test
//! reaches nothing but loopback.
//!
//! Checked three ways: on disk (the allowed write happened, the denied ones did not), in
//! cavra's records, and in what the model was sent back (cavra's reason, never the secret).
//!
//! Codex: `exec_command` is its shell tool here (with the fallback model metadata of a custom
//! provider it offers no `apply_patch`). Gemini CLI: `--model` is named, so no model router asks
//! the stand-in side questions.

mod support;

use cavra_validate::standin::{StandIn, ToolCall, Wire};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use support::agents::{codex_binary, gemini_entry};
use support::text;

const SECRET: &str = "API_TOKEN=e2e-secret-do-not-read";

/// A scratch repository with a secret, a workflow folder and a README, under `root/repo`,
/// with cavra's hooks for `agent`; returns (repo, home, PATH).
fn project(root: &Path, agent: &str) -> (PathBuf, PathBuf, String) {
    let repo = root.join("repo");
    let home = root.join("home");
    for d in [
        repo.join(".github/workflows"),
        home.clone(),
        root.join("run"),
    ] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let repo = repo.canonicalize().expect("canonical");
    support::git(&repo, &["init", "-q"]);
    std::fs::write(repo.join(".env"), format!("{SECRET}\n")).expect(".env");
    std::fs::write(repo.join("prod.tfvars"), format!("{SECRET}\n")).expect("tfvars");
    std::fs::write(repo.join("README.md"), "# project\n").expect("readme");
    let path = support::path_with_cavra();
    support::ok(cavra(&repo, &home, &path).args(["init", agent]));
    (repo, home, path)
}

fn cavra(repo: &Path, home: &Path, path: &str) -> Command {
    let mut cmd = Command::new(support::cavra_bin());
    sandboxed(&mut cmd, repo, home, path);
    cmd
}

/// The environment every process of a run shares: the scratch home, PATH with cavra, and
/// every proxy at a closed loopback port.
fn sandboxed(cmd: &mut Command, repo: &Path, home: &Path, path: &str) {
    support::unset(cmd)
        .current_dir(repo)
        .env("HOME", home)
        .env("PATH", path)
        .env("XDG_RUNTIME_DIR", home.parent().expect("root").join("run"))
        // Gemini CLI writes its error reports to the temporary folder: the scratch one.
        .env("TMPDIR", home.parent().expect("root").join("tmp"))
        .env("CAVRA_HOOK_DAEMON_IDLE_SECS", "10")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("https_proxy", "http://127.0.0.1:9")
        .env("http_proxy", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
}

/// cavra's decisions for the repository: (target, decision) pairs.
fn decisions(repo: &Path, home: &Path, path: &str) -> Vec<(String, String, Value)> {
    let _ = cavra(repo, home, path)
        .args(["hook", "daemon", "stop"])
        .output();
    let out = support::ok(cavra(repo, home, path).args(["decision", "list", "--json"]));
    let list: Value = serde_json::from_str(&out).expect("JSON");
    list.as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|d| {
            (
                d["record"]["target"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                d["decision"].as_str().unwrap_or_default().to_string(),
                d,
            )
        })
        .collect()
}

fn decided(list: &[(String, String, Value)], target_has: &str) -> String {
    list.iter()
        .find(|(t, _, _)| t.contains(target_has))
        .map(|(_, d, _)| d.clone())
        .unwrap_or_else(|| {
            panic!(
                "no decision for {target_has}: {:?}",
                list.iter().map(|(t, d, _)| (t, d)).collect::<Vec<_>>()
            )
        })
}

fn call(name: &str, input: Value) -> ToolCall {
    ToolCall {
        name: name.into(),
        input,
    }
}

#[test]
fn codex_runs_real_commands_through_cavra_hooks() {
    let codex = codex_binary();
    let tmp = tempfile::tempdir().expect("tmp");
    let (repo, home, path) = project(tmp.path(), "codex");
    let stand_in = StandIn::start(
        Wire::OpenAiResponses,
        vec![
            call("exec_command", json!({"cmd": "touch allowed.txt"})),
            call("exec_command", json!({"cmd": "cat .env"})),
            call(
                "exec_command",
                json!({"cmd": "cp README.md .github/workflows/ci.yml"}),
            ),
            call(
                "exec_command",
                json!({"cmd": "terraform apply -auto-approve"}),
            ),
        ],
        Arc::new(|_, _| {}),
    )
    .expect("stand-in");
    // The model provider: the stand-in, speaking the Responses API.
    let codex_home = home.join(".codex");
    std::fs::create_dir_all(&codex_home).expect("mkdir");
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            "model = \"gpt-5\"\nmodel_provider = \"loopback\"\n\n[model_providers.loopback]\nname = \"loopback\"\nbase_url = \"{}/v1\"\nwire_api = \"responses\"\nenv_key = \"LOOPBACK_API_KEY\"\n\n[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
            stand_in.base_url(),
            repo.display()
        ),
    )
    .expect("config.toml");
    let mut cmd = Command::new(&codex);
    sandboxed(&mut cmd, &repo, &home, &path);
    let out = cmd
        .env("CODEX_HOME", &codex_home)
        .env("LOOPBACK_API_KEY", "loopback")
        .args([
            "exec",
            "--json",
            // Trusting the repository's hooks is a person's step in /hooks; a headless run
            // vouches for them with this flag.
            "--dangerously-bypass-hook-trust",
            // The container has no sandbox to give Codex; cavra's hooks are what governs here.
            "--dangerously-bypass-approvals-and-sandbox",
            "Run the steps.",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("codex runs");
    assert!(out.status.success(), "codex exec failed: {}", text(&out));

    // On disk.
    assert!(repo.join("allowed.txt").is_file(), "{}", text(&out));
    assert!(!repo.join(".github/workflows/ci.yml").exists());
    // In cavra's records.
    let list = decisions(&repo, &home, &path);
    assert_eq!(decided(&list, "touch allowed.txt"), "allow");
    assert_eq!(decided(&list, ".env"), "block");
    assert_eq!(decided(&list, ".github/workflows/ci.yml"), "block");
    assert_eq!(decided(&list, "terraform apply"), "block");
    // What the model was sent back: cavra's reasons, and never the secret.
    let sent = serde_json::to_string(&stand_in.requests()).expect("json");
    assert!(sent.contains("cavra"), "{sent}");
    assert!(!sent.contains("e2e-secret"), "the secret reached the model");
    assert!(
        !text(&out).contains("e2e-secret"),
        "the secret reached the output"
    );
}

#[test]
fn gemini_cli_runs_real_tools_through_cavra_hooks() {
    let gemini = gemini_entry();
    let tmp = tempfile::tempdir().expect("tmp");
    let (repo, home, path) = project(tmp.path(), "gemini");
    let root = repo.to_string_lossy().into_owned();
    // Gemini CLI's own set-up: the API-key auth method, this folder trusted, no telemetry.
    std::fs::create_dir_all(home.join(".gemini")).expect("mkdir");
    std::fs::write(
        home.join(".gemini/settings.json"),
        json!({"security": {"auth": {"selectedType": "gemini-api-key"}},
            "privacy": {"usageStatisticsEnabled": false}, "telemetry": {"enabled": false}})
        .to_string(),
    )
    .expect("settings");
    std::fs::write(
        home.join(".gemini/trustedFolders.json"),
        json!({ root.clone(): "TRUST_FOLDER" }).to_string(),
    )
    .expect("trust");
    let stand_in = StandIn::start(
        Wire::Gemini,
        vec![
            call(
                "write_file",
                json!({"file_path": format!("{root}/allowed.txt"), "content": "hello\n"}),
            ),
            call(
                "write_file",
                json!({"file_path": format!("{root}/.github/workflows/ci.yml"), "content": "on: push\n"}),
            ),
            // (Gemini CLI refuses `.env` by itself, before any hook: "Path not in workspace".)
            call("read_file", json!({"file_path": format!("{root}/prod.tfvars")})),
            call(
                "run_shell_command",
                json!({"command": "terraform apply -auto-approve"}),
            ),
        ],
        Arc::new(|_, _| {}),
    )
    .expect("stand-in");
    let mut cmd = Command::new("node");
    sandboxed(&mut cmd, &repo, &home, &path);
    let out = cmd
        .arg(&gemini)
        // A named model: no model router asking the stand-in side questions.
        .args([
            "-p",
            "Run the steps.",
            "--output-format",
            "json",
            "--yolo",
            "--model",
            "gemini-2.5-flash",
        ])
        .env("GEMINI_API_KEY", "loopback")
        .env("GOOGLE_GEMINI_BASE_URL", stand_in.base_url())
        .env("GEMINI_CLI_NO_RELAUNCH", "true")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("gemini runs");
    assert!(out.status.success(), "gemini -p failed: {}", text(&out));

    assert_eq!(
        std::fs::read_to_string(repo.join("allowed.txt")).expect("allowed.txt"),
        "hello\n"
    );
    assert!(!repo.join(".github/workflows/ci.yml").exists());
    let list = decisions(&repo, &home, &path);
    assert_eq!(decided(&list, "allowed.txt"), "allow");
    assert_eq!(decided(&list, ".github/workflows/ci.yml"), "block");
    assert_eq!(decided(&list, "prod.tfvars"), "block");
    assert_eq!(decided(&list, "terraform apply"), "block");
    let sent = serde_json::to_string(&stand_in.requests()).expect("json");
    assert!(sent.contains("cavra"), "{sent}");
    assert!(!sent.contains("e2e-secret"), "the secret reached the model");
}

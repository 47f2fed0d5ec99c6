//! `cavra init <agent>`: a fresh repository, a settings file with other hooks and keys, a
//! second run, `--dry-run`, and `--uninstall` back to the original.

mod support;

use predicates::str::contains;
use serde_json::{Value, json};
use std::path::Path;
use support::{command_in as cavra, marked_repo as repo};

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

fn our_commands(settings: &Value, event: &str) -> Vec<String> {
    settings["hooks"][event]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["hooks"].as_array().cloned().unwrap_or_default())
        .filter_map(|h| h["command"].as_str().map(str::to_string))
        .filter(|c| c.ends_with("cavra-hook claude-code"))
        .collect()
}

/// Everything under the repository except `.git`, as (path, content).
fn snapshot(dir: &Path) -> Vec<(String, String)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(base)
                .expect("prefix")
                .to_string_lossy()
                .into_owned();
            if rel == ".git" {
                continue;
            }
            if path.is_dir() {
                out.push((format!("{rel}/"), String::new()));
                walk(base, &path, out);
            } else {
                out.push((rel, std::fs::read_to_string(&path).unwrap_or_default()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn fresh_repository_then_second_run_then_uninstall() {
    let dir = repo();
    let before = snapshot(dir.path());
    // The test's PATH does not hold the built binaries: init says so.
    cavra(dir.path())
        .args(["init", "claude-code"])
        .env("PATH", "/usr/bin:/bin")
        .assert()
        .success()
        .stdout(contains("created .claude/settings.json"))
        .stdout(contains("created .cavra/policy.yaml"))
        .stderr(contains("`cavra-hook` is not on PATH"));
    let settings = read_json(&dir.path().join(".claude/settings.json"));
    for event in ["PreToolUse", "PostToolUse"] {
        let groups = settings["hooks"][event].as_array().expect("event list");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0]["matcher"], "*");
        assert_eq!(groups[0]["hooks"][0]["type"], "command");
        assert_eq!(groups[0]["hooks"][0]["timeout"], 10);
        assert_eq!(our_commands(&settings, event).len(), 1);
    }
    let policy = std::fs::read_to_string(dir.path().join(".cavra/policy.yaml")).expect("policy");
    assert!(policy.starts_with("# Written by `cavra init` from the built-in pack `claude-code`"));
    // The written policy is valid and the installed hook works with it.
    cavra(dir.path())
        .args(["policy", "validate", ".cavra/policy.yaml"])
        .assert()
        .success();

    // The installed command names the slim client (which asks the repository's hook server)
    // by name, resolved through PATH: the settings are committed and must work on a
    // teammate's machine, in CI and in a cloud agent, where cavra lives elsewhere.
    let command = our_commands(&settings, "PreToolUse").remove(0);
    assert_eq!(command, "cavra-hook claude-code");
    let bin_dir = assert_cmd::cargo::cargo_bin("cavra")
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Run as Claude Code runs it (through the shell, with PATH), it decides with the policy.
    let root = dir.path().to_string_lossy().into_owned();
    let payload = json!({"session_id": "s", "cwd": root, "hook_event_name": "PreToolUse", "tool_name": "Bash",
        "tool_input": {"command": "git push --force origin main"}, "tool_use_id": "t"});
    // The hook server it starts lives in a private folder of this test and is stopped below.
    let runtime = tempfile::tempdir().expect("runtime dir");
    let out = std::process::Command::new("sh")
        .args(["-c", &command])
        .env("PATH", &path)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("CAVRA_HOOK_DAEMON_IDLE_SECS", "5")
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .expect("stdin")
                .write_all(payload.to_string().as_bytes())?;
            c.wait_with_output()
        })
        .expect("hook runs");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cavra(dir.path())
        .args(["hook", "daemon", "stop"])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .assert()
        .success();
    std::fs::remove_dir_all(dir.path().join(".cavra")).ok();
    cavra(dir.path())
        .args(["init", "claude-code"])
        .assert()
        .success();

    // A second run changes nothing.
    let after_first = snapshot(dir.path());
    cavra(dir.path())
        .args(["init", "claude-code"])
        .assert()
        .success()
        .stdout(contains("nothing changed"));
    assert_eq!(snapshot(dir.path()), after_first);

    // Uninstall: back to the original (no settings file, no policy, no empty folders).
    cavra(dir.path())
        .args(["init", "claude-code", "--uninstall"])
        .assert()
        .success();
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn merges_into_existing_settings_and_uninstalls_exactly() {
    let dir = repo();
    let original = json!({
        "model": "claude-sonnet",
        "permissions": {"allow": ["Bash(npm test:*)"], "deny": ["Read(./secrets/**)"]},
        "hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "./scripts/lint-commands.sh"}]}],
            "Stop": [{"hooks": [{"type": "command", "command": "say done"}]}]
        },
        "env": {"FOO": "bar"}
    });
    std::fs::create_dir(dir.path().join(".claude")).expect("dir");
    let original_text = format!(
        "{}\n",
        serde_json::to_string_pretty(&original).expect("json")
    );
    std::fs::write(dir.path().join(".claude/settings.json"), &original_text).expect("write");
    // A policy the user already has is kept.
    std::fs::create_dir(dir.path().join(".cavra")).expect("dir");
    std::fs::write(
        dir.path().join(".cavra/policy.yaml"),
        "metadata: {id: mine, version: 1.0.0}\n",
    )
    .expect("write");

    cavra(dir.path())
        .args(["init", "claude-code"])
        .assert()
        .success()
        .stdout(contains("updated .claude/settings.json"));
    let settings = read_json(&dir.path().join(".claude/settings.json"));
    assert_eq!(settings["model"], "claude-sonnet");
    assert_eq!(settings["permissions"], original["permissions"]);
    assert_eq!(settings["env"], original["env"]);
    assert_eq!(settings["hooks"]["Stop"], original["hooks"]["Stop"]);
    let pre = settings["hooks"]["PreToolUse"].as_array().expect("pre");
    assert_eq!(
        pre[0], original["hooks"]["PreToolUse"][0],
        "the user's hook stays first"
    );
    assert_eq!(pre.len(), 2);
    assert_eq!(our_commands(&settings, "PreToolUse").len(), 1);
    assert_eq!(our_commands(&settings, "PostToolUse").len(), 1);
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".cavra/policy.yaml")).expect("p"),
        "metadata: {id: mine, version: 1.0.0}\n"
    );

    // Idempotent.
    cavra(dir.path())
        .args(["init", "claude-code"])
        .assert()
        .success()
        .stdout(contains("nothing changed"));
    assert_eq!(
        read_json(&dir.path().join(".claude/settings.json")),
        settings
    );

    // Uninstall removes exactly what init added; the user's policy stays.
    cavra(dir.path())
        .args(["init", "claude-code", "--uninstall"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".claude/settings.json")).expect("s"),
        original_text
    );
    assert!(dir.path().join(".cavra/policy.yaml").exists());
}

#[test]
fn dry_run_prints_a_diff_and_changes_nothing() {
    let dir = repo();
    cavra(dir.path())
        .args(["init", "claude-code", "--dry-run"])
        .assert()
        .success()
        .stdout(contains("--- /dev/null\n+++ b/.claude/settings.json"))
        .stdout(contains("+    \"PreToolUse\": ["))
        .stdout(contains("+++ b/.cavra/policy.yaml"));
    assert_eq!(snapshot(dir.path()), Vec::<(String, String)>::new());
    cavra(dir.path())
        .args(["init", "claude-code"])
        .assert()
        .success();
    cavra(dir.path())
        .args(["init", "claude-code", "--dry-run"])
        .assert()
        .success()
        .stdout(contains("nothing to change"));
    cavra(dir.path())
        .args(["init", "claude-code", "--uninstall", "--dry-run"])
        .assert()
        .success()
        .stdout(contains("+++ /dev/null"));
    assert!(dir.path().join(".claude/settings.json").exists());
}

#[test]
fn broken_settings_are_not_overwritten() {
    let dir = repo();
    std::fs::create_dir(dir.path().join(".claude")).expect("dir");
    std::fs::write(dir.path().join(".claude/settings.json"), "{ not json").expect("write");
    cavra(dir.path())
        .args(["init", "claude-code"])
        .assert()
        .failure()
        .stderr(contains("not valid JSON"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".claude/settings.json")).expect("s"),
        "{ not json"
    );
    cavra(dir.path())
        .args(["init", "claude-code", "--pack", "nope"])
        .assert()
        .failure()
        .stderr(contains("no built-in pack `nope`"));
}

#[test]
fn other_agents_install_and_uninstall() {
    for (agent, file, event) in [
        ("codex", ".codex/hooks.json", "PreToolUse"),
        ("gemini", ".gemini/settings.json", "BeforeTool"),
        ("cursor", ".cursor/hooks.json", "beforeShellExecution"),
        ("copilot", ".github/hooks/cavra.json", "preToolUse"),
    ] {
        let dir = repo();
        let init = cavra(dir.path()).args(["init", agent]).assert().success();
        // Codex runs a repository's hooks only once trusted in /hooks: init says so.
        let stderr = String::from_utf8_lossy(&init.get_output().stderr).into_owned();
        assert_eq!(
            stderr.contains("open /hooks and trust"),
            agent == "codex",
            "{agent}: {stderr}"
        );
        let v = read_json(&dir.path().join(file));
        let text = v["hooks"][event].to_string();
        assert!(text.contains(&format!("hook {agent}")), "{agent}: {text}");
        if agent == "cursor" {
            assert_eq!(v["version"], 1);
            for e in [
                "beforeShellExecution",
                "beforeReadFile",
                "beforeMCPExecution",
                "preToolUse",
            ] {
                assert_eq!(v["hooks"][e][0]["failClosed"], true, "{e}");
            }
        }
        if agent == "copilot" {
            assert_eq!(v["hooks"]["preToolUse"][0]["timeoutSec"], 10);
        }
        cavra(dir.path())
            .args(["init", agent])
            .assert()
            .success()
            .stdout(contains("nothing changed"));
        cavra(dir.path())
            .args(["init", agent, "--uninstall"])
            .assert()
            .success();
        assert!(
            !dir.path().join(file).exists(),
            "{agent}: {file} left behind"
        );
        assert!(
            !dir.path().join(".cavra").exists(),
            "{agent}: .cavra left behind"
        );
    }
}

#[test]
fn wrap_mcp_puts_every_stdio_server_behind_the_proxy_and_uninstall_restores_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join(".git")).expect(".git");
    let original = serde_json::json!({"mcpServers": {
        "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"], "env": {"DEBUG": "1"}},
        "plain": {"command": "my-server"},
        "remote": {"type": "http", "url": "https://mcp.example/mcp"}
    }});
    let text = serde_json::to_string_pretty(&original).expect("json") + "\n";
    std::fs::write(dir.path().join(".mcp.json"), &text).expect("write");
    let run = |args: &[&str]| {
        let out = assert_cmd::Command::cargo_bin("cavra")
            .expect("cavra")
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let notes = run(&["init", "claude-code", "--wrap-mcp"]);
    assert!(notes.contains("`remote` is reached by URL"), "{notes}");
    let wrapped: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(".mcp.json")).expect("read"))
            .expect("json");
    let files = &wrapped["mcpServers"]["files"];
    // Found through PATH wherever the committed file is checked out, never this machine's
    // absolute path.
    assert_eq!(files["command"], "cavra");
    assert_eq!(
        files["args"],
        serde_json::json!([
            "mcp",
            "proxy",
            "--server-name",
            "files",
            "--",
            "npx",
            "-y",
            "@modelcontextprotocol/server-filesystem",
            "/tmp"
        ])
    );
    assert_eq!(files["env"], serde_json::json!({"DEBUG": "1"}));
    assert_eq!(
        wrapped["mcpServers"]["plain"]["args"],
        serde_json::json!(["mcp", "proxy", "--server-name", "plain", "--", "my-server"])
    );
    assert_eq!(
        wrapped["mcpServers"]["remote"],
        original["mcpServers"]["remote"]
    );
    // Idempotent.
    run(&["init", "claude-code", "--wrap-mcp"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(dir.path().join(".mcp.json")).expect("read")
        )
        .expect("json"),
        wrapped
    );
    run(&["init", "claude-code", "--uninstall"]);
    let restored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join(".mcp.json")).expect("read"))
            .expect("json");
    assert_eq!(restored, original);
}

#[test]
fn daemon_flag_is_added_upgraded_in_place_and_opted_out() {
    let dir = repo();
    let settings = dir.path().join(".claude/settings.json");
    let commands = |event: &str| -> Vec<String> {
        read_json(&settings)["hooks"][event]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["hooks"].as_array().cloned().unwrap_or_default())
            .filter_map(|h| h["command"].as_str().map(str::to_string))
            .collect()
    };
    // An older init registered the hook without --daemon (as --no-daemon still does).
    cavra(dir.path())
        .args(["init", "claude-code", "--no-daemon"])
        .assert()
        .success();
    let old = commands("PreToolUse");
    assert_eq!(old.len(), 1);
    assert!(old[0].ends_with(" hook claude-code"), "{old:?}");
    // A flag a person added to our entry is kept through the upgrade.
    let text = std::fs::read_to_string(&settings).expect("read");
    std::fs::write(
        &settings,
        text.replacen(
            "hook claude-code\"",
            "hook claude-code --approval-mode store\"",
            1,
        ),
    )
    .expect("write");

    // A cavra without the slim client beside it registers `cavra hook … --daemon`, upgrading
    // our entries in place: no second entry, the person's option kept.
    let alone = tempfile::tempdir().expect("temp dir");
    let lone_cavra = alone.path().join("cavra");
    std::fs::copy(assert_cmd::cargo::cargo_bin("cavra"), &lone_cavra).expect("copy cavra");
    let lone = |args: &[&str]| {
        let out = support::spawn_copied(
            std::process::Command::new(&lone_cavra)
                .args(args)
                .current_dir(dir.path())
                .env_remove("CAVRA_POLICY")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped()),
        )
        .and_then(|c| c.wait_with_output())
        .expect("runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    lone(&["init", "claude-code"]);
    let pre = commands("PreToolUse");
    assert_eq!(pre.len(), 1, "{pre:?}");
    // The program stays the one the entry named; the option a person added stays.
    assert_eq!(pre[0], format!("{} --approval-mode store --daemon", old[0]));
    let post = commands("PostToolUse");
    assert_eq!(post.len(), 1, "{post:?}");
    assert!(
        post[0].ends_with("cavra hook claude-code --daemon"),
        "{post:?}"
    );
    assert!(lone(&["init", "claude-code"]).contains("nothing changed"));

    // With the slim client beside cavra, init moves our entries to it, still in place.
    cavra(dir.path())
        .args(["init", "claude-code"])
        .assert()
        .success();
    let pre = commands("PreToolUse");
    assert_eq!(pre.len(), 1, "{pre:?}");
    assert!(
        pre[0].ends_with("cavra-hook claude-code --approval-mode store"),
        "{pre:?}"
    );
    let post = commands("PostToolUse");
    assert_eq!(post.len(), 1, "{post:?}");
    assert!(post[0].ends_with("cavra-hook claude-code"), "{post:?}");
    // Idempotent.
    let after = snapshot(dir.path());
    cavra(dir.path())
        .args(["init", "claude-code"])
        .assert()
        .success()
        .stdout(contains("nothing changed"));
    assert_eq!(snapshot(dir.path()), after);

    // --no-daemon takes the flag off again, and keeps the rest.
    cavra(dir.path())
        .args(["init", "claude-code", "--no-daemon"])
        .assert()
        .success();
    assert!(
        commands("PreToolUse")[0].ends_with("cavra hook claude-code --approval-mode store"),
        "{:?}",
        commands("PreToolUse")
    );
    assert!(commands("PostToolUse")[0].ends_with("cavra hook claude-code"));

    // Other agents get --daemon too; uninstall removes exactly what was added.
    for agent in ["codex", "gemini", "cursor", "copilot"] {
        cavra(dir.path()).args(["init", agent]).assert().success();
    }
    let cursor = read_json(&dir.path().join(".cursor/hooks.json"));
    assert!(
        cursor["hooks"]["preToolUse"][0]["command"]
            .as_str()
            .is_some_and(|c| c.ends_with("cavra-hook cursor")),
        "{cursor}"
    );
    let copilot = read_json(&dir.path().join(".github/hooks/cavra.json"));
    assert!(
        copilot["hooks"]["preToolUse"][0]["bash"]
            .as_str()
            .is_some_and(|c| c.ends_with("cavra-hook copilot")),
        "{copilot}"
    );
    for agent in ["claude-code", "codex", "gemini", "cursor", "copilot"] {
        cavra(dir.path())
            .args(["init", agent, "--uninstall"])
            .assert()
            .success();
    }
    assert!(!settings.exists());
    assert!(!dir.path().join(".cursor/hooks.json").exists());
}

/// `.cavra/.gitignore` exists right after init, before any hook call, and keeps the store,
/// keys and evidence bundles out of git.
#[test]
fn init_writes_the_gitignore_at_once() {
    let dir = repo();
    cavra(dir.path())
        .args(["init", "claude-code"])
        .assert()
        .success()
        .stdout(contains("created .cavra/.gitignore"));
    let ignore = std::fs::read_to_string(dir.path().join(".cavra/.gitignore")).expect("ignore");
    for p in [
        "cavra.db",
        "cavra.db-wal",
        "cavra.db-shm",
        "keys/",
        "evidence/",
    ] {
        assert!(ignore.lines().any(|l| l == p), "{p} missing: {ignore}");
    }
    // An older, incomplete one is completed, not replaced.
    std::fs::write(dir.path().join(".cavra/.gitignore"), "# mine\ncavra.db\n").expect("older");
    cavra(dir.path())
        .args(["init", "claude-code"])
        .assert()
        .success()
        .stdout(contains("updated .cavra/.gitignore"));
    let ignore = std::fs::read_to_string(dir.path().join(".cavra/.gitignore")).expect("ignore");
    assert!(ignore.starts_with("# mine\ncavra.db\n"), "{ignore}");
    assert!(ignore.lines().any(|l| l == "evidence/"), "{ignore}");
}

/// Uninstalling one agent keeps what the others still use; the last one, or `--all`, takes
/// the shared parts too.
#[test]
fn uninstall_keeps_shared_parts_while_another_agent_uses_them() {
    let dir = repo();
    let before = snapshot(dir.path());
    for agent in ["claude-code", "codex", "cursor"] {
        cavra(dir.path()).args(["init", agent]).assert().success();
    }
    let policy = dir.path().join(".cavra/policy.yaml");
    let git_hook = dir.path().join(".git/hooks/prepare-commit-msg");
    cavra(dir.path())
        .args(["init", "claude-code", "--uninstall"])
        .assert()
        .success()
        .stderr(contains("still used by codex, cursor"));
    assert!(!dir.path().join(".claude/settings.json").exists());
    assert!(policy.exists(), "the policy codex and cursor use is kept");
    assert!(dir.path().join(".cavra/.gitignore").exists());
    assert!(dir.path().join(".codex/hooks.json").exists());
    assert!(dir.path().join(".cursor/hooks.json").exists());
    let git_hook_kept = git_hook.exists();
    cavra(dir.path())
        .args(["init", "codex", "--uninstall"])
        .assert()
        .success()
        .stderr(contains("still used by cursor"));
    assert!(policy.exists());
    assert_eq!(git_hook.exists(), git_hook_kept);
    // The last agent takes the shared parts with it.
    cavra(dir.path())
        .args(["init", "cursor", "--uninstall"])
        .assert()
        .success();
    assert_eq!(snapshot(dir.path()), before);

    // --all removes everything at once.
    for agent in ["gemini", "copilot", "claude-code"] {
        cavra(dir.path()).args(["init", agent]).assert().success();
    }
    cavra(dir.path())
        .args(["init", "--uninstall", "--all"])
        .assert()
        .success();
    assert_eq!(snapshot(dir.path()), before);
    // --all only uninstalls, and an agent is needed otherwise.
    cavra(dir.path()).args(["init", "--all"]).assert().code(2);
    cavra(dir.path()).args(["init"]).assert().code(2);
}

/// Settings written by an older init name cavra by an absolute path that exists only on that
/// machine; a re-run rewrites our entries to the name resolved through PATH, keeping the
/// options a person added, and recognises them as ours.
#[test]
fn machine_local_paths_are_replaced_by_the_program_name() {
    let dir = repo();
    std::fs::create_dir_all(dir.path().join(".claude")).expect("mkdir");
    let old = json!({"hooks": {"PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "/home/someone/.cargo/bin/cavra hook claude-code --approval-mode store", "timeout": 10}]}]}});
    std::fs::write(
        dir.path().join(".claude/settings.json"),
        serde_json::to_string_pretty(&old).expect("json"),
    )
    .expect("write");
    cavra(dir.path())
        .args(["init", "claude-code"])
        .assert()
        .success();
    let settings = read_json(&dir.path().join(".claude/settings.json"));
    let pre: Vec<String> = settings["hooks"]["PreToolUse"][0]["hooks"]
        .as_array()
        .expect("hooks")
        .iter()
        .filter_map(|h| h["command"].as_str().map(str::to_string))
        .collect();
    assert_eq!(pre, ["cavra-hook claude-code --approval-mode store"]);
    let text = serde_json::to_string(&settings).expect("json");
    assert!(!text.contains("/home/someone"), "{text}");
}

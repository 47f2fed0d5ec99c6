//! The documentation is run, not only read: the README's quick start is what CI runs, and
//! `cargo install --path crates/cavra` (the install path) brings both binaries.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The lines of the first ```sh block after the heading `## Quick start` in README.md.
fn readme_quick_start() -> Vec<String> {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md");
    let section = readme
        .split_once("\n## Quick start\n")
        .expect("README.md has a \"## Quick start\" section")
        .1;
    let block = section
        .split_once("```sh\n")
        .expect("the quick start has a ```sh block")
        .1;
    let block = block.split_once("\n```").expect("the block is closed").0;
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn ci_runs_the_readme_quick_start_as_written() {
    let readme = readme_quick_start();
    assert!(
        readme
            .iter()
            .any(|l| l == "cargo run --release -p cavra -- demo before-the-agent-acts"),
        "the quick start runs the demo: {readme:?}"
    );
    assert!(readme.iter().any(|l| l == "scripts/test"), "{readme:?}");
    let out = std::process::Command::new("bash")
        .arg(workspace().join(".ci/run"))
        .arg("--print-quick-start")
        .output()
        .expect(".ci/run runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ci: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    assert_eq!(ci, readme, ".ci/run must run the README's quick start");
}

/// `cargo run -p cavra` must pick the CLI (two binaries live in the package), and
/// `cargo install --path crates/cavra` must install both.
#[test]
fn the_cavra_package_runs_the_cli_by_default_and_installs_both_binaries() {
    let manifest =
        std::fs::read_to_string(workspace().join("crates/cavra/Cargo.toml")).expect("manifest");
    assert!(
        manifest
            .lines()
            .any(|l| l.trim() == "default-run = \"cavra\""),
        "crates/cavra/Cargo.toml needs default-run = \"cavra\""
    );
    let bins: Vec<&str> = manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|b| {
            b.lines()
                .find_map(|l| l.trim().strip_prefix("name = "))
                .map(|n| n.trim_matches('"'))
        })
        .collect();
    assert_eq!(bins, ["cavra", "cavra-hook"]);
}

/// The ```sh blocks of a markdown file, each as its lines (continuations joined).
fn sh_blocks(markdown: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(lines), text) => {
                if let Some(last) = lines.last_mut()
                    && last.ends_with('\\')
                {
                    last.pop();
                    last.push_str(text);
                } else if !text.trim().is_empty() {
                    lines.push(text.to_string());
                }
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The exit code a line's comment promises (`# block, exit 4`: a decision, then its exit
/// code), else 0.
fn expected_exit(line: &str) -> i32 {
    line.rsplit_once('#')
        .and_then(|(_, comment)| comment.split(", exit ").nth(1))
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs each line of a block in `dir` (bash, the built binaries first on PATH), checking the
/// exit code each line's comment promises.
fn run_block(dir: &Path, block: &[String]) {
    let bin = assert_cmd::cargo::cargo_bin("cavra");
    let path = format!(
        "{}:{}",
        bin.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = dir.join(".home");
    std::fs::create_dir_all(&home).expect("home");
    for line in block {
        let out = std::process::Command::new("bash")
            .args(["-o", "pipefail", "-c", line])
            .current_dir(dir)
            .env("PATH", &path)
            .env("HOME", &home)
            .env("CAVRA_SRC", workspace())
            .env("CAVRA_NO_CACHE", "1")
            .env_remove("CAVRA_POLICY")
            .env_remove("CAVRA_TRUST_ROOT")
            .env("XDG_RUNTIME_DIR", &home)
            .output()
            .expect("bash runs");
        assert_eq!(
            out.status.code(),
            Some(expected_exit(line)),
            "{line}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn scratch_git_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let out = std::process::Command::new("git")
        .args(["init", "-q", "-b", "main"])
        .current_dir(dir.path())
        .output()
        .expect("git");
    assert!(out.status.success());
    dir
}

#[test]
fn the_claude_code_example_runs_as_written() {
    let readme = std::fs::read_to_string(workspace().join("examples/claude-code/README.md"))
        .expect("examples/claude-code/README.md");
    let blocks = sh_blocks(&readme);
    assert_eq!(blocks.len(), 1, "one runnable block");
    let dir = scratch_git_repo();
    run_block(dir.path(), &blocks[0]);
    // The sample policy is what decided.
    let policy =
        std::fs::read_to_string(dir.path().join(".cavra/policy.yaml")).expect("policy copied");
    assert!(policy.contains("id: team-claude-code"));
}

#[test]
fn block_lines_and_promised_exit_codes_are_read_as_meant() {
    let md = "x\n```sh\na --b \\\n  c   # allow, exit 0\nd  # block, exit 4\n\n```\n```text\nnot run\n```\n";
    let blocks = sh_blocks(md);
    assert_eq!(
        blocks,
        [vec![
            "a --b   c   # allow, exit 0".to_string(),
            "d  # block, exit 4".to_string()
        ]]
    );
    assert_eq!(expected_exit(&blocks[0][1]), 4);
    assert_eq!(
        expected_exit("cavra evidence verify b  # exit 1 on any failure"),
        0,
        "a description of failure is not a promise"
    );
    assert_eq!(expected_exit("cavra x"), 0);
}

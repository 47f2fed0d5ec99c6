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

/// How a shell block in the docs is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// ```` ```sh ````: commands to paste, run line by line by the tests below.
    Pasted,
    /// ```` ```sh illustration ````: a form to read (placeholders such as `<id>`, optional parts
    /// in brackets, servers that run until stopped); not run.
    Illustration,
}

/// One shell block: where it starts (1-based line of its fence), how it is meant, its lines
/// (continuations joined, blank lines dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Block {
    line: usize,
    kind: Kind,
    lines: Vec<String>,
}

/// The shell blocks of a markdown file; an error names a ```sh fence with a word this runner
/// does not know (so a typo cannot hide a block from it).
fn doc_blocks(markdown: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        let text = line.trim_end();
        match &mut current {
            None => {
                let Some(info) = text.strip_prefix("```sh") else {
                    continue;
                };
                let kind = match info.trim() {
                    "" => Kind::Pasted,
                    "illustration" => Kind::Illustration,
                    other if info.starts_with(' ') => {
                        return Err(format!(
                            "line {}: ```sh {other}: a pasted block is ```sh, one not run is ```sh illustration",
                            i + 1
                        ));
                    }
                    _ => continue, // ```shell-session and the like are other languages
                };
                current = Some(Block {
                    line: i + 1,
                    kind,
                    lines: Vec::new(),
                });
            }
            Some(_) if text == "```" => blocks.extend(current.take()),
            Some(block) => {
                if let Some(last) = block.lines.last_mut()
                    && last.ends_with('\\')
                {
                    last.pop();
                    last.push_str(text);
                } else if !text.trim().is_empty() {
                    block.lines.push(text.to_string());
                }
            }
        }
    }
    Ok(blocks)
}

/// The ```sh blocks of a markdown file meant to be pasted, each as its lines.
fn sh_blocks(markdown: &str) -> Vec<Vec<String>> {
    doc_blocks(markdown)
        .expect("shell blocks")
        .into_iter()
        .filter(|b| b.kind == Kind::Pasted)
        .map(|b| b.lines)
        .collect()
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

/// Runs the pasted blocks of one document in `dir`, in order, in one shell — as a reader pastes
/// them into one terminal, so what a line exports or creates the next sees. Each line must
/// exit with the code its comment promises (`# block, exit 4`), else 0.
fn run_doc(dir: &Path, name: &str, blocks: &[&Block]) {
    let bin = assert_cmd::cargo::cargo_bin("cavra");
    let path = format!(
        "{}:{}",
        bin.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let home = dir.join(".home");
    std::fs::create_dir_all(&home).expect("home");
    let mut script = String::new();
    for block in blocks {
        for (i, line) in block.lines.iter().enumerate() {
            let want = expected_exit(line);
            script.push_str(line);
            script.push('\n');
            script.push_str(&format!(
                "__code=$?; if [ \"$__code\" != {want} ]; then echo \"{name}:{}: command {} of the block exited $__code; its comment promises {want}\" >&2; exit 97; fi\n",
                block.line,
                i + 1
            ));
        }
    }
    let out = std::process::Command::new("bash")
        .args(["+e", "-o", "pipefail", "-c", &script])
        .current_dir(dir)
        .env("PATH", &path)
        .env("HOME", &home)
        .env("CAVRA_SRC", workspace())
        .env("CAVRA_NO_CACHE", "1")
        .env("XDG_RUNTIME_DIR", &home)
        .env("CAVRA_ACTOR", "alice")
        .env_remove("CAVRA_POLICY")
        .env_remove("CAVRA_TRUST_ROOT")
        .env_remove("CAVRA_SERVER")
        .env_remove("CAVRA_TOKEN")
        .env_remove("CAVRA_DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{name}: a pasted block does not run as written\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the docs assume of the reader's repository: a git repository where `cavra init
/// claude-code` ran and the agent has read a file (so there is a store and an evidence log).
fn worked_in_repo() -> tempfile::TempDir {
    let dir = scratch_git_repo();
    let d = dir.path();
    std::fs::write(d.join("README.md"), "# a project\n").expect("README");
    let cavra = || {
        let mut c = assert_cmd::Command::cargo_bin("cavra").expect("cavra");
        c.current_dir(d)
            .env("HOME", d.join(".home"))
            .env("CAVRA_NO_CACHE", "1")
            .env_remove("CAVRA_POLICY");
        c
    };
    cavra()
        .args(["init", "claude-code", "--no-daemon"])
        .assert()
        .success();
    let payload = serde_json::json!({"session_id": "s1", "cwd": d, "hook_event_name": "PreToolUse",
        "tool_name": "Read", "tool_input": {"file_path": d.join("README.md")}, "tool_use_id": "t1"});
    cavra()
        .args(["hook", "claude-code"])
        .write_stdin(payload.to_string())
        .assert()
        .success();
    dir
}

/// README.md and every docs/*.md, in a fixed order.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(workspace().join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    docs.insert(0, workspace().join("README.md"));
    // Benchmarks are measurements: minutes each, on a quiet machine, by hand.
    docs.retain(|d| !d.ends_with("docs/benchmarks.md"));
    docs
}

/// Every ```sh block of README.md and docs/*.md runs as written in a scratch git repository
/// (one per document, its blocks in order in one shell). The README's quick start is the
/// exception: `.ci/run` runs it from the repository root (tested above).
#[test]
fn every_pasted_block_of_the_readme_and_docs_runs() {
    let quick_start = readme_quick_start();
    let mut ran = 0;
    for doc in documents() {
        let name = doc
            .strip_prefix(workspace())
            .unwrap_or(&doc)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&doc).expect("document");
        let blocks = doc_blocks(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let pasted: Vec<&Block> = blocks
            .iter()
            .filter(|b| b.kind == Kind::Pasted && b.lines != quick_start)
            .collect();
        if pasted.is_empty() {
            continue;
        }
        let dir = worked_in_repo();
        run_doc(dir.path(), &name, &pasted);
        ran += pasted.len();
    }
    assert!(ran >= 10, "only {ran} blocks ran");
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
fn blocks_are_pasted_or_illustrations_and_nothing_else() {
    let md = "```sh illustration\ncavra approval approve <id>\n```\n```sh\ncavra doctor\n```\n```shell-session\n$ x\n```\n";
    let blocks = doc_blocks(md).expect("blocks");
    assert_eq!(blocks.len(), 2);
    assert_eq!((blocks[0].kind, blocks[0].line), (Kind::Illustration, 1));
    assert_eq!((blocks[1].kind, blocks[1].line), (Kind::Pasted, 4));
    assert_eq!(sh_blocks(md), [vec!["cavra doctor".to_string()]]);
    let typo = doc_blocks("```sh ilustration\nx\n```\n").expect_err("a typo is an error");
    assert!(typo.contains("line 1"), "{typo}");
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

//! The documentation is run, not only read: the README's quick start is what CI runs, and
//! `cargo install --path crates/cavra` (the install path) brings both binaries.

mod support;

use std::path::{Path, PathBuf};
use support::workspace;

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
            .any(|l| l == "cargo run -p cavra -- demo before-the-agent-acts"),
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
    let path = support::path_with_cavra();
    let home = dir.join(".home");
    std::fs::create_dir_all(&home).expect("home");
    for line in block {
        let out = support::unset(&mut std::process::Command::new("bash"))
            .args(["-o", "pipefail", "-c", line])
            .current_dir(dir)
            .env("PATH", &path)
            .env("HOME", &home)
            .env("CAVRA_SRC", workspace())
            .env("CAVRA_NO_CACHE", "1")
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

/// The address the docs give the API service (`cavra serve`'s default).
const DOCS_SERVICE_ADDR: &str = "127.0.0.1:7700";

/// The comment that marks a line starting a server in the foreground.
const RUNS_UNTIL_STOPPED: &str = "runs until stopped";

/// The API service a document starts, as a reader would in a second terminal. A pasted line
/// `cavra serve …  # …, runs until stopped` is run in the background instead, on a free
/// loopback port (`--listen` appended; every `127.0.0.1:7700` of the document is rewritten to
/// that address), with its output in `.home/cavra-serve.log`, and the document goes on once
/// `/readyz` answers. Whatever the document started is killed when this is dropped — also when
/// an assertion fails.
struct ServiceGuard {
    /// `127.0.0.1:PORT`, free when chosen.
    addr: String,
    /// Where the started servers' process ids are written, one per line.
    pid_file: PathBuf,
    /// Where their output goes.
    log_file: PathBuf,
}

impl ServiceGuard {
    fn new(home: &Path) -> ServiceGuard {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        ServiceGuard {
            addr: format!("127.0.0.1:{port}"),
            pid_file: home.join("cavra-serve.pid"),
            log_file: home.join("cavra-serve.log"),
        }
    }

    /// The shell text that starts `line` in the background and waits for it to be ready, if
    /// `line` carries the marker; an error if the marker is on anything but `cavra serve`.
    fn start_line(&self, line: &str) -> Result<Option<String>, String> {
        let Some((command, comment)) = line.split_once('#') else {
            return Ok(None);
        };
        if !comment.contains(RUNS_UNTIL_STOPPED) {
            return Ok(None);
        }
        if !command.trim_start().starts_with("cavra serve") {
            return Err(format!(
                "\"{RUNS_UNTIL_STOPPED}\" marks a `cavra serve` line; this runner cannot start: {line}"
            ));
        }
        let (addr, pid, log) = (&self.addr, self.pid_file.display(), self.log_file.display());
        Ok(Some(format!(
            "{command} --listen {addr} </dev/null >>'{log}' 2>&1 & echo $! >>'{pid}'\n\
             for __i in $(seq 1 300); do curl -sf http://{addr}/readyz >/dev/null && break; sleep 0.1; done\n\
             curl -sf http://{addr}/readyz >/dev/null || {{ cat '{log}' >&2; false; }}",
            command = command.trim_end()
        )))
    }
}

impl Drop for ServiceGuard {
    fn drop(&mut self) {
        let Ok(pids) = std::fs::read_to_string(&self.pid_file) else {
            return;
        };
        for pid in pids.split_whitespace() {
            let _ = std::process::Command::new("kill").arg(pid).status();
        }
    }
}

/// Runs the pasted blocks of one document in `dir`, in order, in one shell — as a reader pastes
/// them into one terminal, so what a line exports or creates the next sees. Each line must
/// exit with the code its comment promises (`# block, exit 4`), else 0. A line that starts the
/// API service in the foreground is marked `# runs until stopped` and run as [`ServiceGuard`]
/// says.
fn run_doc(dir: &Path, name: &str, blocks: &[&Block]) {
    let path = support::path_with_cavra();
    let home = dir.join(".home");
    std::fs::create_dir_all(&home).expect("home");
    let service = ServiceGuard::new(&home);
    let mut script = String::new();
    for block in blocks {
        for (i, line) in block.lines.iter().enumerate() {
            let line = line.replace(DOCS_SERVICE_ADDR, &service.addr);
            let want = expected_exit(&line);
            match service.start_line(&line) {
                Ok(Some(start)) => script.push_str(&start),
                Ok(None) => script.push_str(&line),
                Err(e) => panic!("{name}:{}: {e}", block.line),
            }
            script.push('\n');
            script.push_str(&format!(
                "__code=$?; if [ \"$__code\" != {want} ]; then echo \"{name}:{}: command {} of the block exited $__code; its comment promises {want}\" >&2; exit 97; fi\n",
                block.line,
                i + 1
            ));
        }
    }
    let out = support::unset(&mut std::process::Command::new("bash"))
        .args(["+e", "-o", "pipefail", "-c", &script])
        .current_dir(dir)
        .env("PATH", &path)
        .env("HOME", &home)
        .env("CAVRA_SRC", workspace())
        .env("CAVRA_NO_CACHE", "1")
        .env("XDG_RUNTIME_DIR", &home)
        .env("CAVRA_ACTOR", "alice")
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
        let mut c = support::uncached(d);
        c.env("HOME", d.join(".home"));
        c
    };
    cavra()
        .args(["init", "claude-code", "--no-daemon"])
        .assert()
        .success();
    let read = serde_json::json!({"file_path": d.join("README.md")});
    let payload = support::claude_call(d, "s1", "PreToolUse", "Read", read, "t1");
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
    support::git(dir.path(), &["init", "-q", "-b", "main"]);
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

#[test]
fn only_a_marked_cavra_serve_line_is_started_in_the_background() {
    let home = tempfile::tempdir().expect("tmp");
    let service = ServiceGuard::new(home.path());
    let started = service
        .start_line("cavra serve --database-url sqlite://x.db   # listens; runs until stopped")
        .expect("a marked serve line")
        .expect("is started");
    assert!(
        started.starts_with(&format!(
            "cavra serve --database-url sqlite://x.db --listen {} </dev/null",
            service.addr
        )),
        "{started}"
    );
    assert!(started.contains("/readyz"), "the document waits for it");
    assert_eq!(
        service.start_line("cavra serve   # 127.0.0.1:7700"),
        Ok(None),
        "unmarked: run as written"
    );
    assert_eq!(service.start_line("cavra doctor"), Ok(None));
    let wrong = service
        .start_line("cavra mcp serve --http   # runs until stopped")
        .expect_err("the runner starts only the API service");
    assert!(wrong.contains("cavra mcp serve"), "{wrong}");
}

#[test]
fn the_service_guard_stops_what_the_document_started() {
    let home = tempfile::tempdir().expect("tmp");
    let service = ServiceGuard::new(home.path());
    let mut child = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("sleep");
    std::fs::write(&service.pid_file, format!("{}\n", child.id())).expect("pid file");
    drop(service);
    let status = child.wait().expect("waits");
    assert!(!status.success(), "killed, not finished: {status:?}");
}

/// A merge that left its conflict markers in a tracked file (it happened once, in
/// docs/benchmarks.md) fails here rather than reaching a reader. Markdown uses `=======`
/// as a heading underline only under a text line, so only the three together count.
#[test]
fn no_tracked_file_holds_merge_conflict_markers() {
    let files = support::git(&workspace(), &["ls-files", "-z"]);
    let mut found = Vec::new();
    for name in files.split('\0').filter(|n| !n.is_empty()) {
        let name = name.to_string();
        let Ok(text) = std::fs::read_to_string(workspace().join(&name)) else {
            continue; // binary or removed in the work tree
        };
        let has = |prefix: &str| {
            text.lines()
                .any(|l| l.starts_with(prefix) && (l.len() == 7 || l.as_bytes()[7] == b' '))
        };
        if has("<<<<<<<") && has(">>>>>>>") && text.lines().any(|l| l == "=======") {
            found.push(name);
        }
    }
    assert!(found.is_empty(), "merge conflict markers in {found:?}");
}

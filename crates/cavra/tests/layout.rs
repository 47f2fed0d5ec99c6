//! The shape of the code, held by tests: the binary crate stays thin (flags in, libraries
//! called, results printed; docs/architecture.md) and no source file grows past what a reader
//! can hold. A failure here means logic belongs in a library, or a file wants splitting.

mod support;

use std::path::{Path, PathBuf};
use support::workspace;

/// The binary crate's budget, in lines of `crates/cavra/src/**/*.rs`.
const BINARY_LINES: usize = 5_000;
/// The most lines one source file may have (tests and data aside).
const FILE_LINES: usize = 1_000;

/// Every `.rs` file under `dir`, skipping what is not source: build output, hidden folders,
/// test folders and test data.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a folder entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if path.is_dir() {
            let skipped = name.starts_with('.')
                || matches!(
                    name,
                    "target" | "tests" | "data" | "node_modules" | "corpus"
                );
            if !skipped {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .count()
}

#[test]
fn the_binary_crate_stays_under_its_budget() {
    let mut files = Vec::new();
    sources(&workspace().join("crates/cavra/src"), &mut files);
    // The binary crate is main.rs and the per-action commands (the cold ones are in
    // crates/cavra-cli): that main.rs is among them shows the folder was read.
    assert!(
        files.iter().any(|f| f.ends_with("src/main.rs")) && files.len() >= 5,
        "the binary's sources were not found: {files:?}"
    );
    let mut counted: Vec<(usize, PathBuf)> = files.into_iter().map(|f| (lines(&f), f)).collect();
    let total: usize = counted.iter().map(|(n, _)| n).sum();
    counted.sort();
    assert!(
        total <= BINARY_LINES,
        "crates/cavra/src holds {total} lines, over its budget of {BINARY_LINES}: the binary \
         parses flags, calls libraries and prints; move logic into the library it belongs to. \
         Largest files: {:?}",
        counted.iter().rev().take(5).collect::<Vec<_>>()
    );
}

#[test]
fn no_source_file_is_over_a_thousand_lines() {
    let mut files = Vec::new();
    for top in ["crates", "benches", "fuzz", "examples"] {
        let dir = workspace().join(top);
        if dir.is_dir() {
            sources(&dir, &mut files);
        }
    }
    assert!(files.len() > 100, "the workspace's sources were found");
    // A test module in its own file (`tests.rs`) is a test, as `tests/` folders are.
    let mut over: Vec<(usize, PathBuf)> = files
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "tests.rs"))
        .map(|f| (lines(&f), f))
        .filter(|(n, _)| *n > FILE_LINES)
        .collect();
    over.sort();
    assert!(
        over.is_empty(),
        "source files over {FILE_LINES} lines (split them by what they do): {over:?}"
    );
}

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

//! The `decide` bench's cases on the 300-rule pack, each decided `N` times (default 2000),
//! for counting instructions, which do not move with the machine's load:
//! `valgrind --tool=callgrind --toggle-collect='*cavra_engine*evaluate*' \
//!    target/release/examples/decide_count compound_command`, then divide the collected
//! instructions by `N`. `cargo build --profile bench -p cavra-engine --example decide_count`

#[path = "../benches/common/mod.rs"]
mod common;

use cavra_engine::{Env, NoSymlinks, evaluate};
use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let case = args.next().unwrap_or_else(|| "compound_command".into());
    let n: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let env = Env {
        timestamp: "2026-01-01T00:00:00Z",
        decision_id: "bench",
        resolver: &NoSymlinks,
    };
    let pack = common::pack_with_rules(300);
    // The bench's cases spelt with capitals (not in the criterion bench): the path rules are
    // then also matched ignoring letter case.
    let capitals = |name: &str, target: &str| {
        common::cases()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, mut r)| {
                r.target = target.into();
                r
            })
    };
    let request = match case.as_str() {
        "read_file_capitals" => capitals("read_file", "/home/dev/repo/Config/App/.ENV"),
        "write_file_capitals" => capitals("write_file", "Src/Lib/Module/File.rs"),
        // A repository under a folder with capitals, as macOS home folders are (`/Users/…`):
        // every absolute form then has capitals.
        "write_file_capital_root" => {
            capitals("write_file", "src/lib/module/file.rs").map(|mut r| {
                r.repo_root = Some("/Users/Dev/repo".into());
                r
            })
        }
        _ => common::cases()
            .into_iter()
            .find(|(name, _)| *name == case)
            .map(|(_, r)| r),
    };
    let Some(request) = request else {
        eprintln!(
            "no case {case} (read_file, write_file, compound_command, read_file_capitals, write_file_capitals, write_file_capital_root)"
        );
        std::process::exit(2);
    };
    for _ in 0..n {
        black_box(evaluate(black_box(&pack), black_box(&request), &env));
    }
}

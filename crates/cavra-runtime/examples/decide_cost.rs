//! The cost of the runtime's decide step against the engine's own call, for
//! `docs/benchmarks.md`: decides the same requests N times through one path, so that
//! `valgrind --tool=callgrind` instruction counts of N = 0 and N = K give the instructions per
//! decision whatever the machine's load.
//!
//! ```sh
//! cargo build --profile bench -p cavra-runtime --example decide_cost
//! valgrind --tool=callgrind target/release/examples/decide_cost engine 1000
//! ```
//!
//! Paths: `engine` (`cavra_engine::evaluate_with_registry`, what `cavra evaluate`, the CI gate
//! and the service called before), `one` (`cavra_runtime::decide::decide_one`, what they call
//! now), `all` (`decide_all` of one request: the governor's step, a fresh decision id each;
//! it takes its requests by value, so `clone` measures the copy the loop makes for it).

use cavra_engine::{ActionType, Env, NoSymlinks, Request};
use std::hint::black_box;
use std::path::Path;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "engine".into());
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let resolved =
        cavra_policy::load_pack("cavra-baseline", Path::new(".")).expect("the built-in pack");
    let pack = cavra_policy::compile(&resolved).expect("it compiles");
    let mut read = Request::new(ActionType::ReadFile, "services/api/config/.env");
    let mut command = Request::new(
        ActionType::ExecuteCommand,
        "cd infra && terraform plan -out plan.bin && terraform apply -auto-approve",
    );
    for r in [&mut read, &mut command] {
        r.repo_root = Some("/repo".into());
        r.cwd = Some("/repo".into());
    }
    let timestamp = "2026-12-04T00:00:00.000Z";
    for _ in 0..n {
        for request in [&read, &command] {
            match path.as_str() {
                "engine" => {
                    let env = Env {
                        timestamp,
                        decision_id: "d",
                        resolver: &NoSymlinks,
                    };
                    black_box(cavra_engine::evaluate_with_registry(
                        &pack, request, &env, None,
                    ));
                }
                "one" => {
                    black_box(cavra_runtime::decide::decide_one(
                        &pack,
                        request,
                        None,
                        timestamp,
                        "d",
                        &NoSymlinks,
                    ));
                }
                "clone" => {
                    black_box(vec![request.clone()]);
                }
                _ => {
                    let decided = cavra_runtime::decide::decide_all(
                        &pack,
                        vec![request.clone()],
                        None,
                        timestamp,
                        &NoSymlinks,
                    );
                    black_box(decided.ok());
                }
            }
        }
    }
}

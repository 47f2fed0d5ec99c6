//! The `decide` bench's cases timed in batches, reporting the fastest and the median batch:
//! on a shared machine the fastest batch is the least disturbed by other work.
//! `cargo run --profile bench -p cavra-engine --example decide_min`

#[path = "../benches/common/mod.rs"]
mod common;

use cavra_engine::{Env, NoSymlinks, evaluate};
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let env = Env {
        timestamp: "2026-01-01T00:00:00Z",
        decision_id: "bench",
        resolver: &NoSymlinks,
    };
    println!("| case | rules | fastest batch | median batch |");
    println!("| --- | ---: | ---: | ---: |");
    for n in [30, 300, 3000] {
        let pack = common::pack_with_rules(n);
        for (name, request) in common::cases() {
            let per_batch = 2000;
            let mut batches: Vec<f64> = (0..100)
                .map(|_| {
                    let t = Instant::now();
                    for _ in 0..per_batch {
                        black_box(evaluate(black_box(&pack), black_box(&request), &env));
                    }
                    t.elapsed().as_secs_f64() * 1e6 / f64::from(per_batch)
                })
                .collect();
            batches.sort_by(f64::total_cmp);
            println!(
                "| {name} | {n} | {:.2} µs | {:.2} µs |",
                batches[0],
                batches[batches.len() / 2]
            );
        }
    }
}

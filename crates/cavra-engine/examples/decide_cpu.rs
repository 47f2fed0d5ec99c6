//! The `decide` bench's cases timed by the thread's own CPU time (Linux
//! `/proc/thread-self/schedstat`, nanoseconds on a CPU), not by the wall clock: on a machine
//! shared with other work, time spent waiting for a CPU is not counted, so figures taken under
//! load stay comparable. Reports the median and the 90th-percentile batch (the kernel accounts
//! CPU time in steps of a few milliseconds, so single short batches are coarse; the median of
//! many is not).
//! `cargo run --profile bench -p cavra-engine --example decide_cpu`

#[path = "../benches/common/mod.rs"]
mod common;

use cavra_engine::{Env, NoSymlinks, evaluate};
use std::hint::black_box;

/// Nanoseconds this thread has spent on a CPU.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let env = Env {
        timestamp: "2026-01-01T00:00:00Z",
        decision_id: "bench",
        resolver: &NoSymlinks,
    };
    println!("| case | rules | median batch (CPU) | p90 batch (CPU) |");
    println!("| --- | ---: | ---: | ---: |");
    for n in [30, 300, 3000] {
        let pack = common::pack_with_rules(n);
        for (name, request) in common::cases() {
            let per_batch: u32 = 2000;
            let mut batches: Vec<f64> = (0..60)
                .map(|_| {
                    let start = cpu_ns();
                    for _ in 0..per_batch {
                        black_box(evaluate(black_box(&pack), black_box(&request), &env));
                    }
                    let spent = cpu_ns().saturating_sub(start);
                    spent as f64 / 1e3 / f64::from(per_batch)
                })
                .collect();
            batches.sort_by(f64::total_cmp);
            println!(
                "| {name} | {n} | {:.2} µs | {:.2} µs |",
                batches[batches.len() / 2],
                batches[batches.len() * 9 / 10]
            );
        }
    }
}

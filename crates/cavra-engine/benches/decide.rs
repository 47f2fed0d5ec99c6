//! In-process decision cost: file actions and compound commands on packs of 30, 300 and 3000
//! rules. Run with `cargo bench -p cavra-engine --bench decide`.

mod common;

use cavra_engine::{Decision, Env, NoSymlinks, evaluate};
use common::{cases, pack_with_rules};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let env = Env {
        timestamp: "2026-01-01T00:00:00Z",
        decision_id: "bench",
        resolver: &NoSymlinks,
    };
    let [(_, file), (_, write), (_, compound)] = cases();
    let mut group = c.benchmark_group("decide");
    for n in [30, 300, 3000] {
        let pack = pack_with_rules(n);
        assert_eq!(evaluate(&pack, &file, &env).decision, Decision::Block);
        assert_eq!(evaluate(&pack, &compound, &env).decision, Decision::Block);
        group.bench_with_input(BenchmarkId::new("read_file", n), &pack, |b, pack| {
            b.iter(|| evaluate(black_box(pack), black_box(&file), &env))
        });
        group.bench_with_input(BenchmarkId::new("write_file", n), &pack, |b, pack| {
            b.iter(|| evaluate(black_box(pack), black_box(&write), &env))
        });
        group.bench_with_input(BenchmarkId::new("compound_command", n), &pack, |b, pack| {
            b.iter(|| evaluate(black_box(pack), black_box(&compound), &env))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! In-process decision cost: file actions and compound commands on packs of 30, 300 and 3000
//! rules. Run with `cargo bench -p cavra-engine --bench decide`.

use cavra_engine::{ActionType, Env, NoSymlinks, Request, evaluate};
use cavra_policy::document::{OneOrMany, RuleDocument};
use cavra_policy::{CompiledPack, Decision, PackDocument, ResolvedPack, compile};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// A pack with `n` rules: a realistic baseline plus generated path and command rules, a tenth
/// of them custom `rules:` entries with conditions.
fn pack_with_rules(n: usize) -> CompiledPack {
    let mut doc = PackDocument::default();
    doc.metadata.id = format!("bench-{n}");
    doc.metadata.version = "1".into();
    let fs = &mut doc.filesystem;
    fs.block_read = vec![
        ".env".into(),
        "**/secrets.*".into(),
        "*.pem".into(),
        "*.tfstate".into(),
    ];
    fs.block_write = vec![".github/workflows/**".into(), "**/.terraform/**".into()];
    fs.require_approval_write = vec!["iam/**".into(), "**/*prod*.tf".into()];
    let cmd = &mut doc.commands;
    cmd.allow = vec![
        "ls*".into(),
        "cat*".into(),
        "git status*".into(),
        "terraform plan*".into(),
        "pytest*".into(),
    ];
    cmd.block = vec![
        "terraform apply*".into(),
        "terraform destroy*".into(),
        "kubectl delete*".into(),
    ];
    cmd.block_classes = vec![
        "remote_code_execution".into(),
        "privilege_escalation".into(),
    ];
    doc.git.block_push_branches = vec!["main".into()];
    doc.git.block_force_push = true;
    doc.mcp.allowed_servers = vec!["github".into()];
    let mut count = 16;
    let mut i = 0;
    while count < n {
        match i % 10 {
            0 => doc.rules.push(RuleDocument {
                id: format!("custom-{i}"),
                action: OneOrMany::Many(vec![ActionType::WriteFile, ActionType::DeleteFile]),
                paths: vec![format!("services/svc{i}/config/**"), format!("*.gen{i}")],
                commands: vec![],
                classes: vec![],
                servers: vec![],
                tools: vec![],
                operations: vec![],
                branches: vec![],
                domains: vec![],
                when: cavra_policy::document::Conditions {
                    environment: vec!["prod".into()],
                    ..Default::default()
                },
                except: vec![],
                decision: Decision::RequireApproval,
                severity: None,
                reason: Some("generated".into()),
                approver_group: Some("Platform".into()),
            }),
            1 | 3 | 5 | 7 => doc
                .filesystem
                .block_read
                .push(format!("data/private{i}/**")),
            2 | 6 => doc
                .filesystem
                .block_write
                .push(format!("**/generated{i}.lock")),
            4 => doc.commands.block.push(format!("tool{i} deploy*")),
            _ => doc.commands.allow.push(format!("tool{i} status*")),
        }
        count += 1;
        i += 1;
    }
    let resolved = ResolvedPack {
        document: doc,
        origin: "<bench>".into(),
        chain: vec!["<bench>".into()],
        digest: "sha256:bench".into(),
        source_text: "".into(),
    };
    compile(&resolved).expect("the generated pack compiles")
}

fn request(action: ActionType, target: &str) -> Request {
    let mut r = Request::new(action, target);
    r.repo_root = Some("/home/dev/repo".into());
    r
}

fn bench(c: &mut Criterion) {
    let env = Env {
        timestamp: "2026-01-01T00:00:00Z",
        decision_id: "bench",
        resolver: &NoSymlinks,
    };
    let file = request(ActionType::ReadFile, "/home/dev/repo/config/app/.env");
    let write = request(ActionType::WriteFile, "src/lib/module/file.rs");
    let compound = request(
        ActionType::ExecuteCommand,
        "cd infra && terraform plan -out plan.bin && cat .env | grep KEY > out.txt && terraform apply -auto-approve",
    );
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

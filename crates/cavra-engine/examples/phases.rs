//! Where the time of one cold decision goes: load, compile, evaluate.
use std::time::Instant;
fn main() {
    let t0 = Instant::now();
    let resolved =
        cavra_policy::load_pack("cavra-baseline", std::path::Path::new(".")).expect("loads");
    let t1 = Instant::now();
    if std::env::args().nth(1).as_deref() == Some("shell") {
        let line = "cd infra && terraform plan -out plan.bin && cat .env | grep KEY > out.txt && terraform apply -auto-approve";
        let t = Instant::now();
        for _ in 0..5000 {
            std::hint::black_box(cavra_shell::analyze(std::hint::black_box(line)));
        }
        println!("analyze {:?} per line", t.elapsed() / 5000);
        let mut parser = tree_sitter::Parser::new();
        parser
            .set_language(&tree_sitter_bash::LANGUAGE.into())
            .expect("grammar");
        let t = Instant::now();
        for _ in 0..5000 {
            std::hint::black_box(parser.parse(std::hint::black_box(line), None));
        }
        println!("bare tree-sitter parse {:?} per line", t.elapsed() / 5000);
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("file") {
        let compiled = cavra_policy::compile(&resolved).expect("compiles");
        let mut r = cavra_engine::Request::new(
            cavra_engine::ActionType::ReadFile,
            "/home/dev/repo/config/app/.env",
        );
        r.repo_root = Some("/home/dev/repo".into());
        let env = cavra_engine::Env {
            timestamp: "t",
            decision_id: "d",
            resolver: &cavra_engine::NoSymlinks,
        };
        let t = Instant::now();
        for _ in 0..200_000 {
            std::hint::black_box(cavra_engine::evaluate(
                &compiled,
                std::hint::black_box(&r),
                &env,
            ));
        }
        println!("file decision {:?}", t.elapsed() / 200_000);
        let t = Instant::now();
        for _ in 0..200_000 {
            std::hint::black_box(cavra_engine::normalize(
                &compiled,
                std::hint::black_box(&r),
                &cavra_engine::NoSymlinks,
            ));
        }
        println!("  of which normalisation {:?}", t.elapsed() / 200_000);
        let forms_rel = "config/app/.env";
        let mut scratch = Vec::new();
        let mut hits = Vec::new();
        let t = Instant::now();
        for _ in 0..200_000 {
            hits.clear();
            compiled.path_hits(
                &cavra_policy::compile::PathForms {
                    relative: Some(forms_rel),
                    absolute: Some("/home/dev/repo/config/app/.env"),
                    home: None,
                },
                &mut scratch,
                &mut hits,
            );
            std::hint::black_box(&hits);
        }
        println!("  of which glob matching {:?}", t.elapsed() / 200_000);
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("loop") {
        for _ in 0..300 {
            std::hint::black_box(cavra_policy::compile(&resolved).expect("compiles"));
        }
        return;
    }
    let compiled = cavra_policy::compile(&resolved).expect("compiles");
    let t2 = Instant::now();
    let r = cavra_engine::Request::new(cavra_engine::ActionType::ReadFile, ".env");
    let env = cavra_engine::Env {
        timestamp: "t",
        decision_id: "d",
        resolver: &cavra_engine::NoSymlinks,
    };
    let d = cavra_engine::evaluate(&compiled, &r, &env);
    let t3 = Instant::now();
    let r = cavra_engine::Request::new(
        cavra_engine::ActionType::ExecuteCommand,
        "ls && terraform apply",
    );
    let d2 = cavra_engine::evaluate(&compiled, &r, &env);
    let t4 = Instant::now();
    println!(
        "load {:?} compile {:?} eval-file {:?} eval-cmd {:?} ({} {}) patterns {}",
        t1 - t0,
        t2 - t1,
        t3 - t2,
        t4 - t3,
        d.decision,
        d2.decision,
        compiled.pattern_count()
    );
}

//! The knowledge base in decisions: derived requests are judged like their literal forms, a
//! pack's `knowledge:` section adds programs, unknown programs given blocked command lines
//! need approval, and explain names the entry that derived a request.

use cavra_engine::{ActionType, CompiledPack, Decision, Request};

mod common;
use common::{env, pack};

fn run(pack: &CompiledPack, line: &str) -> cavra_engine::DecisionRecord {
    let mut r = Request::new(ActionType::ExecuteCommand, line);
    r.repo_root = Some("/home/dev/repo".into());
    cavra_engine::evaluate(pack, &r, &env())
}

const PACK: &str = r#"
metadata: {id: kb, version: "1"}
filesystem:
  block_read: [".env"]
commands:
  allow: ["git diff *", "git fetch *", "mytool *", "taskrunner *", "echo *"]
  block: ["terraform apply *"]
knowledge:
  programs:
    - program: taskrunner
      source: "taskrunner(1), 2.3"
      abbreviations: unique_prefix
      long_options: [verbose]
      options:
        - {names: [--hook], effect: command}
        - {names: [--report], effect: write}
"#;

#[test]
fn derived_commands_meet_the_rules_of_their_literal_form() {
    let p = pack(PACK);
    assert_eq!(run(&p, "git fetch origin").decision, Decision::Allow);
    let r = run(&p, "git fetch --upload-pack='terraform apply' origin");
    assert_eq!(r.decision, Decision::Block, "{}", r.reason);
    let r = run(&p, "git fetch --upload-pa 'terraform apply' origin");
    assert_eq!(r.decision, Decision::Block, "{}", r.reason);
}

#[test]
fn a_pack_adds_what_its_own_tools_do() {
    let p = pack(PACK);
    assert_eq!(
        run(&p, "taskrunner build --verbose").decision,
        Decision::Allow
    );
    let r = run(&p, "taskrunner build --ho 'terraform apply'");
    assert_eq!(r.decision, Decision::Block, "{}", r.reason);
    assert_eq!(r.rule_id, "commands.block");
    // The same pack without its knowledge: the hook is an argument of an unknown program.
    let without = pack(PACK.split("knowledge:").next().unwrap_or(PACK));
    let r = run(&without, "taskrunner build --hook 'terraform apply'");
    assert_eq!(r.decision, Decision::RequireApproval, "{}", r.reason);
    assert_eq!(r.rule_id, "commands.unknown_program_runs_blocked");
}

#[test]
fn an_unknown_program_given_a_blocked_command_needs_approval() {
    let p = pack(PACK);
    let r = run(&p, "mytool exec terraform apply -auto-approve");
    assert_eq!(r.decision, Decision::RequireApproval);
    assert_eq!(r.rule_id, "commands.unknown_program_runs_blocked");
    assert!(r.reason.contains("terraform apply"), "{}", r.reason);
    assert!(r.reason.contains("commands.block"), "{}", r.reason);
    assert_eq!(
        run(&p, "mytool exec terraform plan").decision,
        Decision::Allow
    );
    // A program the knowledge base knows prints its arguments.
    assert_eq!(run(&p, "echo terraform apply").decision, Decision::Allow);
}

#[test]
fn explain_names_the_knowledge_entry() {
    let p = pack(PACK);
    let mut r = Request::new(
        ActionType::ExecuteCommand,
        "git fetch --upload-pack='terraform apply'",
    );
    r.repo_root = Some("/home/dev/repo".into());
    let explanation = cavra_engine::explain(&p, &r, &env());
    let analysis = explanation.normalization.analysis.expect("a command line");
    let derived = analysis
        .commands
        .iter()
        .find(|c| c.canonical == "terraform apply")
        .expect("derived command");
    assert_eq!(
        derived.via,
        ["git --upload-pack [knowledge: git fetch (knowledge/git.yaml)]"]
    );
    let mut r = Request::new(ActionType::ExecuteCommand, "taskrunner --report .env");
    r.repo_root = Some("/home/dev/repo".into());
    let explanation = cavra_engine::explain(&p, &r, &env());
    assert!(
        explanation
            .normalization
            .subjects
            .iter()
            .any(|s| s.describe().contains("knowledge: taskrunner (pack <test>)")),
        "{:?}",
        explanation
            .normalization
            .subjects
            .iter()
            .map(|s| s.describe())
            .collect::<Vec<_>>()
    );
}

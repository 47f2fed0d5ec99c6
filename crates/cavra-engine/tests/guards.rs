//! The built-in guards decide inside `evaluate`, for every pack and in every mode, and `explain`
//! shows them like any rule.

use cavra_engine::guards::{PROTECTED, SELF_APPROVAL};
use cavra_engine::{ActionType, Decision, Mode, Request};

mod common;
use common::{env, pack};

/// A pack that allows everything it can: the guards must still hold.
const PERMISSIVE: &str = r#"
metadata: {id: open, version: "1"}
filesystem:
  allow_write: ["**"]
commands:
  allow: ["*"]
"#;

fn request(action: ActionType, target: &str) -> Request {
    let mut r = Request::new(action, target);
    r.repo_root = Some("/r".into());
    r.cwd = Some("/r/sub".into());
    r.home = Some("/home/u".into());
    r
}

#[test]
fn guards_decide_over_an_allowing_pack() {
    let pack = pack(PERMISSIVE);
    for (action, target, rule) in [
        (
            ActionType::ExecuteCommand,
            "cd x && /usr/bin/cavra approval approve apr_1 --reason ok",
            Some(SELF_APPROVAL),
        ),
        (
            ActionType::ExecuteCommand,
            "sh -c 'cavra approval deny apr_1'",
            Some(SELF_APPROVAL),
        ),
        (
            ActionType::ExecuteCommand,
            "python3 -c \"import os; os.system('cavra approval approve a')\"",
            Some(SELF_APPROVAL),
        ),
        (ActionType::ExecuteCommand, "cavra approval list", None),
        (ActionType::WriteFile, "../.cavra/cavra.db", Some(PROTECTED)),
        (ActionType::WriteFile, "/r/.cavrax/file", None),
        (
            ActionType::WriteFile,
            "/r/.claude/settings.json",
            Some(PROTECTED),
        ),
        (ActionType::DeleteFile, "/r/.git", Some(PROTECTED)),
        (
            ActionType::ExecuteCommand,
            "rm -rf ../.git",
            Some(PROTECTED),
        ),
        (
            ActionType::ExecuteCommand,
            "mv ../.cavra /tmp/x",
            Some(PROTECTED),
        ),
        (
            ActionType::ExecuteCommand,
            "echo '{}' > ../.gemini/settings.json",
            Some(PROTECTED),
        ),
        (
            ActionType::ExecuteCommand,
            "cp hook.sh ../.git/hooks/",
            Some(PROTECTED),
        ),
        (
            ActionType::ExecuteCommand,
            "sed -i s/a/b/ /r/**",
            Some(PROTECTED),
        ),
        (ActionType::ExecuteCommand, "cp notes.txt .", None),
        (ActionType::ReadFile, "/r/.cavra/policy.yaml", None),
    ] {
        let record = cavra_engine::evaluate(&pack, &request(action, target), &env());
        match rule {
            Some(r) => assert_eq!(
                (record.decision, record.rule_id.as_str()),
                (Decision::Block, r),
                "{target}: {}",
                record.reason
            ),
            None => assert!(
                !record.rule_id.starts_with("cavra."),
                "{target}: {}",
                record.rule_id
            ),
        }
    }
}

#[test]
fn no_mode_switches_a_guard_off() {
    let pack = pack(PERMISSIVE);
    for mode in [
        Mode::Enforce,
        Mode::AuditOnly,
        Mode::Strict,
        Mode::BreakGlass,
    ] {
        let mut r = request(ActionType::WriteFile, "/r/.cavra/policy.yaml");
        r.mode = Some(mode);
        r.break_glass_actor = Some("oncall".into());
        r.break_glass_reason = Some("INC-1".into());
        let record = cavra_engine::evaluate(&pack, &r, &env());
        assert_eq!(record.decision, Decision::Block, "{mode:?}");
        assert_eq!(record.rule_id, PROTECTED, "{mode:?}");
    }
}

#[test]
fn explain_lists_the_guard() {
    let pack = pack(PERMISSIVE);
    let explanation = cavra_engine::explain(
        &pack,
        &request(ActionType::WriteFile, "/r/.claude/settings.json"),
        &env(),
    );
    assert!(
        explanation
            .considered
            .iter()
            .any(|c| c.rule_id == PROTECTED && c.outcome.starts_with("applied")),
        "{:?}",
        explanation.considered
    );
    assert!(
        explanation
            .record
            .matched_rules
            .iter()
            .any(|m| m.rule_id == PROTECTED)
    );
}

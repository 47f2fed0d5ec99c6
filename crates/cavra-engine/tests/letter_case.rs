//! Path rules that restrict (block, require_approval, warn, …) match a path in any letter case;
//! `allow` rules and `except:` lists match only as written; a match made only by ignoring case
//! adds its decision beside the default or floor, never below it; `explain` says so.

use cavra_engine::{ActionType, CompiledPack, Decision, Request, evaluate, explain};
use cavra_policy::{compile, load_pack};
use proptest::prelude::*;
use std::path::Path;

mod common;
use common::{env, pack};

const PACK: &str = r#"
metadata: {id: case, version: "1"}
filesystem:
  block_write: [".github/workflows/**", "Ünïcode/**"]
  warn_write: ["notes/**", "/opt/scratch/**"]
  allow_write: ["src/**"]
  allow_read: ["docs/**"]
rules:
  - id: env
    action: read_file
    paths: [".env.*"]
    except: [".env.example"]
    decision: block
    reason: environment files hold secrets
defaults:
  read_file: {decision: require_approval}
  write_file: {decision: block}
"#;

fn request(action: ActionType, target: &str) -> Request {
    let mut r = Request::new(action, target);
    r.repo_root = Some("/r".into());
    r.cwd = Some("/r".into());
    r.home = Some("/home/u".into());
    r
}

fn decide(pack: &CompiledPack, action: ActionType, target: &str) -> (Decision, String) {
    let record = evaluate(pack, &request(action, target), &env());
    (record.decision, record.rule_id)
}

#[test]
fn restricting_rules_match_in_any_case_and_allows_do_not() {
    let pack = pack(PACK);
    use ActionType::*;
    use Decision::*;
    for (action, target, decision, rule) in [
        (
            WriteFile,
            ".github/workflows/ci.yml",
            Block,
            "filesystem.write.block",
        ),
        (
            WriteFile,
            ".GitHub/Workflows/ci.yml",
            Block,
            "filesystem.write.block",
        ),
        (WriteFile, "ünïcode/a", Block, "filesystem.write.block"),
        (WriteFile, "ÜNÏCODE/a", Block, "filesystem.write.block"),
        (ReadFile, ".ENV.local", Block, "env"),
        // The exception as written, and not in other capitals.
        (
            ReadFile,
            ".env.example",
            RequireApproval,
            "filesystem.read.default",
        ),
        (ReadFile, ".ENV.example", Block, "env"),
        // An allow as written; in other capitals the default decides.
        (WriteFile, "src/main.rs", Allow, "filesystem.write.allow"),
        (WriteFile, "Src/main.rs", Block, "filesystem.write.default"),
        (
            ReadFile,
            "DOCS/a.md",
            RequireApproval,
            "filesystem.read.default",
        ),
        // A warn as written replaces the default, as before; matched only ignoring case it
        // sits beside the default and the stricter decides.
        (WriteFile, "notes/a.md", Warn, "filesystem.write.warn"),
        (WriteFile, "Notes/a.md", Block, "filesystem.write.default"),
        (WriteFile, "/opt/scratch/a", Warn, "filesystem.write.warn"),
        (
            WriteFile,
            "/opt/SCRATCH/a",
            RequireApproval,
            "filesystem.write.outside_repo",
        ),
        // Through a command's derived accesses.
        (
            ExecuteCommand,
            "echo x > .GITHUB/workflows/ci.yml",
            Block,
            "filesystem.write.block",
        ),
    ] {
        assert_eq!(
            decide(&pack, action, target),
            (decision, rule.to_string()),
            "{action} {target}"
        );
    }
}

fn baseline() -> CompiledPack {
    compile(&load_pack("cavra-baseline", Path::new(".")).expect("baseline")).expect("compiles")
}

/// The decision and rule for `target` in the repository `/Users/dev/repo`, home `/Users/dev`.
fn under_capitals(
    pack: &CompiledPack,
    action: ActionType,
    target: &str,
    mode: Option<cavra_engine::Mode>,
) -> (Decision, String) {
    let mut r = Request::new(action, target);
    r.repo_root = Some("/Users/dev/repo".into());
    r.cwd = Some("/Users/dev/repo".into());
    r.home = Some("/Users/dev".into());
    r.mode = mode;
    let record = evaluate(pack, &r, &env());
    (record.decision, record.rule_id)
}

#[test]
fn the_built_in_guards_hold_under_the_repository_and_home_folder_in_other_capitals() {
    let baseline = baseline();
    let decide = |action, target: &str, mode| under_capitals(&baseline, action, target, Some(mode));
    use ActionType::*;
    // The guards decide in every mode, audit_only included.
    for mode in [cavra_engine::Mode::Enforce, cavra_engine::Mode::AuditOnly] {
        for (action, target) in [
            (DeleteFile, "/Users/dev/repo/.git"),
            (DeleteFile, "/users/dev/repo/.git"),
            (WriteFile, "/USERS/DEV/REPO/.git/hooks/pre-commit"),
            (DeleteFile, "/users/dev/repo"),
            (DeleteFile, "/users/dev"),
            (WriteFile, "/users/dev/.cache/cavra/packs/x.yaml"),
        ] {
            assert_eq!(
                decide(action, target, mode),
                (Decision::Block, "cavra.protected".to_string()),
                "{mode:?} {action} {target}"
            );
        }
    }
    // A folder elsewhere is elsewhere.
    assert_ne!(
        decide(
            DeleteFile,
            "/users/devx/repo/.git",
            cavra_engine::Mode::Enforce
        )
        .1,
        "cavra.protected"
    );
}

#[test]
fn the_repository_and_home_folder_in_other_capitals_are_still_them() {
    let baseline = baseline();
    let decide = |action, target: &str| under_capitals(&baseline, action, target, None);
    use ActionType::*;
    use Decision::*;
    for (action, target, decision, rule) in [
        // As written, for comparison.
        (
            WriteFile,
            "/Users/dev/repo/.github/workflows/ci.yml",
            Block,
            "filesystem.write.block",
        ),
        (
            ReadFile,
            "/Users/dev/.aws/credentials",
            Block,
            "filesystem.read.block",
        ),
        // The root and home folder spelt otherwise: the rules of the repository and of the
        // home folder still restrict.
        (
            WriteFile,
            "/users/dev/repo/.github/workflows/ci.yml",
            Block,
            "filesystem.write.block",
        ),
        (
            WriteFile,
            "/USERS/DEV/REPO/iam/role.tf",
            RequireApproval,
            "baseline.iam.write",
        ),
        (
            ReadFile,
            "/users/dev/.aws/credentials",
            Block,
            "filesystem.read.block",
        ),
        (
            ReadFile,
            "/users/Dev/.kube/config",
            Block,
            "filesystem.read.block",
        ),
        // They do not allow: a write placed only by ignoring case keeps the floor of a path
        // outside the repository.
        (
            WriteFile,
            "/users/dev/repo/src/main.rs",
            RequireApproval,
            "filesystem.write.outside_repo",
        ),
        // And a path elsewhere is elsewhere: the home folder's rules (`~/.kube/**`) do not
        // reach another folder, though a pattern for any depth (`**/.aws/credentials*`) does.
        (
            ReadFile,
            "/users/devx/.kube/cache/discovery",
            Allow,
            "filesystem.read.default",
        ),
        (
            ReadFile,
            "/users/devx/.aws/credentials",
            Block,
            "filesystem.read.block",
        ),
    ] {
        assert_eq!(
            decide(action, target),
            (decision, rule.to_string()),
            "{action} {target}"
        );
    }
}

#[test]
fn explain_says_the_match_ignored_letter_case() {
    let pack = pack(PACK);
    let e = explain(
        &pack,
        &request(ActionType::WriteFile, ".GitHub/Workflows/ci.yml"),
        &env(),
    );
    let outcome = |id: &str| {
        e.considered
            .iter()
            .find(|c| c.rule_id == id)
            .map(|c| c.outcome.clone())
    };
    assert_eq!(
        outcome("filesystem.write.block").as_deref(),
        Some("matched ignoring letter case")
    );
    assert_eq!(
        e.record.reason,
        "write of .GitHub/Workflows/ci.yml matches `.github/workflows/**` ignoring letter case (filesystem.write.block block)"
    );
    let e = explain(
        &pack,
        &request(ActionType::WriteFile, ".github/workflows/ci.yml"),
        &env(),
    );
    assert_eq!(
        e.considered
            .iter()
            .find(|c| c.rule_id == "filesystem.write.block")
            .map(|c| c.outcome.as_str()),
        Some("matched")
    );
    assert!(!e.record.reason.contains("letter case"));
    // A rule with its own reason keeps it, with the match named after it.
    let e = explain(&pack, &request(ActionType::ReadFile, ".Env.local"), &env());
    assert_eq!(e.record.rule_id, "env");
    assert!(
        e.record
            .reason
            .ends_with("(matches `.env.*` ignoring letter case)"),
        "{}",
        e.record.reason
    );
}

/// The same path with each letter's case chosen by `mask`.
fn recase(path: &str, mask: &[bool]) -> String {
    path.chars()
        .zip(mask.iter().cycle())
        .map(|(c, up)| {
            if *up {
                c.to_uppercase().collect::<String>()
            } else {
                c.to_string()
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Under the built-in baseline, every spelling of a path whose write or read is restricted
    /// as written is at least as restricted; every spelling of an allowed source file stays
    /// allowed.
    #[test]
    fn no_spelling_is_less_restricted(
        mask in prop::collection::vec(any::<bool>(), 1..12),
        which in 0usize..10,
    ) {
        let baseline = compile(&load_pack("cavra-baseline", Path::new(".")).expect("baseline")).expect("compiles");
        // (The home folder and the repository root are spelt as given: they are how a path
        // is placed, not what a rule names.)
        let restricted = [
            (ActionType::ReadFile, "", ".env"),
            (ActionType::ReadFile, "", "config/secrets.yaml"),
            (ActionType::ReadFile, "", "certs/server.pem"),
            (ActionType::ReadFile, "", "/etc/shadow"),
            (ActionType::ReadFile, "/home/u/", ".aws/credentials"),
            (ActionType::WriteFile, "", ".github/workflows/ci.yml"),
            (ActionType::WriteFile, "", "iam/role.tf"),
            (ActionType::WriteFile, "", ".envrc"),
            (ActionType::WriteFile, "", "infra/backend.tf"),
            (ActionType::WriteFile, "", "CODEOWNERS"),
        ];
        let (action, prefix, rest) = restricted[which];
        let path = format!("{prefix}{rest}");
        let path = path.as_str();
        let spelt = format!("{prefix}{}", recase(rest, &mask));
        let (as_written, _) = decide(&baseline, action, path);
        let (respelt, rule) = decide(&baseline, action, &spelt);
        prop_assert!(as_written.strictness() > Decision::Allow.strictness());
        prop_assert!(respelt.strictness() >= as_written.strictness(), "{} {} by {}", spelt, respelt, rule);
        let source = recase("src/main.rs", &mask);
        prop_assert_eq!(decide(&baseline, ActionType::WriteFile, &source).0, Decision::Allow);
    }
}

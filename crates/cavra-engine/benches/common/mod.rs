//! The generated packs and requests of the `decide` bench, shared with
//! `examples/decide_min.rs`.

use cavra_engine::{ActionType, Request};
use cavra_policy::document::{OneOrMany, RuleDocument};
use cavra_policy::{CompiledPack, Decision, PackDocument, ResolvedPack, compile};

/// A pack with `n` rules: a realistic baseline plus generated path and command rules, a tenth
/// of them custom `rules:` entries with conditions.
pub fn pack_with_rules(n: usize) -> CompiledPack {
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

/// The bench's three requests: a `.env` read 3 folders deep, an ordinary source file write,
/// and a compound command line (parse included).
pub fn cases() -> [(&'static str, Request); 3] {
    [
        (
            "read_file",
            request(ActionType::ReadFile, "/home/dev/repo/config/app/.env"),
        ),
        (
            "write_file",
            request(ActionType::WriteFile, "src/lib/module/file.rs"),
        ),
        (
            "compound_command",
            request(
                ActionType::ExecuteCommand,
                "cd infra && terraform plan -out plan.bin && cat .env | grep KEY > out.txt && terraform apply -auto-approve",
            ),
        ),
    ]
}

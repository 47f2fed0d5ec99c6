use super::*;

fn settings() -> Value {
    json!({"hooks": {
        "PreToolUse": [{"matcher": "*", "hooks": [{"type": "command", "command": "cavra-hook claude-code"}]}],
        "PostToolUse": [{"matcher": "*", "hooks": [
            {"type": "command", "command": "cavra hook claude-code --daemon"},
            {"type": "command", "command": "./other-hook"}]}]
    }})
}

#[test]
fn headless_hooks_add_the_store_mode_once_and_only_to_cavra() {
    let mut doc = settings();
    headless_hooks(&mut doc);
    headless_hooks(&mut doc);
    assert_eq!(
        doc["hooks"]["PreToolUse"][0]["hooks"][0]["command"],
        "cavra-hook claude-code --approval-mode store"
    );
    assert_eq!(
        doc["hooks"]["PostToolUse"][0]["hooks"][1]["command"],
        "./other-hook"
    );
}

#[test]
fn removing_the_hooks_leaves_other_hooks_and_is_noticed() {
    let dir = tempfile::tempdir().expect("tmp");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(dir.path().join(".claude")).expect("mkdir");
    std::fs::create_dir_all(&bin).expect("mkdir");
    for name in ["cavra", "cavra-hook"] {
        std::fs::write(bin.join(name), "#!/bin/sh\n").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let path = bin.to_string_lossy().into_owned();
    let file = dir.path().join(".claude/settings.json");
    std::fs::write(&file, settings().to_string()).expect("write");
    assert_eq!(hook_state(dir.path(), &path), None);
    // The program gone from PATH: broken.
    assert_eq!(
        hook_state(dir.path(), "/nonexistent").map(|f| f.kind),
        Some(FindingKind::HookBroken)
    );
    let mut doc = settings();
    without_cavra_hooks(&mut doc);
    assert!(
        doc["hooks"]["PreToolUse"]
            .as_array()
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        doc["hooks"]["PostToolUse"][0]["hooks"][0]["command"],
        "./other-hook"
    );
    std::fs::write(&file, doc.to_string()).expect("write");
    assert_eq!(
        hook_state(dir.path(), &path).map(|f| f.kind),
        Some(FindingKind::HookRemoved)
    );
}

#[test]
fn the_pending_id_is_read_from_the_denial() {
    assert_eq!(
        approval_id("cavra: x — Pending approval apr_01HZX-9 (expires …)").as_deref(),
        Some("apr_01HZX-9")
    );
    assert_eq!(approval_id("no id here"), None);
}

#[test]
fn the_step_constants_name_their_steps() {
    let steps = script(Path::new("/repo"));
    assert_eq!(
        steps[MCP_READ_STEP].name,
        "MCP read through cavra mcp proxy"
    );
    assert_eq!(
        steps[APPROVAL_STEP].name,
        "approval: denied with a pending id"
    );
    assert_eq!(steps[DRILL_STEP].name, "git branch");
}

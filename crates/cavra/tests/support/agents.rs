//! The real agents and MCP server the end-to-end tests run, pinned in
//! tests/agents/node/package-lock.json and installed by scripts/test (`npm ci --prefix
//! tests/agents/node --ignore-scripts`). A test fails, naming the command, when one is missing:
//! it never skips.

use std::path::{Path, PathBuf};

/// tests/agents/node/node_modules.
pub fn node_modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/agents/node/node_modules")
}

/// `path` when it is installed; else the test fails saying how to install it.
pub fn installed(path: PathBuf) -> PathBuf {
    assert!(
        path.is_file(),
        "the agent is not installed for this test: npm ci --prefix tests/agents/node --ignore-scripts (scripts/test does this); looked for {}",
        path.display()
    );
    path
}

/// The Claude Code native binary for this machine, from the pinned npm package.
pub fn claude_binary() -> PathBuf {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        other => other,
    };
    let dir = node_modules().join("@anthropic-ai");
    let candidates = [
        dir.join(format!("claude-code-linux-{arch}/claude")),
        dir.join(format!("claude-code-linux-{arch}-musl/claude")),
    ];
    let found = candidates.iter().find(|p| p.is_file()).cloned();
    installed(found.unwrap_or_else(|| candidates[0].clone()))
}

/// Codex's native binary for this machine, from the pinned platform package.
pub fn codex_binary() -> PathBuf {
    let (pkg, triple) = match std::env::consts::ARCH {
        "aarch64" => ("codex-linux-arm64", "aarch64-unknown-linux-musl"),
        _ => ("codex-linux-x64", "x86_64-unknown-linux-musl"),
    };
    installed(node_modules().join(format!("@openai/{pkg}/vendor/{triple}/bin/codex")))
}

/// Gemini CLI's entry point (run with node).
pub fn gemini_entry() -> PathBuf {
    installed(node_modules().join("@google/gemini-cli/bundle/gemini.js"))
}

/// The official MCP filesystem server's entry point (run with node).
pub fn mcp_filesystem_server() -> PathBuf {
    installed(node_modules().join("@modelcontextprotocol/server-filesystem/dist/index.js"))
}

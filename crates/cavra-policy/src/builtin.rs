//! Packs shipped inside the binary. Their YAML lives in `crates/cavra-policy/packs/` and is
//! embedded at build time; each carries `tests:` that show what it does.

/// A built-in pack.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinPack {
    /// Its id (`cavra-baseline`).
    pub id: &'static str,
    /// Title.
    pub title: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// The YAML source.
    pub yaml: &'static str,
}

// Ids, titles and descriptions repeat the YAML's metadata so they can be listed without parsing;
// a unit test keeps the two equal.
static PACKS: [BuiltinPack; 3] = [
    BuiltinPack {
        id: "cavra-baseline",
        title: "cavra baseline",
        description: "Baseline guardrails for AI coding agents",
        yaml: include_str!("../packs/cavra-baseline.yaml"),
    },
    BuiltinPack {
        id: "claude-code",
        title: "Claude Code",
        description: "cavra-baseline plus the MCP servers and settings files of Claude Code",
        yaml: include_str!("../packs/claude-code.yaml"),
    },
    BuiltinPack {
        id: "community-starter",
        title: "Community starter",
        description: "A gentle starter pack that warns more and blocks only the clearly destructive",
        yaml: include_str!("../packs/community-starter.yaml"),
    },
];

/// Every built-in pack.
pub fn builtin_packs() -> &'static [BuiltinPack] {
    &PACKS
}

/// The built-in pack with this id (with or without the `builtin:` prefix).
pub fn find(id: &str) -> Option<&'static BuiltinPack> {
    let id = id.strip_prefix("builtin:").unwrap_or(id);
    builtin_packs().iter().find(|p| p.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{load_pack, parse_document};
    use crate::testfile::{PolicyRef, parse_test_file};
    use std::path::Path;

    #[test]
    fn every_builtin_parses_and_matches_its_listing() {
        for pack in builtin_packs() {
            let doc = parse_document(pack.yaml, &format!("builtin:{}", pack.id))
                .unwrap_or_else(|e| panic!("{}: {e}", pack.id));
            assert_eq!(doc.metadata.id, pack.id);
            assert_eq!(doc.metadata.title, pack.title);
            assert_eq!(doc.metadata.description, pack.description);
            assert!(!doc.tests.is_empty(), "{} has no tests", pack.id);
        }
    }

    #[test]
    fn every_builtin_resolves() {
        for pack in builtin_packs() {
            for reference in [pack.id.to_string(), format!("builtin:{}", pack.id)] {
                let resolved = load_pack(&reference, Path::new("/nonexistent"))
                    .unwrap_or_else(|e| panic!("{reference}: {e}"));
                assert_eq!(resolved.origin, format!("builtin:{}", pack.id));
                assert_eq!(resolved.chain.last(), Some(&resolved.origin));
                assert!(resolved.digest.starts_with("sha256:"));
            }
        }
    }

    #[test]
    fn claude_code_keeps_the_baseline() {
        let resolved = load_pack("claude-code", Path::new(".")).expect("claude-code resolves");
        assert_eq!(
            resolved.chain,
            vec![
                "builtin:cavra-baseline".to_string(),
                "builtin:claude-code".to_string()
            ]
        );
        let doc = &resolved.document;
        assert!(doc.filesystem.block_read.iter().any(|p| p == ".env"));
        assert!(doc.commands.block.iter().any(|p| p == "terraform apply *"));
        assert!(doc.mcp.block_unknown_servers);
        assert!(doc.git.block_force_push);
        assert!(doc.mcp.allowed_servers.iter().any(|s| s == "github"));
        assert!(
            doc.rules
                .iter()
                .any(|r| r.id == "baseline.secrets.env_files")
        );
        assert!(
            doc.rules
                .iter()
                .any(|r| r.id == "claude.github.repository_changes")
        );
        // The merged pack's tests are the child's own.
        assert!(
            doc.tests
                .iter()
                .any(|t| t.name == "Claude settings are unwritable")
        );
    }

    #[test]
    fn builtins_are_test_files_of_themselves() {
        for pack in builtin_packs() {
            let file = parse_test_file(pack.yaml, &format!("builtin:{}", pack.id))
                .expect("parses as a test file");
            assert!(matches!(file.policy, PolicyRef::Inline(_)));
            assert!(!file.cases.is_empty());
            let resolved = file
                .resolve_policy(Path::new("/nonexistent"))
                .expect("resolves");
            assert_eq!(resolved.origin, format!("builtin:{}", pack.id));
        }
    }
}

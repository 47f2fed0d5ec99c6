//! Content searches over a folder that holds protected files (issue 15.6).
//!
//! A `Grep` over the repository reads every file in it, `.env` included, even though the
//! request names only the folder. So a content search is also judged against the protected
//! read patterns of the pack that can match inside the folder: each such pattern gives a
//! concrete witness path under the folder, decided as a read. Where the agent lets a hook
//! rewrite the tool's input (Claude Code's `updatedInput`), the protected files are excluded
//! from the search instead (an exclusion glob), and the call goes ahead; elsewhere the witness
//! reads are decided with the search, so the strictest of them answers it.
//!
//! Only searches of file *contents* count: a listing (`Glob`, `LS`) shows names, not secrets.

use crate::events::HookEvent;
use crate::mapping::Context;
use crate::tools::{self, Effect};
use crate::{Agent, EventKind};
use serde_json::Value;

/// A content search over a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderSearch {
    /// The searched folder, absolute (resolved against the working folder).
    pub folder: String,
    /// The tool's own file filter (`glob`, `include_pattern`), when it has one.
    pub filter: Option<String>,
}

/// The content search this tool call is, if it is one.
pub fn folder_search(event: &HookEvent, ctx: &Context) -> Option<FolderSearch> {
    let tool = tools::find(event.agent, &event.tool_name)?;
    let Effect::Search { path, filter } = tool.effect else {
        return None;
    };
    // Only the content searches have a file filter; listings have none.
    if filter.is_empty() {
        return None;
    }
    let field = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| event.tool_input.get(*k).and_then(Value::as_str))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let folder = match field(path) {
        Some(p) if p.starts_with('/') => p,
        Some(p) => format!(
            "{}/{}",
            ctx.cwd.trim_end_matches('/'),
            p.trim_start_matches("./")
        ),
        None => ctx.cwd.clone(),
    };
    Some(FolderSearch {
        folder: folder.trim_end_matches('/').to_string(),
        filter: field(filter),
    })
}

/// The glob, relative to `folder`, naming the files a protected path pattern of the pack can
/// match inside it; `None` when the pattern cannot match anything inside.
///
/// A pattern without `/` (`.env`, `*.pem`, `**/secrets.*`) names a file at any depth.
/// A pattern with `/` is relative to the repository root (`config/prod/*.yml`), or absolute, or
/// under the home folder; it lies inside the folder when its fixed leading part is under it.
pub fn pattern_inside(pattern: &str, folder: &str, ctx: &Context) -> Option<String> {
    let p = pattern.trim().trim_start_matches("./");
    let p = p.strip_prefix("**/").unwrap_or(p);
    if p.is_empty() || p == "**" || p == "*" {
        return None;
    }
    if !p.contains('/') {
        return Some(format!("**/{p}"));
    }
    let absolute = if p.starts_with('/') {
        p.to_string()
    } else if let Some(rest) = p.strip_prefix("~/") {
        format!("{}/{rest}", ctx.home.as_deref()?.trim_end_matches('/'))
    } else {
        format!("{}/{p}", ctx.repo_root.trim_end_matches('/'))
    };
    let folder = folder.trim_end_matches('/');
    absolute
        .strip_prefix(folder)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|rest| !rest.is_empty())
        .map(str::to_string)
}

/// A concrete path under `folder` that `inside` (from [`pattern_inside`]) matches: each
/// wildcard replaced by a letter, a class by its first member, alternatives by the first one
/// (the engine's [`cavra_engine::evaluate::glob_witness`]).
pub fn witness(folder: &str, inside: &str) -> String {
    format!(
        "{}/{}",
        folder.trim_end_matches('/'),
        cavra_engine::evaluate::glob_witness(inside)
    )
}

/// Whether a search's own file filter (`*.rs`, `.e*`, `config/**`) can reach files that the
/// protected glob `inside` names: tested on the witness of `inside`. A filter that does not
/// parse reaches everything.
pub fn filter_reaches(filter: &str, inside: &str) -> bool {
    let filter = filter.trim().trim_start_matches("./");
    let target = witness("", inside);
    let target = target.trim_start_matches('/');
    let Ok(glob) = globset::GlobBuilder::new(filter)
        .literal_separator(filter.contains('/'))
        .build()
    else {
        return true;
    };
    let matcher = glob.compile_matcher();
    if filter.contains('/') {
        matcher.is_match(target)
    } else {
        // Without a `/` the filter matches a name at any depth (ripgrep's rule).
        matcher.is_match(target.rsplit('/').next().unwrap_or(target))
    }
}

/// The tool input with the protected files excluded, when the agent lets a hook rewrite the
/// input of this tool and the search has no file filter of its own: Claude Code's `Grep`
/// gets `glob: "!{…}"` (ripgrep's negated glob: every file except these).
pub fn exclude_from_search(
    event: &HookEvent,
    search: &FolderSearch,
    inside: &[String],
) -> Option<Value> {
    let rewritable = event.agent == Agent::ClaudeCode
        && event.kind == EventKind::PreToolUse
        && event.tool_name == "Grep";
    if !rewritable || search.filter.is_some() || inside.is_empty() {
        return None;
    }
    let mut input = event.tool_input.clone();
    let globs: Vec<&str> = inside.iter().map(String::as_str).collect();
    let glob = if globs.len() == 1 {
        format!("!{}", globs[0])
    } else {
        format!("!{{{}}}", globs.join(","))
    };
    input
        .as_object_mut()?
        .insert("glob".into(), Value::String(glob));
    Some(input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::parse_event;
    use serde_json::json;

    fn ctx() -> Context {
        Context {
            cwd: "/repo/sub".into(),
            repo_root: "/repo".into(),
            home: Some("/home/u".into()),
            known_mcp_servers: Vec::new(),
        }
    }

    fn claude(tool: &str, input: Value) -> HookEvent {
        parse_event(
            Agent::ClaudeCode,
            &json!({"hook_event_name": "PreToolUse", "cwd": "/repo/sub", "tool_name": tool, "tool_input": input}),
        )
        .expect("valid")
    }

    #[test]
    fn content_searches_are_folder_searches_listings_are_not() {
        let s = folder_search(&claude("Grep", json!({"pattern": "KEY"})), &ctx());
        assert_eq!(
            s,
            Some(FolderSearch {
                folder: "/repo/sub".into(),
                filter: None
            })
        );
        let s = folder_search(
            &claude(
                "Grep",
                json!({"pattern": "KEY", "path": "lib/", "glob": "*.rs"}),
            ),
            &ctx(),
        );
        assert_eq!(
            s,
            Some(FolderSearch {
                folder: "/repo/sub/lib".into(),
                filter: Some("*.rs".into())
            })
        );
        assert_eq!(
            folder_search(&claude("Glob", json!({"pattern": "**/*"})), &ctx()),
            None
        );
        assert_eq!(
            folder_search(&claude("Read", json!({"file_path": "/repo/a"})), &ctx()),
            None
        );
    }

    #[test]
    fn patterns_inside_a_folder() {
        let c = ctx();
        assert_eq!(
            pattern_inside(".env", "/repo", &c).as_deref(),
            Some("**/.env")
        );
        assert_eq!(
            pattern_inside("**/secrets.*", "/repo/sub", &c).as_deref(),
            Some("**/secrets.*")
        );
        assert_eq!(
            pattern_inside("config/prod/*.yml", "/repo", &c).as_deref(),
            Some("config/prod/*.yml")
        );
        assert_eq!(
            pattern_inside("config/prod/*.yml", "/repo/config", &c).as_deref(),
            Some("prod/*.yml")
        );
        assert_eq!(pattern_inside("config/prod/*.yml", "/repo/src", &c), None);
        assert_eq!(
            pattern_inside("~/.ssh/**", "/home/u", &c).as_deref(),
            Some(".ssh/**")
        );
        assert_eq!(pattern_inside("~/.ssh/**", "/repo", &c), None);
        assert_eq!(pattern_inside("**", "/repo", &c), None);
    }

    #[test]
    fn witnesses_name_a_file_the_pattern_matches() {
        assert_eq!(witness("/repo", "**/.env"), "/repo/x/.env");
        assert_eq!(witness("/repo/", "**/*.pem"), "/repo/x/x.pem");
        assert_eq!(witness("/repo", "id_[re]sa"), "/repo/id_rsa");
        assert_eq!(witness("/repo", "{.env,.env.*}"), "/repo/.env");
    }

    #[test]
    fn a_filter_reaches_the_protected_files_it_can_match() {
        assert!(filter_reaches(".env", "**/.env"));
        assert!(filter_reaches(".e*", "**/.env"));
        assert!(filter_reaches("*", "**/.env"));
        assert!(!filter_reaches("*.rs", "**/.env"));
        assert!(filter_reaches("config/**", "config/prod/*.yml"));
        assert!(!filter_reaches("src/**", "config/prod/*.yml"));
    }

    #[test]
    fn only_claude_code_grep_without_a_filter_is_rewritten() {
        let e = claude("Grep", json!({"pattern": "KEY"}));
        let s = folder_search(&e, &ctx()).expect("search");
        let inside = vec!["**/.env".to_string(), "**/*.pem".to_string()];
        assert_eq!(
            exclude_from_search(&e, &s, &inside),
            Some(json!({"pattern": "KEY", "glob": "!{**/.env,**/*.pem}"}))
        );
        let e = claude("Grep", json!({"pattern": "KEY", "glob": "*.rs"}));
        let s = folder_search(&e, &ctx()).expect("search");
        assert_eq!(exclude_from_search(&e, &s, &inside), None);
        let g = parse_event(
            Agent::Gemini,
            &json!({"hook_event_name": "BeforeTool", "cwd": "/repo", "tool_name": "grep_search", "tool_input": {"pattern": "KEY"}}),
        )
        .expect("gemini");
        let s = folder_search(&g, &ctx()).expect("search");
        assert_eq!(exclude_from_search(&g, &s, &inside), None);
    }
}

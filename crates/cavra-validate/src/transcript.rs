//! The agent's own account of a session: Claude Code's transcript (JSON lines at the
//! `transcript_path` its hooks are given, `~/.claude/projects/<project>/<session>.jsonl`).
//!
//! Only what bypass detection needs is read: every tool call the agent made (its id, tool and
//! input) and what each call returned. Lines that are not JSON, or not messages, are skipped —
//! the transcript format carries many other entries (summaries, snapshots) that say nothing
//! about tool calls.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// One tool call from the transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscriptCall {
    /// The call's id (`tool_use_id` in the hooks and in cavra's records).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// Its input.
    pub input: Value,
    /// The text the call returned, when the transcript holds its result.
    pub result: Option<String>,
    /// Whether the result was an error (a denial is one).
    pub is_error: bool,
}

/// Reads the tool calls of a transcript, in the order the agent made them.
pub fn read(path: &Path) -> std::io::Result<Vec<TranscriptCall>> {
    Ok(parse(&std::fs::read_to_string(path)?))
}

/// The tool calls in a transcript's text.
pub fn parse(text: &str) -> Vec<TranscriptCall> {
    let mut calls: Vec<TranscriptCall> = Vec::new();
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(content) = entry["message"]["content"].as_array() else {
            continue;
        };
        for block in content {
            match block["type"].as_str() {
                Some("tool_use") => {
                    let Some(id) = block["id"].as_str() else {
                        continue;
                    };
                    // A call is listed once even if the transcript repeats its message.
                    if calls.iter().any(|c| c.id == id) {
                        continue;
                    }
                    calls.push(TranscriptCall {
                        id: id.to_string(),
                        name: block["name"].as_str().unwrap_or_default().to_string(),
                        input: block["input"].clone(),
                        result: None,
                        is_error: false,
                    });
                }
                Some("tool_result") => {
                    let id = block["tool_use_id"].as_str().unwrap_or_default();
                    if let Some(call) = calls.iter_mut().find(|c| c.id == id) {
                        call.result = Some(text_of(&block["content"]));
                        call.is_error = block["is_error"].as_bool().unwrap_or(false);
                    }
                }
                _ => {}
            }
        }
    }
    calls
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Where Claude Code keeps the transcript of `session_id` under `home`: it names the project
/// folder after the working directory, so every project folder is searched for the session's
/// file rather than re-deriving that name.
pub fn find_claude_transcript(home: &Path, session_id: &str) -> Option<PathBuf> {
    let file = format!("{session_id}.jsonl");
    let projects = home.join(".claude/projects");
    std::fs::read_dir(projects)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join(&file))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_their_results_are_read_and_other_lines_skipped() {
        let text = [
            r#"{"type":"summary","summary":"x"}"#,
            "not json",
            r#"{"type":"assistant","message":{"content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"t1","name":"Read","input":{"file_path":"/r/.env"}}]}}"#,
            r#"{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t1","is_error":true,"content":"cavra block: read of .env"}]}}"#,
            r#"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t2","name":"Bash","input":{"command":"ls"}}]}}"#,
            r#"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t2","name":"Bash","input":{"command":"ls"}}]}}"#,
        ]
        .join("\n");
        let calls = parse(&text);
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].name, "Read");
        assert_eq!(
            calls[0].result.as_deref(),
            Some("cavra block: read of .env")
        );
        assert!(calls[0].is_error);
        assert_eq!(calls[1].id, "t2");
        assert_eq!(calls[1].result, None);
    }
}

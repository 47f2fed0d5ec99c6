//! Input limits: what one request may put into the store. Every value an agent sends ends up
//! in a decision row and a signed log entry, so sizes are capped per field (configurable in
//! the `limits:` section), identifiers are printable, and no text holds a NUL character
//! (PostgreSQL cannot store one, and the answer must not depend on the backend).

use cavra_engine::{ActionType, Request};
use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// Per-field limits, in bytes of UTF-8 (list sizes in items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// A request's target (file path, URL, git target, PR title), except command lines.
    pub target_bytes: usize,
    /// The command line of an `execute_command` request.
    pub command_bytes: usize,
    /// A reason (approve, deny, expire, break glass).
    pub reason_bytes: usize,
    /// Identifiers: session, agent, actor, repository, branch, environment, MCP server/tool
    /// names and the like, and paths such as `cwd`.
    pub id_bytes: usize,
    /// An MCP call's arguments, as JSON.
    pub arguments_bytes: usize,
    /// The most items one list answer holds.
    pub list_items: usize,
    /// The most entries one downloaded evidence bundle holds (larger selections are refused,
    /// after counting, before any is read): bounds a bundle's disk, time and index list.
    pub bundle_entries: usize,
    /// Bundles served at once (each streamed, but holding a thread, a temporary folder and
    /// database reads while its client reads); a request beyond is answered 429 with
    /// `Retry-After`.
    pub concurrent_bundles: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            target_bytes: 4096,
            command_bytes: 32 * 1024,
            reason_bytes: 2000,
            id_bytes: 256,
            arguments_bytes: 64 * 1024,
            list_items: 1000,
            bundle_entries: 50_000,
            concurrent_bundles: 2,
        }
    }
}

/// The largest `limits.id_bytes` (see [`Limits::check`]).
pub const MAX_ID_BYTES: usize = 2048;

impl Limits {
    /// Checks the limits themselves.
    pub fn check(&self) -> Result<(), String> {
        let fields = [
            ("target_bytes", self.target_bytes),
            ("command_bytes", self.command_bytes),
            ("reason_bytes", self.reason_bytes),
            ("id_bytes", self.id_bytes),
            ("arguments_bytes", self.arguments_bytes),
            ("list_items", self.list_items),
            ("bundle_entries", self.bundle_entries),
            ("concurrent_bundles", self.concurrent_bundles),
        ];
        for (name, value) in fields {
            if value == 0 {
                return Err(format!("limits.{name} must be at least 1"));
            }
        }
        // Identifiers (session, caller, repository, …) are index keys, and a PostgreSQL
        // B-tree entry holds at most about 2.7 KB: a longer one would fail its tenant's whole
        // group commit, and an existing one a migration's index build.
        if self.id_bytes > MAX_ID_BYTES {
            return Err(format!(
                "limits.id_bytes must be at most {MAX_ID_BYTES} (identifiers are index keys), not {}",
                self.id_bytes
            ));
        }
        Ok(())
    }

    /// A requested page size: the default 100, at most `list_items`.
    pub fn page(&self, requested: Option<usize>) -> usize {
        requested.unwrap_or(100).clamp(1, self.list_items)
    }

    /// Checks every text field of an agent's request.
    pub fn check_request(&self, r: &Request) -> Result<(), Problem> {
        let target_limit = if r.action == ActionType::ExecuteCommand {
            self.command_bytes
        } else {
            self.target_bytes
        };
        free_text("request.target", &r.target, target_limit)?;
        let ids: [(&str, &Option<String>); 12] = [
            ("request.operation", &r.operation),
            ("request.branch", &r.branch),
            ("request.server", &r.server),
            ("request.tool", &r.tool),
            ("request.capability", &r.capability),
            ("request.actor", &r.actor),
            ("request.agent_id", &r.agent_id),
            ("request.tenant", &r.tenant),
            ("request.repository", &r.repository),
            ("request.environment", &r.environment),
            ("request.session_id", &r.session_id),
            ("request.correlation_id", &r.correlation_id),
        ];
        for (field, value) in ids {
            if let Some(v) = value {
                identifier(field, v, self.id_bytes)?;
            }
        }
        for (field, value) in [
            ("request.repo_root", &r.repo_root),
            ("request.cwd", &r.cwd),
            ("request.home", &r.home),
        ] {
            if let Some(v) = value {
                free_text(field, v, self.target_bytes)?;
            }
        }
        if let Some(v) = &r.break_glass_reason {
            free_text("request.break_glass_reason", v, self.reason_bytes)?;
        }
        if let Some(v) = &r.break_glass_actor {
            identifier("request.break_glass_actor", v, self.id_bytes)?;
        }
        if let Some(args) = &r.arguments {
            let size = serde_json::to_vec(args)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
            if size > self.arguments_bytes {
                return Err(too_large("request.arguments", self.arguments_bytes));
            }
        }
        Ok(())
    }

    /// A reason: required, trimmed, at most `reason_bytes`, no NUL.
    pub fn reason(&self, text: &str) -> Result<String, Problem> {
        let t = text.trim();
        if t.is_empty() {
            return Err(Problem::unprocessable("a reason is required"));
        }
        free_text("reason", t, self.reason_bytes)?;
        Ok(t.to_string())
    }
}

/// 413 naming the field and its limit.
pub fn too_large(field: &str, limit: usize) -> Problem {
    Problem::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        "Field too large",
        format!("`{field}` is longer than {limit} bytes (the service's `limits:`)"),
    )
}

/// Text that may hold any printable character and line breaks or tabs, but no other control
/// character (NUL above all), within `limit` bytes.
pub fn free_text(field: &str, value: &str, limit: usize) -> Result<(), Problem> {
    if value.len() > limit {
        return Err(too_large(field, limit));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Problem::unprocessable(format!(
            "`{field}` holds the control character U+{:04X}",
            c as u32
        )));
    }
    Ok(())
}

/// An identifier: no control character at all, within `limit` bytes.
pub fn identifier(field: &str, value: &str, limit: usize) -> Result<(), Problem> {
    if value.len() > limit {
        return Err(too_large(field, limit));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(Problem::unprocessable(format!(
            "`{field}` holds the control character U+{:04X}; identifiers are printable text",
            c as u32
        )));
    }
    Ok(())
}

/// Whether raw JSON text holds an escaped NUL (`\u0000`) anywhere. A literal NUL byte is not
/// valid JSON, so this is the only way one arrives; an escaped backslash followed by `u0000`
/// is not one.
pub fn json_has_nul(raw: &[u8]) -> bool {
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            if raw.get(i + 1) == Some(&b'u') && raw.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            // Skip the escaped character, whatever it is (`\\` included).
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_longer_than_an_index_key_holds_are_refused() {
        assert!(Limits::default().check().is_ok());
        let at_most = Limits {
            id_bytes: MAX_ID_BYTES,
            ..Limits::default()
        };
        assert!(at_most.check().is_ok());
        let over = Limits {
            id_bytes: MAX_ID_BYTES + 1,
            ..Limits::default()
        };
        assert!(over.check().unwrap_err().contains("limits.id_bytes"));
    }

    #[test]
    fn escaped_nul_is_found_and_escaped_backslashes_are_not_nul() {
        assert!(json_has_nul(br#"{"a":"x\u0000y"}"#));
        assert!(json_has_nul(br#"{"a\u0000":1}"#));
        assert!(json_has_nul(br#"{"a":"\\\u0000"}"#));
        assert!(!json_has_nul(br#"{"a":"\\u0000"}"#));
        assert!(!json_has_nul(br#"{"a":"\u0001 u0000"}"#));
        assert!(!json_has_nul(b"\\"));
    }

    #[test]
    fn identifiers_refuse_every_control_character_and_text_keeps_line_breaks() {
        assert!(identifier("f", "sess-1", 10).is_ok());
        for bad in ["a\u{0}b", "a\nb", "a\u{7f}", "a\u{85}"] {
            assert_eq!(identifier("f", bad, 10).unwrap_err().status, 422, "{bad:?}");
        }
        assert_eq!(identifier("f", "abcdef", 5).unwrap_err().status, 413);
        assert!(free_text("f", "echo a\nls\t-l", 100).is_ok());
        assert_eq!(free_text("f", "a\u{0}", 100).unwrap_err().status, 422);
        assert_eq!(free_text("f", "a\u{1b}[31m", 100).unwrap_err().status, 422);
    }

    #[test]
    fn detail_names_the_field() {
        let p = Limits::default()
            .check_request(&Request::new(ActionType::ReadFile, "x".repeat(5000)))
            .unwrap_err();
        assert_eq!(p.status, 413);
        assert!(p.detail.contains("request.target"), "{}", p.detail);
    }
}

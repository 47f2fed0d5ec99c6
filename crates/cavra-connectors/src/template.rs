//! Templates: the text a connector adds to what it sends, written by the operator in the
//! service's configuration.
//!
//! ```yaml
//! template:
//!   subject: "{{data.severity}} {{type}} in {{data.repository}}"   # e-mail (smtp) only
//!   text: "{{data.requested_by}} was stopped: {{data.reason}} ({{data.rule_id}})"
//! ```
//!
//! A template is literal text with placeholders `{{name}}` (spaces inside the braces allowed),
//! where `name` is a field of the envelope (`id`, `type`, `tenant`, `time`, `subject`,
//! `log_index`, `destination`, `idempotency_key`) or `data.<field>`, one of the fields events
//! carry ([`DATA_FIELDS`]). Nothing else: no expressions, no filters, no loops, no lookups
//! outside the event, so a template can never run code or reach another tenant's data. A
//! template is parsed when the configuration is read: an unclosed `{{`, an empty or unknown
//! name is an error there, at the value's line and column.
//!
//! Rendering takes the values from the envelope, which the store's redaction rules have
//! already passed; the rendered text passes them once more (two harmless values could make a
//! secret side by side). A field the event lacks renders as nothing; strings as they are,
//! other values as compact JSON. Control characters (line breaks included, in a subject) are
//! replaced by spaces, and the result is cut to a bound, so a value cannot forge a header or
//! swell a message.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Envelope fields a template may name.
pub const ENVELOPE_FIELDS: &[&str] = &[
    "id",
    "type",
    "tenant",
    "time",
    "subject",
    "log_index",
    "destination",
    "idempotency_key",
];

/// `data` fields a template may name: the fields of every event type's data (decisions,
/// approvals, checkpoints, connector failures, releases and rollbacks, test events).
pub const DATA_FIELDS: &[&str] = &[
    // decisions
    "decision_id",
    "decision",
    "session_id",
    "agent",
    "requested_by",
    "action_type",
    "rule_id",
    "fingerprint",
    "policy_digest",
    "pack",
    "severity",
    "repository",
    "environment",
    "branch",
    "target",
    "reason",
    "approver_group",
    "break_glass",
    // approvals
    "approval_id",
    "expires_at",
    "summary",
    "state",
    "grant",
    "uses",
    "actor",
    // checkpoints
    "tree_size",
    "root_hash",
    "key_id",
    "timestamp",
    // connector failures
    "connector_kind",
    "event_id",
    "event_type",
    "attempts",
    "status",
    "error",
    // releases and rollbacks
    "version",
    "commit",
    "commits",
    "unchecked",
    "artifacts",
    "signed_by",
    "signed_at",
    "record_sha256",
    "recorded_by",
    "from",
    "to",
    // test events
    "connector",
    "message",
];

/// The longest rendered subject, in characters.
pub const MAX_SUBJECT_CHARS: usize = 200;
/// The longest rendered text, in bytes.
pub const MAX_TEXT_BYTES: usize = 8 * 1024;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Text as written.
    Literal(String),
    /// An envelope field.
    Field(String),
    /// A field of the envelope's `data`.
    Data(String),
}

/// A parsed template; it keeps its source for the configuration's round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// Why a template does not parse: what, and at which character of the value (from 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template, at character {at}: {message}")]
pub struct TemplateError {
    /// The character (counted from 1) where the problem starts.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

impl Template {
    /// Parses `source`.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        let mut offset = 0usize;
        let char_at = |byte: usize| source[..byte].chars().count() + 1;
        while let Some(open) = rest.find("{{") {
            if let Some(stray) = rest[..open].find("}}") {
                return Err(TemplateError {
                    at: char_at(offset + stray),
                    message: "`}}` without a `{{` before it".into(),
                });
            }
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(TemplateError {
                    at: char_at(offset + open),
                    message: "`{{` is not closed by `}}`".into(),
                });
            };
            let name = after[..close].trim();
            let at = char_at(offset + open);
            parts.push(Self::field(name).map_err(|message| TemplateError { at, message })?);
            let consumed = open + 2 + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if let Some(stray) = rest.find("}}") {
            return Err(TemplateError {
                at: char_at(offset + stray),
                message: "`}}` without a `{{` before it".into(),
            });
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template {
            source: source.to_string(),
            parts,
        })
    }

    fn field(name: &str) -> Result<Part, String> {
        if name.is_empty() {
            return Err("an empty placeholder `{{}}`".into());
        }
        if let Some(field) = name.strip_prefix("data.") {
            if DATA_FIELDS.contains(&field) {
                return Ok(Part::Data(field.to_string()));
            }
            return Err(format!(
                "`{name}` is not a field events carry; data fields: {}",
                DATA_FIELDS.join(", ")
            ));
        }
        if ENVELOPE_FIELDS.contains(&name) {
            return Ok(Part::Field(name.to_string()));
        }
        Err(format!(
            "`{name}` is not a field a template may use: {} or data.<field>",
            ENVELOPE_FIELDS.join(", ")
        ))
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders against an envelope (already redacted), redacts the result again with
    /// `redactor`, replaces control characters (all of them when `one_line`, else all but
    /// line breaks and tabs) and cuts it to `max_bytes`.
    pub fn render(
        &self,
        envelope: &Value,
        redactor: &cavra_redact::Redactor,
        one_line: bool,
        max_bytes: usize,
    ) -> String {
        let mut out = String::new();
        for p in &self.parts {
            let v = match p {
                Part::Literal(s) => {
                    out.push_str(s);
                    continue;
                }
                Part::Field(f) => envelope.get(f),
                Part::Data(f) => envelope.get("data").and_then(|d| d.get(f)),
            };
            match v {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => out.push_str(s),
                Some(other) => out.push_str(&other.to_string()),
            }
        }
        let redacted = redactor.redact_text(&out).value;
        let clean: String = redacted
            .chars()
            .map(|c| {
                let keep = !c.is_control() || (!one_line && (c == '\n' || c == '\t'));
                if keep { c } else { ' ' }
            })
            .collect();
        cut(clean, max_bytes)
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary.
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Template {
    /// Parses while the configuration is read, so that an error carries the value's line
    /// and column.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let source = String::deserialize(d)?;
        Template::parse(&source).map_err(serde::de::Error::custom)
    }
}

/// A connector's templates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Templates {
    /// The e-mail's subject (smtp connectors only), after the connector's `subject_prefix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Template>,
    /// A text every kind sends: the envelope's `text` field (signed with it); for e-mail,
    /// also the opening of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Template>,
}

impl Templates {
    /// Whether no template is given.
    pub fn is_empty(&self) -> bool {
        self.subject.is_none() && self.text.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn redactor() -> cavra_redact::Redactor {
        cavra_redact::Redactor::new(cavra_redact::builtin_rules()).expect("rules")
    }

    fn env() -> Value {
        json!({"type": "decision.block", "tenant": "acme", "log_index": 12,
               "data": {"severity": "high", "reason": "secrets file", "uses": 2,
                        "repository": "acme/app", "target": "line one\nline two\r\nBcc: x@evil.example"}})
    }

    #[test]
    fn placeholders_render_from_the_envelope() {
        let t = Template::parse("[{{ data.severity }}] {{type}} #{{log_index}} in {{data.repository}}: {{data.reason}} ({{data.uses}}){{data.branch}}").unwrap();
        assert_eq!(
            t.render(&env(), &redactor(), true, 1000),
            "[high] decision.block #12 in acme/app: secrets file (2)"
        );
        assert_eq!(
            Template::parse("no placeholder, { single } braces")
                .unwrap()
                .render(&env(), &redactor(), true, 1000),
            "no placeholder, { single } braces"
        );
    }

    #[test]
    fn bad_templates_are_refused_with_where() {
        for (src, at, what) in [
            ("x {{type", 3, "not closed"),
            ("{{}}", 1, "empty"),
            ("ab {{ data.sevrity }}", 4, "not a field events carry"),
            ("{{env.HOME}}", 1, "not a field a template may use"),
            ("{{data}}", 1, "not a field a template may use"),
            ("{{data.reason.x}}", 1, "not a field events carry"),
            ("é {{ type }} }}", 14, "without a `{{`"),
            ("{{ type | upper }}", 1, "not a field"),
            ("a }} {{type}}", 3, "without a `{{`"),
        ] {
            let e = Template::parse(src).unwrap_err();
            assert_eq!(e.at, at, "{src}: {e}");
            assert!(e.message.contains(what), "{src}: {e}");
        }
    }

    #[test]
    fn values_are_redacted_and_cannot_break_lines_or_swell() {
        let r = redactor();
        let secret = "ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let e = json!({"data": {"reason": format!("token {secret}")}});
        let t = Template::parse("{{data.reason}}").unwrap();
        let out = t.render(&e, &r, true, 1000);
        assert!(!out.contains(secret), "{out}");
        // Two halves that make a secret only side by side.
        let e =
            json!({"data": {"reason": "ghp_aaaaaaaaaaaaaaaaaa", "target": "aaaaaaaaaaaaaaaaaa"}});
        let t = Template::parse("{{data.reason}}{{data.target}}").unwrap();
        assert!(!t.render(&e, &r, true, 1000).contains(secret));
        let t = Template::parse("{{data.target}}").unwrap();
        let subject = t.render(&env(), &r, true, 1000);
        assert!(!subject.contains(['\n', '\r']), "{subject:?}");
        let text = t.render(&env(), &r, false, 1000);
        assert!(text.contains('\n') && !text.contains('\r'), "{text:?}");
        assert_eq!(
            Template::parse("ééé").unwrap().render(&env(), &r, true, 5),
            "éé",
            "cut at a character boundary"
        );
    }

    #[test]
    fn a_template_reads_and_writes_as_its_source() {
        let t: Templates =
            serde_saphyr::from_str("subject: \"{{type}} x\"\ntext: \"{{data.reason}}\"\n").unwrap();
        assert_eq!(t.subject.as_ref().map(Template::source), Some("{{type}} x"));
        let back = serde_json::to_value(&t).unwrap();
        assert_eq!(
            back,
            json!({"subject": "{{type}} x", "text": "{{data.reason}}"})
        );
        let e = serde_saphyr::from_str::<Templates>("subject: ok\ntext: \"a {{ nope }}\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope") && e.contains("line 2"), "{e}");
    }
}

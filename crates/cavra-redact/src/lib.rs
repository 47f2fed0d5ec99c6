//! Finds and masks secrets in text and in JSON values before anything is stored.
//!
//! The rule set is in the spirit of gitleaks: each [`RuleSpec`] is data — an id, a regular
//! expression whose `secret` capture group (or the whole match) is the secret, keywords that
//! must occur (case-insensitively) before the expression is even tried, and an optional
//! minimum Shannon entropy. Keyword gating keeps the common case cheap: a command such as
//! `npm test` contains no keyword, so no expression is compiled or run. Expressions are compiled
//! lazily, once per process, the first time one of their keywords is seen.
//!
//! The output is the redacted value plus a list of [`Finding`]s (`{pointer, rule}`), where the
//! pointer is an RFC 6901 JSON pointer to the string that held the secret (`""` for plain text).

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::OnceLock;

/// What a masked secret is replaced with: `[REDACTED:<rule id>]`.
pub fn mask(rule: &str) -> String {
    format!("[REDACTED:{rule}]")
}

/// A redaction rule, as data (built-in, or later read from a policy pack).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable id, reported in findings and in the mask (`github-token`).
    pub id: String,
    /// What it finds, for people.
    pub description: String,
    /// The expression. A capture group named `secret` marks the part to mask; without one the
    /// whole match is masked.
    pub regex: String,
    /// At least one must occur (case-insensitively) in the text for the rule to be tried.
    /// Empty: always tried.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Minimum Shannon entropy (bits per character) of the secret; lower is not a secret.
    #[serde(default)]
    pub min_entropy: Option<f64>,
}

/// A secret found: where, and by which rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// RFC 6901 pointer to the string value that held it (`""` for plain text).
    pub pointer: String,
    /// The rule id.
    pub rule: String,
}

/// A redacted value and what was masked in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Redacted<T> {
    /// The value with every secret masked.
    pub value: T,
    /// What was masked, in order of discovery.
    pub findings: Vec<Finding>,
}

/// A rule set that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// A rule's expression does not compile.
    #[error("redaction rule `{id}`: invalid expression: {source}")]
    BadRegex {
        /// The rule id.
        id: String,
        /// The regex error.
        #[source]
        source: Box<regex::Error>,
    },
    /// Two rules share an id.
    #[error("redaction rule id `{0}` is used twice")]
    DuplicateId(String),
    /// A rule has an empty id.
    #[error("a redaction rule has an empty id")]
    EmptyId,
}

struct Compiled {
    spec: RuleSpec,
    keywords_lower: Vec<String>,
    regex: OnceLock<Regex>,
}

/// A compiled rule set.
pub struct Redactor {
    rules: Vec<Compiled>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("rules", &self.rules.len())
            .finish()
    }
}

/// Names of variables, flags and keys whose value is a secret.
const SENSITIVE_NAME: &str = r"[A-Za-z0-9_.-]*(?:TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH_?KEY|CLIENT_?SECRET)[A-Za-z0-9_.-]*";

fn spec(
    id: &str,
    description: &str,
    regex: &str,
    keywords: &[&str],
    min_entropy: Option<f64>,
) -> RuleSpec {
    RuleSpec {
        id: id.to_string(),
        description: description.to_string(),
        regex: regex.to_string(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        min_entropy,
    }
}

/// The built-in rules. Order matters only for reporting: specific token formats come first so
/// that a GitHub token assigned to `GITHUB_TOKEN=` is reported as `github-token`.
pub fn builtin_rules() -> Vec<RuleSpec> {
    let assignment =
        format!(r#"(?i)\b{SENSITIVE_NAME}\s*[:=]\s*(?P<secret>"[^"\n]*"|'[^'\n]*'|[^\s'";&|]+)"#);
    let flag = format!(
        r#"(?i)(?:^|\s)--{SENSITIVE_NAME}(?:=|\s+)(?P<secret>"[^"\n]*"|'[^'\n]*'|[^\s'";&|-][^\s'";&|]*)"#
    );
    vec![
        spec(
            "private-key",
            "PEM private key block",
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?P<secret>[\s\S]*?)-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----",
            &["PRIVATE KEY"],
            None,
        ),
        spec(
            "aws-access-key-id",
            "AWS access key id",
            r"\b(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16})\b",
            &[
                "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA",
                "A3T",
            ],
            None,
        ),
        spec(
            "aws-secret-access-key",
            "AWS secret access key",
            r#"(?i)aws_?secret_?(?:access_?)?key(?:_id)?["']?\s*[:=]\s*["']?(?P<secret>[A-Za-z0-9/+=]{40})\b"#,
            &["aws"],
            None,
        ),
        spec(
            "gcp-service-account-key",
            "GCP service-account private key id/key in JSON",
            r#""private_key(?:_id)?"\s*:\s*"(?P<secret>[^"]{16,})""#,
            &["private_key"],
            None,
        ),
        spec(
            "gcp-api-key",
            "Google/GCP API key",
            r"\b(?P<secret>AIza[0-9A-Za-z_-]{35})\b",
            &["AIza"],
            None,
        ),
        spec(
            "github-token",
            "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_)",
            r"\b(?P<secret>gh[opusr]_[A-Za-z0-9]{36,255})\b",
            &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
            None,
        ),
        spec(
            "github-fine-grained-pat",
            "GitHub fine-grained personal access token",
            r"\b(?P<secret>github_pat_[A-Za-z0-9_]{22,255})\b",
            &["github_pat_"],
            None,
        ),
        spec(
            "slack-token",
            "Slack token (xoxb, xoxp, xoxa, xoxr, xoxs, xoxe)",
            r"\b(?P<secret>xox[abposre](?:-[A-Za-z0-9]+){1,}-?[A-Za-z0-9]*)",
            &["xox"],
            None,
        ),
        spec(
            "stripe-secret-key",
            "Stripe live secret or restricted key",
            r"\b(?P<secret>(?:sk|rk)_live_[A-Za-z0-9]{16,})\b",
            &["sk_live_", "rk_live_"],
            None,
        ),
        spec(
            "jwt",
            "JSON Web Token",
            r"\b(?P<secret>eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{8,})",
            &["eyJ"],
            None,
        ),
        spec(
            "url-password",
            "password in a URL (scheme://user:pass@host)",
            r"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@'\x22]+:(?P<secret>[^\s@/'\x22]+)@",
            &["://"],
            None,
        ),
        spec(
            "authorization-header",
            "Authorization header or Bearer token",
            r#"(?i)(?:\bauthorization\s*[:=]\s*["']?(?:bearer|basic|token|digest)?\s*|\bbearer\s+)(?P<secret>[A-Za-z0-9._~+/=-]{8,})"#,
            &["authorization", "bearer"],
            None,
        ),
        spec(
            "mysql-password-flag",
            "password given as -p<password> to a MySQL client",
            r"\b(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)\b[^\n;&|]*?\s-p(?P<secret>[^\s'\x22;&|]+)",
            &["mysql", "mariadb"],
            None,
        ),
        spec(
            "sensitive-flag",
            "secret passed as a --password/--token style flag",
            &flag,
            &SENSITIVE_KEYWORDS,
            None,
        ),
        spec(
            "sensitive-assignment",
            "secret assigned to a KEY=value whose name marks it as secret",
            &assignment,
            &SENSITIVE_KEYWORDS,
            None,
        ),
        spec(
            "generic-high-entropy",
            "high-entropy string next to a secret-looking keyword",
            r#"(?i)(?:key|token|secret|passw(?:or)?d|pwd|auth|credential)[A-Za-z0-9_.-]{0,20}["']?\s*(?:[:=]|=>|\s)\s*["']?(?P<secret>[A-Za-z0-9+/=_-]{16,})"#,
            &[
                "key",
                "token",
                "secret",
                "pass",
                "pwd",
                "auth",
                "credential",
            ],
            Some(3.5),
        ),
    ]
}

const SENSITIVE_KEYWORDS: [&str; 12] = [
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "api_key",
    "apikey",
    "access_key",
    "accesskey",
    "private_key",
    "credential",
    "auth_key",
];

/// Whether a JSON object key names a secret (its string value is masked whole).
pub fn is_sensitive_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "passwd",
        "passphrase",
        "apikey",
        "accesskey",
        "privatekey",
        "credential",
        "authorization",
        "clientsecret",
    ]
    .iter()
    .any(|w| k.contains(w))
        && !k.ends_with("count")
        && !k.ends_with("type")
        && !k.ends_with("name")
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts = [0usize; 256];
    let mut n = 0usize;
    for b in s.bytes() {
        counts[b as usize] += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

impl Redactor {
    /// Builds a rule set, checking every expression up front.
    pub fn new(rules: Vec<RuleSpec>) -> Result<Redactor, RedactError> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(rules.len());
        for spec in rules {
            if spec.id.trim().is_empty() {
                return Err(RedactError::EmptyId);
            }
            if !seen.insert(spec.id.clone()) {
                return Err(RedactError::DuplicateId(spec.id));
            }
            // Checked here so that a bad custom rule fails at load time, not on the first
            // secret; the compiled expression is kept.
            let regex = Regex::new(&spec.regex).map_err(|e| RedactError::BadRegex {
                id: spec.id.clone(),
                source: Box::new(e),
            })?;
            let cell = OnceLock::new();
            let _ = cell.set(regex);
            let keywords_lower = spec
                .keywords
                .iter()
                .map(|k| k.to_ascii_lowercase())
                .collect();
            out.push(Compiled {
                spec,
                keywords_lower,
                regex: cell,
            });
        }
        Ok(Redactor { rules: out })
    }

    /// The process-wide built-in rule set. Its expressions compile lazily, the first time one
    /// of a rule's keywords is seen, so the hook's fast path pays nothing for them.
    pub fn builtin() -> &'static Redactor {
        static BUILTIN: OnceLock<Redactor> = OnceLock::new();
        BUILTIN.get_or_init(|| Redactor {
            rules: builtin_rules()
                .into_iter()
                .map(|spec| Compiled {
                    keywords_lower: spec
                        .keywords
                        .iter()
                        .map(|k| k.to_ascii_lowercase())
                        .collect(),
                    spec,
                    regex: OnceLock::new(),
                })
                .collect(),
        })
    }

    /// The rules, as data.
    pub fn rules(&self) -> impl Iterator<Item = &RuleSpec> {
        self.rules.iter().map(|r| &r.spec)
    }

    /// Masks every secret in a text. Findings carry the pointer `""`.
    pub fn redact_text(&self, text: &str) -> Redacted<String> {
        let mut findings = Vec::new();
        let value = self.redact_str_at(text, "", &mut findings);
        Redacted { value, findings }
    }

    /// Masks every secret in a JSON value: in every string (keys are kept), and the whole
    /// string value of any key that names a secret (`"password": "…"`).
    pub fn redact_json(&self, value: &Value) -> Redacted<Value> {
        let mut findings = Vec::new();
        let value = self.walk(value, &mut String::new(), false, &mut findings);
        Redacted { value, findings }
    }

    fn walk(
        &self,
        value: &Value,
        pointer: &mut String,
        sensitive: bool,
        findings: &mut Vec<Finding>,
    ) -> Value {
        match value {
            Value::String(s) => {
                if sensitive && !s.is_empty() && !is_mask(s) {
                    findings.push(Finding {
                        pointer: pointer.clone(),
                        rule: "sensitive-key".into(),
                    });
                    Value::String(mask("sensitive-key"))
                } else {
                    Value::String(self.redact_str_at(s, pointer, findings))
                }
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let len = pointer.len();
                        pointer.push('/');
                        pointer.push_str(&i.to_string());
                        let out = self.walk(v, pointer, sensitive, findings);
                        pointer.truncate(len);
                        out
                    })
                    .collect(),
            ),
            Value::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (k, v) in map {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    let child = self.walk(v, pointer, sensitive || is_sensitive_key(k), findings);
                    pointer.truncate(len);
                    out.insert(k.clone(), child);
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    fn redact_str_at(&self, text: &str, pointer: &str, findings: &mut Vec<Finding>) -> String {
        let lower = text.to_ascii_lowercase();
        let mut current: Option<String> = None;
        for rule in &self.rules {
            if !rule.keywords_lower.is_empty()
                && !rule
                    .keywords_lower
                    .iter()
                    .any(|k| lower.contains(k.as_str()))
            {
                continue;
            }
            let Some(regex) = rule.regex() else { continue };
            let src = current.as_deref().unwrap_or(text);
            let mut out = String::with_capacity(src.len());
            let mut last = 0;
            let mut hit = false;
            for caps in regex.captures_iter(src) {
                let Some(m) = caps.name("secret").or_else(|| caps.get(0)) else {
                    continue;
                };
                let secret = m.as_str();
                let unquoted = secret.trim_matches(|c| c == '"' || c == '\'');
                if unquoted.is_empty() || is_mask(unquoted) || unquoted.contains("[REDACTED:") {
                    continue;
                }
                if rule
                    .spec
                    .min_entropy
                    .is_some_and(|min| entropy(unquoted) < min)
                {
                    continue;
                }
                out.push_str(&src[last..m.start()]);
                out.push_str(&mask(&rule.spec.id));
                last = m.end();
                hit = true;
            }
            if hit {
                out.push_str(&src[last..]);
                findings.push(Finding {
                    pointer: pointer.to_string(),
                    rule: rule.spec.id.clone(),
                });
                current = Some(out);
            }
        }
        current.unwrap_or_else(|| text.to_string())
    }
}

impl Compiled {
    fn regex(&self) -> Option<&Regex> {
        if let Some(r) = self.regex.get() {
            return Some(r);
        }
        // Built-in expressions are covered by tests; a failure here would be a bug, and the
        // rule is skipped rather than the process aborted.
        let compiled = Regex::new(&self.spec.regex).ok()?;
        Some(self.regex.get_or_init(|| compiled))
    }
}

fn is_mask(s: &str) -> bool {
    s.starts_with("[REDACTED:") && s.ends_with(']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_compile() {
        let r = Redactor::new(builtin_rules()).expect("built-in rules compile");
        assert!(r.rules().count() >= 15);
    }

    #[test]
    fn json_pointer_escapes() {
        let v = serde_json::json!({"a/b": {"x~y": ["ok", "Bearer abcdefghijklmnop"]}});
        let out = Redactor::builtin().redact_json(&v);
        assert_eq!(
            out.findings,
            vec![Finding {
                pointer: "/a~1b/x~0y/1".into(),
                rule: "authorization-header".into()
            }]
        );
        assert_eq!(
            out.value["a/b"]["x~y"][1],
            "Bearer [REDACTED:authorization-header]"
        );
    }

    #[test]
    fn sensitive_keys_are_masked_whole() {
        let v = serde_json::json!({"password": "hunter2", "token_count": 3, "name": "x"});
        let out = Redactor::builtin().redact_json(&v);
        assert_eq!(out.value["password"], "[REDACTED:sensitive-key]");
        assert_eq!(out.value["token_count"], 3);
        assert_eq!(out.findings.len(), 1);
    }

    #[test]
    fn plain_text_is_untouched() {
        let out = Redactor::builtin().redact_text("npm test && git status");
        assert_eq!(out.value, "npm test && git status");
        assert!(out.findings.is_empty());
    }

    #[test]
    fn bad_rule_is_an_error() {
        let e = Redactor::new(vec![spec("x", "x", "(", &[], None)]).unwrap_err();
        assert!(e.to_string().contains("`x`"));
        let e = Redactor::new(vec![
            spec("x", "x", "a", &[], None),
            spec("x", "x", "b", &[], None),
        ])
        .unwrap_err();
        assert!(matches!(e, RedactError::DuplicateId(_)));
    }
}

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

#[cfg(feature = "corpus")]
pub mod corpus;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt::Write as _;
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
    #[serde(default)]
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
    /// A rule id holds characters other than ASCII letters, digits, `.`, `_` and `-`, or is
    /// too long (it is written into masks as `[REDACTED:<id>]`).
    #[error(
        "redaction rule id `{0}` may only hold ASCII letters, digits, `.`, `_` and `-` (at most {MAX_ID_LEN} characters)"
    )]
    BadId(String),
    /// A keyword is empty (it would match every text).
    #[error("redaction rule `{0}`: a keyword is empty")]
    EmptyKeyword(String),
    /// `min_entropy` is not a number between 0 and 8.
    #[error("redaction rule `{0}`: min_entropy must be between 0 and 8 (bits per character)")]
    BadEntropy(String),
    /// A custom rule takes the id of a built-in rule (or `sensitive-key`).
    #[error(
        "redaction rule id `{0}` is the id of a built-in rule; choose another id (and disable the built-in if it must not apply)"
    )]
    ReservedId(String),
    /// `disable` names a rule that is not built in.
    #[error("no built-in redaction rule `{0}` to disable")]
    UnknownBuiltin(String),
}

/// The longest rule id accepted.
pub const MAX_ID_LEN: usize = 64;

/// The id reported when the string value of a secret-naming JSON key (`"password": …`) is
/// masked whole. It is not a rule of the list and cannot be disabled or reused.
pub const SENSITIVE_KEY_RULE: &str = "sensitive-key";

mod gate;
use gate::Gate;

struct Compiled {
    spec: RuleSpec,
    keywords_lower: Vec<String>,
    regex: OnceLock<Regex>,
}

/// A compiled rule set.
pub struct Redactor {
    rules: Vec<Compiled>,
    /// One automaton over every rule's keywords, built on first use.
    gate: OnceLock<Gate>,
    /// [`Redactor::id`].
    id: u64,
}

/// A new [`Redactor::id`].
fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
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
            "PEM private key block (RSA, EC, DSA, OPENSSH, PKCS#8, encrypted, PGP); a block cut off before its END line is masked to the end",
            r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?P<secret>[\s\S]*?)(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\z)",
            &["PRIVATE KEY"],
            None,
        ),
        spec(
            "aws-access-key-id",
            "AWS access key id",
            r"(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16})",
            &[
                "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA",
                "A3T",
            ],
            None,
        ),
        spec(
            "aws-secret-access-key",
            "AWS secret access key (assignments, `aws configure set`, credentials files)",
            r#"(?i)aws_?secret_?(?:access_?)?key(?:_id)?["']?(?:\s*[:=]\s*|\s+)["']?(?P<secret>[A-Za-z0-9/+=]{40})"#,
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
            r"(?P<secret>AIza[0-9A-Za-z_-]{35})",
            &["AIza"],
            None,
        ),
        spec(
            "github-token",
            "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_)",
            r"(?P<secret>gh[opusr]_[A-Za-z0-9]{36,255})",
            &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
            None,
        ),
        spec(
            "github-fine-grained-pat",
            "GitHub fine-grained personal access token",
            r"(?P<secret>github_pat_[A-Za-z0-9_]{22,255})",
            &["github_pat_"],
            None,
        ),
        spec(
            "slack-token",
            "Slack token (xoxb, xoxp, xoxa, xoxr, xoxs, xoxe, xapp)",
            r"(?P<secret>(?:xox[abposre]|xapp)(?:-[A-Za-z0-9]+){1,}-?[A-Za-z0-9]*)",
            &["xox", "xapp-"],
            None,
        ),
        spec(
            "slack-webhook",
            "Slack incoming webhook or workflow trigger URL",
            r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9/_+-]{16,})",
            &["hooks.slack.com"],
            None,
        ),
        spec(
            "stripe-secret-key",
            "Stripe live secret or restricted key",
            r"(?P<secret>(?:sk|rk)_live_[A-Za-z0-9]{16,})",
            &["sk_live_", "rk_live_"],
            None,
        ),
        spec(
            "jwt",
            "JSON Web Token",
            r"(?P<secret>eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{8,})",
            &["eyJ"],
            None,
        ),
        spec(
            "url-password",
            "password in a URL (scheme://user:pass@host)",
            r"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@'\x22]*:(?P<secret>[^\s@/'\x22]+)@",
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
            "basic-auth-flag",
            "user:password given to curl or HTTPie as -u/--user/--proxy-user/-a/--auth",
            r#"\b(?:curl|http|https|xh)\b[^\n;&|]*?\s(?:-u|--user|--proxy-user|-a|--auth)(?:\s+|=)?["']?[^\s:'"]*:(?P<secret>[^\s'"]+)"#,
            &["curl", "http", "xh"],
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
    // Called for every key of every record redacted (the service's hot path): the key's
    // letters and digits, lowercased, go to a stack buffer instead of a new String.
    let mut buf = [0u8; 128];
    let mut len = 0;
    for b in key.bytes().filter(u8::is_ascii_alphanumeric) {
        if len == buf.len() {
            return is_sensitive_normalised(
                &key.bytes()
                    .filter(u8::is_ascii_alphanumeric)
                    .map(|b| b.to_ascii_lowercase())
                    .collect::<Vec<u8>>(),
            );
        }
        buf[len] = b.to_ascii_lowercase();
        len += 1;
    }
    is_sensitive_normalised(&buf[..len])
}

/// The words that make a key sensitive, in a key reduced to lowercase letters and digits.
const SENSITIVE_WORDS: [&[u8]; 11] = [
    b"token",
    b"secret",
    b"password",
    b"passwd",
    b"passphrase",
    b"apikey",
    b"accesskey",
    b"privatekey",
    b"credential",
    b"authorization",
    b"clientsecret",
];

/// [`is_sensitive_key`] on a key already reduced to lowercase letters and digits.
fn is_sensitive_normalised(k: &[u8]) -> bool {
    const WORDS: [&[u8]; 11] = SENSITIVE_WORDS;
    // The words by their first letter, tried only where the key has that letter: the same
    // answer as looking for each word at every position, at a fraction of the comparisons
    // (this runs for every key of every record the service stores).
    let found = (0..k.len()).any(|i| {
        let rest = &k[i..];
        match rest[0] {
            b't' => rest.starts_with(WORDS[0]),
            b's' => rest.starts_with(WORDS[1]),
            b'p' => {
                rest.starts_with(WORDS[2])
                    || rest.starts_with(WORDS[3])
                    || rest.starts_with(WORDS[4])
                    || rest.starts_with(WORDS[7])
            }
            b'a' => {
                rest.starts_with(WORDS[5])
                    || rest.starts_with(WORDS[6])
                    || rest.starts_with(WORDS[9])
            }
            b'c' => rest.starts_with(WORDS[8]) || rest.starts_with(WORDS[10]),
            _ => false,
        }
    });
    found && !k.ends_with(b"count") && !k.ends_with(b"type") && !k.ends_with(b"name")
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

/// The ids of the built-in rules, in order.
pub fn builtin_ids() -> Vec<String> {
    Redactor::builtin().rules().map(|r| r.id.clone()).collect()
}

/// Checks a rule's id: non-empty, ASCII letters, digits, `.`, `_`, `-`, at most [`MAX_ID_LEN`].
pub fn check_id(id: &str) -> Result<(), RedactError> {
    if id.is_empty() {
        return Err(RedactError::EmptyId);
    }
    if id.len() > MAX_ID_LEN
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(RedactError::BadId(id.to_string()));
    }
    Ok(())
}

/// Checks everything about one rule except its expression: id, keywords, entropy bound.
fn check_fields(spec: &RuleSpec) -> Result<(), RedactError> {
    check_id(&spec.id)?;
    if spec.keywords.iter().any(|k| k.trim().is_empty()) {
        return Err(RedactError::EmptyKeyword(spec.id.clone()));
    }
    if spec
        .min_entropy
        .is_some_and(|e| !e.is_finite() || !(0.0..=8.0).contains(&e))
    {
        return Err(RedactError::BadEntropy(spec.id.clone()));
    }
    Ok(())
}

/// Compiles a rule's expression (or says why it does not compile).
pub fn compile_regex(spec: &RuleSpec) -> Result<Regex, RedactError> {
    Regex::new(&spec.regex).map_err(|e| RedactError::BadRegex {
        id: spec.id.clone(),
        source: Box::new(e),
    })
}

/// Checks one rule as data, the way a policy pack's rules are checked when the pack loads:
/// its id, keywords and entropy bound, and that its expression compiles.
pub fn check_rule(spec: &RuleSpec) -> Result<(), RedactError> {
    check_fields(spec)?;
    compile_regex(spec).map(|_| ())
}

impl Compiled {
    fn lazy(spec: RuleSpec) -> Compiled {
        Compiled {
            keywords_lower: spec
                .keywords
                .iter()
                .map(|k| k.to_ascii_lowercase())
                .collect(),
            spec,
            regex: OnceLock::new(),
        }
    }
}

impl Redactor {
    /// The effective rule set of a policy pack: the built-in rules except those named in
    /// `disable`, then the pack's own rules. Ids and fields are checked here; expressions
    /// compile lazily, the first time one of a rule's keywords is seen (a pack's rules were
    /// compiled once when the pack was validated). Should an expression fail to compile after
    /// all, every string the rule is tried on is masked whole: redaction fails closed.
    pub fn for_pack(disable: &[String], rules: &[RuleSpec]) -> Result<Redactor, RedactError> {
        let builtin = builtin_rules();
        for id in disable {
            if !builtin.iter().any(|b| &b.id == id) {
                return Err(RedactError::UnknownBuiltin(id.clone()));
            }
        }
        let mut seen: std::collections::HashSet<String> =
            builtin.iter().map(|b| b.id.clone()).collect();
        seen.insert(SENSITIVE_KEY_RULE.to_string());
        let mut out: Vec<Compiled> = builtin
            .into_iter()
            .filter(|b| !disable.contains(&b.id))
            .map(Compiled::lazy)
            .collect();
        for spec in rules {
            check_fields(spec)?;
            if spec.id == SENSITIVE_KEY_RULE || Redactor::builtin().rules().any(|b| b.id == spec.id)
            {
                return Err(RedactError::ReservedId(spec.id.clone()));
            }
            if !seen.insert(spec.id.clone()) {
                return Err(RedactError::DuplicateId(spec.id.clone()));
            }
            out.push(Compiled::lazy(spec.clone()));
        }
        Ok(Redactor {
            rules: out,
            gate: OnceLock::new(),
            id: next_id(),
        })
    }

    /// Builds a rule set, checking every expression up front.
    pub fn new(rules: Vec<RuleSpec>) -> Result<Redactor, RedactError> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(rules.len());
        for spec in rules {
            check_fields(&spec)?;
            if !seen.insert(spec.id.clone()) {
                return Err(RedactError::DuplicateId(spec.id));
            }
            // Checked here so that a bad custom rule fails at load time, not on the first
            // secret; the compiled expression is kept.
            let regex = compile_regex(&spec)?;
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
        Ok(Redactor {
            rules: out,
            gate: OnceLock::new(),
            id: next_id(),
        })
    }

    /// The process-wide built-in rule set. Its expressions compile lazily, the first time one
    /// of a rule's keywords is seen, so the hook's fast path pays nothing for them.
    pub fn builtin() -> &'static Redactor {
        static BUILTIN: OnceLock<Redactor> = OnceLock::new();
        BUILTIN.get_or_init(|| Redactor {
            rules: builtin_rules().into_iter().map(Compiled::lazy).collect(),
            gate: OnceLock::new(),
            id: next_id(),
        })
    }

    /// A number that no other rule set built in this process has (never 0): a caller may
    /// remember what this rule set made of a text under it, as the rules never change.
    /// That memory holds only while a text's redaction depends on the text alone, never on
    /// where in a document it stands (its JSON pointer names findings, nothing else): a rule
    /// scoped to a path would have to take part in this id's contract.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The rules, as data.
    pub fn rules(&self) -> impl Iterator<Item = &RuleSpec> {
        self.rules.iter().map(|r| &r.spec)
    }

    /// Whether every rule of `other` is also one of these (same id, expression, keywords
    /// and entropy floor): then redacting with these finds whatever `other` would.
    pub fn includes(&self, other: &Redactor) -> bool {
        // Asked on every decision the service records. A pack's rules start with the built-in
        // ones in their order, so the common case is a prefix, checked in one pass.
        std::ptr::eq(self, other)
            || (other.rules.len() <= self.rules.len()
                && other
                    .rules
                    .iter()
                    .zip(&self.rules)
                    .all(|(o, s)| o.spec == s.spec))
            || other
                .rules
                .iter()
                .all(|o| self.rules.iter().any(|s| s.spec == o.spec))
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
        let mut value = value.clone();
        let findings = self.redact_json_in_place(&mut value);
        Redacted { value, findings }
    }

    /// [`Redactor::redact_json`] on a value the caller owns: only the strings that change
    /// are replaced, nothing else is copied. Returns the findings.
    pub fn redact_json_in_place(&self, value: &mut Value) -> Vec<Finding> {
        let mut findings = Vec::new();
        self.walk(value, &mut String::new(), false, &mut findings);
        findings
    }

    fn walk(
        &self,
        value: &mut Value,
        pointer: &mut String,
        sensitive: bool,
        findings: &mut Vec<Finding>,
    ) {
        match value {
            Value::String(s) => {
                if let Some(masked) = self.redact_json_string(s, pointer, sensitive, findings) {
                    *s = masked;
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    let len = pointer.len();
                    pointer.push('/');
                    // Writing to a String cannot fail.
                    let _ = write!(pointer, "{i}");
                    self.walk(v, pointer, sensitive, findings);
                    pointer.truncate(len);
                }
            }
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    let len = pointer.len();
                    pointer.push('/');
                    push_pointer_token(pointer, k);
                    self.walk(v, pointer, sensitive || is_sensitive_key(k), findings);
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
    }

    /// One string value of a JSON document as [`Redactor::redact_json_in_place`] treats it:
    /// masked whole when a key above it names a secret (`sensitive`), else every secret in it
    /// masked. `pointer` is its RFC 6901 pointer, for the findings. Returns the new text, or
    /// None when it stays as it is. For serialisers that redact as they write.
    pub fn redact_json_string(
        &self,
        s: &str,
        pointer: &str,
        sensitive: bool,
        findings: &mut Vec<Finding>,
    ) -> Option<String> {
        if sensitive && !s.is_empty() && !is_mask(s) {
            findings.push(Finding {
                pointer: pointer.to_string(),
                rule: SENSITIVE_KEY_RULE.into(),
            });
            Some(mask(SENSITIVE_KEY_RULE))
        } else {
            self.redact_changed(s, pointer, findings)
        }
    }

    fn redact_str_at(&self, text: &str, pointer: &str, findings: &mut Vec<Finding>) -> String {
        self.redact_changed(text, pointer, findings)
            .unwrap_or_else(|| text.to_string())
    }

    /// The text with its secrets masked, or None when it has none.
    fn redact_changed(
        &self,
        text: &str,
        pointer: &str,
        findings: &mut Vec<Finding>,
    ) -> Option<String> {
        let gate = self
            .gate
            .get_or_init(|| Gate::build(self.rules.iter().map(|r| r.keywords_lower.as_slice())));
        // Every string of every record comes through here: a rule set of ordinary size marks
        // its rules on the stack.
        let mut on_stack = [false; 64];
        let mut on_heap = Vec::new();
        let active: &mut [bool] = if self.rules.len() <= on_stack.len() {
            &mut on_stack[..self.rules.len()]
        } else {
            on_heap.resize(self.rules.len(), false);
            &mut on_heap
        };
        gate.mark(text, active);
        let mut current: Option<String> = None;
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.keywords_lower.is_empty() && !active[i] {
                continue;
            }
            let src = current.as_deref().unwrap_or(text);
            let Some(regex) = rule.regex() else {
                // Fail closed: a rule that cannot run masks the whole string.
                findings.push(Finding {
                    pointer: pointer.to_string(),
                    rule: rule.spec.id.clone(),
                });
                current = Some(mask(&rule.spec.id));
                break;
            };
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
        current
    }
}

impl Compiled {
    fn regex(&self) -> Option<&Regex> {
        if let Some(r) = self.regex.get() {
            return Some(r);
        }
        // Built-in expressions are covered by tests and a pack's are checked when it loads; a
        // failure here is answered by the caller masking the whole string.
        let compiled = Regex::new(&self.spec.regex).ok()?;
        Some(self.regex.get_or_init(|| compiled))
    }
}

/// Appends a JSON Pointer reference token (RFC 6901: `~` as `~0`, `/` as `~1`).
pub fn push_pointer_token(pointer: &mut String, key: &str) {
    if !key.contains(['~', '/']) {
        pointer.push_str(key);
        return;
    }
    for c in key.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

fn is_mask(s: &str) -> bool {
    s.starts_with("[REDACTED:") && s.ends_with(']')
}

/// A connection URL without its password (`scheme://user:***@host/…`), for messages and logs;
/// a URL with no password is returned as it is.
pub fn url_without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy as _;

    /// The search of [`is_sensitive_normalised`] before it went by first letter: each word
    /// looked for at every position.
    fn sensitive_by_windows(k: &[u8]) -> bool {
        const WORDS: [&[u8]; 11] = SENSITIVE_WORDS;
        WORDS
            .iter()
            .any(|w| k.windows(w.len()).any(|window| window == *w))
            && !k.ends_with(b"count")
            && !k.ends_with(b"type")
            && !k.ends_with(b"name")
    }

    proptest::proptest! {
        /// Keys made of pieces of the words (and their suffixes), letters and digits answer as
        /// the search at every position did.
        #[test]
        fn sensitive_keys_by_first_letter_are_sensitive_keys_by_windows(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        "token", "tok", "secret", "secre", "password", "passwd", "passphrase",
                        "pass", "apikey", "api", "accesskey", "access", "privatekey", "private",
                        "credential", "cred", "authorization", "auth", "clientsecret", "client",
                        "count", "type", "name", "_", "-", "X", "S", "P",
                    ]).prop_map(str::to_string),
                    "[a-z0-9_]{0,4}",
                ],
                0..6,
            )
        ) {
            let key: String = pieces.concat();
            let normalised: Vec<u8> = key
                .bytes()
                .filter(u8::is_ascii_alphanumeric)
                .map(|b| b.to_ascii_lowercase())
                .collect();
            proptest::prop_assert_eq!(
                is_sensitive_normalised(&normalised),
                sensitive_by_windows(&normalised),
                "{}", key
            );
        }
    }

    #[test]
    fn a_url_loses_its_password_and_nothing_else() {
        assert_eq!(
            url_without_password("postgres://cavra:s3cr@t@db:5432/cavra"),
            "postgres://cavra:***@db:5432/cavra"
        );
        assert_eq!(
            url_without_password("postgres://cavra@db/cavra"),
            "postgres://cavra@db/cavra"
        );
        assert_eq!(
            url_without_password("sqlite:///tmp/x.db"),
            "sqlite:///tmp/x.db"
        );
    }

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

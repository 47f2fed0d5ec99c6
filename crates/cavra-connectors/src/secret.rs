//! Secrets by reference only: `env:NAME` (an environment variable of the service) or
//! `file:/absolute/path` (a mounted secret such as `/run/secrets/x`). The configuration file
//! never holds a secret, so it can live in source control; anything else in a secret field
//! is refused with the field named.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ConnectorError;

/// The largest secret file read (a token or a password, not a document).
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Where a secret is: the reference as written in the configuration.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretRef(String);

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source<'a> {
    /// An environment variable.
    Env(&'a str),
    /// A file (absolute path).
    File(&'a str),
}

impl SecretRef {
    /// A reference from its text (checked by [`SecretRef::check`]).
    pub fn new(text: impl Into<String>) -> Self {
        SecretRef(text.into())
    }

    /// The reference as written (safe to show: it is not the secret).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses the reference; `field` names where it was written, for the error. Anything but
    /// `env:NAME` or `file:/path` is taken for an inline secret and refused, without echoing
    /// it.
    pub fn check(&self, field: &str) -> Result<Source<'_>, ConnectorError> {
        if let Some(name) = self.0.strip_prefix("env:") {
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(ConnectorError::Config(format!(
                    "{field}: `env:` must be followed by an environment variable's name ([A-Za-z_][A-Za-z0-9_]*)"
                )));
            }
            return Ok(Source::Env(name));
        }
        if let Some(path) = self.0.strip_prefix("file:") {
            if !path.starts_with('/') {
                return Err(ConnectorError::Config(format!(
                    "{field}: `file:` must be followed by an absolute path"
                )));
            }
            return Ok(Source::File(path));
        }
        Err(ConnectorError::Config(format!(
            "{field} holds an inline secret, which is refused: give a reference instead, env:NAME or file:/path"
        )))
    }

    /// Reads the secret now (at start, and again when a connector is rebuilt). Surrounding
    /// whitespace (the newline a secret file ends with) is not part of it.
    pub fn resolve(&self, field: &str) -> Result<Secret, ConnectorError> {
        let fail = |reason: String| ConnectorError::Secret {
            reference: self.0.clone(),
            reason,
        };
        let value = match self.check(field)? {
            Source::Env(name) => std::env::var(name).map_err(|e| fail(e.to_string()))?,
            Source::File(path) => {
                use std::io::Read as _;
                let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
                let mut text = String::new();
                file.take(MAX_SECRET_BYTES + 1)
                    .read_to_string(&mut text)
                    .map_err(|e| fail(e.to_string()))?;
                if text.len() as u64 > MAX_SECRET_BYTES {
                    return Err(fail(format!("larger than {MAX_SECRET_BYTES} bytes")));
                }
                text
            }
        };
        let value = value.trim().to_string();
        if value.is_empty() {
            return Err(fail("empty".into()));
        }
        Ok(Secret(value))
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An inline secret may sit here until `check` refuses it: never print the text
        // unless it is a reference.
        if self.0.starts_with("env:") || self.0.starts_with("file:") {
            write!(f, "SecretRef({})", self.0)
        } else {
            f.write_str("SecretRef(<inline, refused>)")
        }
    }
}

/// A resolved secret. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_inline_secrets_are_refused_by_field() {
        assert_eq!(
            SecretRef::new("env:SPLUNK_TOKEN").check("x").ok(),
            Some(Source::Env("SPLUNK_TOKEN"))
        );
        assert_eq!(
            SecretRef::new("file:/run/secrets/hec").check("x").ok(),
            Some(Source::File("/run/secrets/hec"))
        );
        let inline = "a1b2c3d4-0000-1111-2222-333344445555";
        let err = SecretRef::new(inline)
            .check("connectors[0] (siem).splunk_hec.token")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("connectors[0] (siem).splunk_hec.token"),
            "{err}"
        );
        assert!(err.contains("inline secret"), "{err}");
        assert!(!err.contains(inline), "the secret is never echoed: {err}");
        assert!(!format!("{:?}", SecretRef::new(inline)).contains(inline));
        for bad in ["env:", "env:1X", "env:A-B", "file:relative/path"] {
            assert!(SecretRef::new(bad).check("f").is_err(), "{bad}");
        }
    }

    #[test]
    fn file_secrets_are_read_and_trimmed_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cr3t-value\n").unwrap();
        let r = SecretRef::new(format!("file:{}", path.display()));
        let s = r.resolve("f").unwrap();
        assert_eq!(s.expose(), "s3cr3t-value");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let missing = SecretRef::new("file:/nonexistent/cavra-secret");
        let err = missing.resolve("f").unwrap_err().to_string();
        assert!(err.contains("file:/nonexistent/cavra-secret"), "{err}");
        std::fs::write(&path, "   \n").unwrap();
        assert!(r.resolve("f").is_err(), "an empty secret is an error");
    }
}

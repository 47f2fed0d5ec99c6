//! `cavra validate tenants`: the live tenant isolation validator an operator runs against a
//! deployed service, over HTTP only, with two probe tenants' credentials. It creates probe
//! objects in both tenants (decisions, an approval request, a pack, connector test events),
//! proves the operations guide's five points in both directions from outside, cleans up what
//! the API can remove, names the rest as probe data, and writes one signed
//! [`report::TenantReport`] per tenant (recorded in the tenant's log through
//! `POST /v1/validations` when the service offers it).

mod client;
mod proofs;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use cavra_evidence::keys::SigningKey;
use serde::Deserialize;

pub use client::Client;
use report::{ProbeObject, TenantReport};

/// Why the validator could not run (a failed proof is not an error: it is in the report).
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    /// A credential file that does not read.
    #[error("{path}: {reason}")]
    Credentials {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The service could not be used (unreachable, or refused a call every proof needs).
    #[error("{0}")]
    Service(String),
    /// Both credentials are of the same tenant.
    #[error("both probe credentials are of tenant {0}: give two tenants")]
    SameTenant(String),
    /// Writing a report failed.
    #[error("{path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A probe tenant's credentials: one bearer token per role the proofs act in. A file is
/// either a single token (one credential holding the agent, admin and auditor roles) or a
/// JSON object `{"agent": "…", "admin": "…", "auditor": "…"}` (a missing role falls back to
/// `"token"`).
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Creates decisions.
    pub agent: String,
    /// Uploads packs, sends connector test events, reads deliveries and readiness.
    pub admin: String,
    /// Reads evidence, bundles and posture.
    pub auditor: String,
}

#[derive(Deserialize)]
struct CredFile {
    token: Option<String>,
    agent: Option<String>,
    admin: Option<String>,
    auditor: Option<String>,
}

impl Credentials {
    /// Reads a credential file.
    pub fn read(path: &Path) -> Result<Self, ValidationError> {
        let bad = |reason: String| ValidationError::Credentials {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        Self::parse(&text).map_err(bad)
    }

    /// Parses a credential file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty: put a bearer token in it".into());
        }
        if !text.starts_with('{') {
            return Ok(Credentials {
                agent: text.into(),
                admin: text.into(),
                auditor: text.into(),
            });
        }
        let f: CredFile = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let pick = |v: Option<String>, role: &str| {
            v.or_else(|| f.token.clone())
                .ok_or_else(|| format!("no {role} token (and no \"token\")"))
        };
        Ok(Credentials {
            agent: pick(f.agent.clone(), "agent")?,
            admin: pick(f.admin.clone(), "admin")?,
            auditor: pick(f.auditor.clone(), "auditor")?,
        })
    }
}

/// The key that signs the reports.
pub struct Signer {
    /// The trust root's id of the key.
    pub key_id: String,
    /// The key.
    pub key: SigningKey,
}

/// What to validate and where the reports go.
pub struct Config {
    /// The service's base URL.
    pub server: String,
    /// Probe tenant A.
    pub a: Credentials,
    /// Probe tenant B.
    pub b: Credentials,
    /// Signs the reports (none: bare reports, which do not verify).
    pub signer: Option<Signer>,
    /// Where `<tenant>.json` goes per tenant.
    pub output: PathBuf,
    /// How long to wait for connector deliveries to settle (delivered or dead).
    pub wait: Duration,
    /// Each request's timeout.
    pub timeout: Duration,
}

/// A written report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    /// The report.
    pub report: TenantReport,
    /// Its file.
    pub path: PathBuf,
    /// Whether the service recorded it in the tenant's log (`POST /v1/validations`), or why not.
    pub recorded: Result<u64, String>,
}

/// The outcome of a run: one report per tenant.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// Tenant A's and tenant B's.
    pub reports: Vec<Written>,
}

impl Outcome {
    /// Every proof held in both tenants.
    pub fn passed(&self) -> bool {
        self.reports.iter().all(|w| w.report.passed)
    }

    /// The failed proofs, with their tenant.
    pub fn failures(&self) -> Vec<String> {
        self.reports
            .iter()
            .flat_map(|w| {
                w.report
                    .failures()
                    .into_iter()
                    .map(|f| format!("tenant {}: {f}", w.report.tenant))
            })
            .collect()
    }
}

/// Runs the validation: probes, the five proofs in both directions, clean-up, reports.
pub async fn run(config: &Config) -> Result<Outcome, ValidationError> {
    let started_at = crate::now_text();
    let run_id = format!("cavra-probe-{}", uuid::Uuid::new_v4().simple());
    let http = Client::new(&config.server, config.timeout)?;
    let a = proofs::Side::open(&http, &config.a, "a").await?;
    let b = proofs::Side::open(&http, &config.b, "b").await?;
    if a.tenant == b.tenant {
        return Err(ValidationError::SameTenant(a.tenant));
    }
    let mut a_objects: Vec<ProbeObject> = Vec::new();
    let mut b_objects: Vec<ProbeObject> = Vec::new();
    let signer = config.signer.as_ref();
    let pa = proofs::plant(&http, &a, &run_id, signer, &mut a_objects).await;
    let pb = proofs::plant(&http, &b, &run_id, signer, &mut b_objects).await;
    proofs::settle(&http, &a, &pa, config.wait).await;
    proofs::settle(&http, &b, &pb, config.wait).await;
    let a_proofs = proofs::all(&http, (&a, &pa), (&b, &pb)).await;
    let b_proofs = proofs::all(&http, (&b, &pb), (&a, &pa)).await;
    proofs::clean(&http, &a, &mut a_objects).await;
    proofs::clean(&http, &b, &mut b_objects).await;
    let mut reports = Vec::new();
    for (side, peer, proofs, objects) in
        [(&a, &b, a_proofs, a_objects), (&b, &a, b_proofs, b_objects)]
    {
        let report = TenantReport {
            format: report::FORMAT.into(),
            tenant: side.tenant.clone(),
            peer_tenant: peer.tenant.clone(),
            server: config.server.clone(),
            run_id: run_id.clone(),
            started_at: started_at.clone(),
            signed_at: crate::now_text(),
            key_id: config
                .signer
                .as_ref()
                .map(|s| s.key_id.clone())
                .unwrap_or_default(),
            passed: proofs.iter().all(|p| p.passed),
            proofs,
            probe_objects: objects,
        };
        let text = match &config.signer {
            Some(s) => report
                .sign(&s.key)
                .map_err(|e| ValidationError::Service(e.to_string()))?,
            None => serde_json::to_string_pretty(&report)
                .map_err(|e| ValidationError::Service(e.to_string()))?,
        };
        let path = config.output.join(format!("{}.json", side.tenant));
        write(&path, &text)?;
        let recorded = if config.signer.is_some() {
            http.record(&side.creds.admin, &text).await
        } else {
            Err("unsigned: not recorded".into())
        };
        reports.push(Written {
            report,
            path,
            recorded,
        });
    }
    Ok(Outcome { reports })
}

fn write(path: &Path, text: &str) -> Result<(), ValidationError> {
    let bad = |e: std::io::Error| ValidationError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(bad)?;
    }
    cavra_runtime::repo::write_atomic(path, text.as_bytes()).map_err(bad)
}

/// Whether `value` is an http(s) URL.
pub fn is_url(value: &str) -> bool {
    value.starts_with("http://") || value.starts_with("https://")
}

/// [`run`] on a runtime of its own, for the CLI.
pub fn run_blocking(config: &Config) -> Result<Outcome, ValidationError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ValidationError::Service(format!("no async runtime: {e}")))?
        .block_on(run(config))
}

impl Outcome {
    /// The exit code of `cavra validate tenants`: 0 every proof held, 4 one failed.
    pub fn exit_code(&self) -> i32 {
        if self.passed() { 0 } else { 4 }
    }

    /// Each report as text, where it was written and whether it was recorded, then the
    /// failed proofs by name.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for w in &self.reports {
            out.push_str(&w.report.to_text());
            out.push_str(&format!("  report: {}\n", w.path.display()));
            match &w.recorded {
                Ok(i) => out.push_str(&format!("  recorded in the tenant's log at {i}\n")),
                Err(e) => out.push_str(&format!("  not recorded in the tenant's log: {e}\n")),
            }
        }
        for f in self.failures() {
            out.push_str(&format!("FAILED {f}\n"));
        }
        out
    }
}

/// `cavra validate verify REPORT`: a tenant validation report (by its payload type) or a
/// runtime validation report (`cavra_validate::report`, with its `bundle` when given), verified
/// against `trust`: the JSON `--json` prints, the text, and the exit code (0 verified and
/// passed, 4 verified and failed, 1 it does not verify; the text then says why).
pub fn verify_any(
    text: &str,
    trust: &cavra_evidence::trust::TrustRoot,
    bundle: Option<&Path>,
) -> (serde_json::Value, String, i32) {
    let payload_type = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            v.get("payloadType")
                .and_then(|t| t.as_str())
                .map(str::to_string)
        });
    let bare = text.contains(report::FORMAT) && payload_type.is_none();
    if payload_type.as_deref() != Some(report::PAYLOAD_TYPE) && !bare {
        return cavra_validate::report::verify_printed(text, trust, bundle);
    }
    match report::verify(text, trust) {
        Ok(v) => {
            let code = if v.report.passed { 0 } else { 4 };
            let text = format!("verified: signed by {}\n{}", v.key_id, v.report.to_text());
            (
                serde_json::json!({"verified": true, "report": v}),
                text,
                code,
            )
        }
        Err(e) => (
            serde_json::json!({"verified": false, "error": e.to_string()}),
            format!("not verified: {e}"),
            1,
        ),
    }
}

/// [`verify_any`] of the report file `file` against the trust root file `trust_root`.
pub fn verify_file(file: &Path, trust_root: &Path) -> (serde_json::Value, String, i32) {
    let read = cavra_runtime::trust_file::read(trust_root)
        .map_err(|e| format!("{}: {e}", trust_root.display()))
        .and_then(|trust| {
            let text =
                std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
            Ok(verify_any(&text, &trust, None))
        });
    read.unwrap_or_else(|e| {
        let text = format!("not verified: {e}");
        (serde_json::json!({"verified": false, "error": e}), text, 1)
    })
}

impl Config {
    /// The configuration `cavra validate tenants` builds from its flags: the service, the two
    /// probe credential files, the signing key file (with its id; default: the file's name),
    /// the output folder and how many seconds to wait for deliveries.
    pub fn from_files(
        server: &str,
        probe_a: &Path,
        probe_b: &Path,
        sign_key: Option<(&Path, Option<&str>)>,
        output: &Path,
        wait_seconds: u64,
    ) -> Result<Config, ValidationError> {
        let signer = sign_key
            .map(|(path, id)| {
                cavra_runtime::keyfiles::signer(path, id)
                    .map(|s| Signer {
                        key_id: s.key_id,
                        key: s.key,
                    })
                    .map_err(|e| ValidationError::Credentials {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    })
            })
            .transpose()?;
        Ok(Config {
            server: server.to_string(),
            a: Credentials::read(probe_a)?,
            b: Credentials::read(probe_b)?,
            signer,
            output: output.to_path_buf(),
            wait: Duration::from_secs(wait_seconds),
            timeout: Duration::from_secs(60),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Credentials;

    #[test]
    fn credentials_are_one_token_or_one_per_role() {
        let one = Credentials::parse("cav_abc\n").expect("one token");
        assert_eq!(
            (one.agent.as_str(), one.auditor.as_str()),
            ("cav_abc", "cav_abc")
        );
        let roles = Credentials::parse(r#"{"token": "t", "agent": "ag"}"#).expect("roles");
        assert_eq!((roles.agent.as_str(), roles.admin.as_str()), ("ag", "t"));
        assert!(Credentials::parse(r#"{"agent": "ag"}"#).is_err());
        assert!(Credentials::parse("  ").is_err());
    }
}

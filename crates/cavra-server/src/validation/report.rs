//! The signed tenant validation report: one per probe tenant, a DSSE envelope over the
//! canonical JSON of a [`TenantReport`], signed with an Ed25519 key of the trust root, and
//! verified offline by [`verify`] (`cavra validate verify`).

use cavra_evidence::canonical::to_canonical_bytes;
use cavra_evidence::dsse::Envelope;
use cavra_evidence::keys::SigningKey;
use cavra_evidence::trust::TrustRoot;
use serde::{Deserialize, Serialize};

/// The DSSE payload type of a tenant validation report.
pub const PAYLOAD_TYPE: &str = "application/vnd.cavra.tenant-validation+json";
/// The `format` of a tenant validation report.
pub const FORMAT: &str = "cavra-tenant-validation/v1";

/// One of the five isolation proofs, as run against the service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProofResult {
    /// 1 to 5, the operations guide's order.
    pub id: u8,
    /// Its short name (`evidence`, `policy_packs`, `report_delivery`, `connector_blockers`,
    /// `posture`).
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// What was checked, or what failed.
    pub detail: String,
}

/// What became of an object the validator created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cleanup {
    /// Removed through the API.
    Deleted,
    /// Closed through the API (an approval request expired).
    Closed,
    /// The API cannot delete it (append-only evidence, packs, deliveries): it stays, named as
    /// probe data (`cavra-probe-…`).
    MarkedProbe,
    /// Removing it failed: it stays, named as probe data.
    Failed,
}

/// An object the validator created in the tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeObject {
    /// `decision`, `approval`, `pack`, `connector_event`, `registry_entry`.
    pub kind: String,
    /// Its id in the tenant.
    pub id: String,
    /// What became of it.
    pub cleanup: Cleanup,
}

/// The validation of one tenant against its peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TenantReport {
    /// [`FORMAT`].
    pub format: String,
    /// The tenant the report is about (from its credential's `/v1/whoami`).
    pub tenant: String,
    /// The other probe tenant.
    pub peer_tenant: String,
    /// The service validated.
    pub server: String,
    /// The run's id (every probe object's name carries it).
    pub run_id: String,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// When the report was signed (RFC 3339).
    pub signed_at: String,
    /// The trust root's id of the signing key (empty: unsigned).
    pub key_id: String,
    /// The five proofs, in order.
    pub proofs: Vec<ProofResult>,
    /// What the run created in this tenant and what became of it.
    pub probe_objects: Vec<ProbeObject>,
    /// Every proof held.
    pub passed: bool,
}

impl TenantReport {
    /// The proofs that failed, as `N name: detail` lines.
    pub fn failures(&self) -> Vec<String> {
        self.proofs
            .iter()
            .filter(|p| !p.passed)
            .map(|p| format!("proof {} {}: {}", p.id, p.name, p.detail))
            .collect()
    }

    /// A human summary.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "tenant {} (against {}) at {}: {}\n",
            self.tenant,
            self.peer_tenant,
            self.server,
            if self.passed { "PASSED" } else { "FAILED" }
        );
        for p in &self.proofs {
            let mark = if p.passed { "ok  " } else { "FAIL" };
            out.push_str(&format!("  {mark} {} {}: {}\n", p.id, p.name, p.detail));
        }
        for o in &self.probe_objects {
            out.push_str(&format!("  probe {} {}: {:?}\n", o.kind, o.id, o.cleanup));
        }
        out
    }

    /// Signs the report with `key` (whose trust root id is `self.key_id`): the envelope's JSON.
    pub fn sign(&self, key: &SigningKey) -> Result<String, ReportError> {
        let value = serde_json::to_value(self).map_err(|e| ReportError::Invalid(e.to_string()))?;
        let mut env = Envelope::new(PAYLOAD_TYPE, &to_canonical_bytes(&value));
        env.add_signature(key, &self.key_id)
            .map_err(|e| ReportError::Invalid(e.to_string()))?;
        Ok(env.to_json())
    }
}

/// Why a report does not verify.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Not a report, or not one this version reads.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A bare report: nobody signed it.
    #[error("unsigned: a bare report, not a signed envelope")]
    Unsigned,
    /// The signature does not verify against the trust root (tampered, or an unknown key).
    #[error("signature: {0}")]
    Signature(String),
}

/// A report that verified: the signing key and its content.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// The trust root's id of the signing key.
    pub key_id: String,
    /// The report.
    pub report: TenantReport,
}

/// Verifies a report file's text offline against `trust`: a signature by one of its keys,
/// valid at the signed time, over a report of this format.
pub fn verify(text: &str, trust: &TrustRoot) -> Result<Verified, ReportError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ReportError::Invalid(format!("not JSON: {e}")))?;
    if value.get("format").and_then(|f| f.as_str()) == Some(FORMAT) {
        return Err(ReportError::Unsigned);
    }
    let env = Envelope::from_json(text)
        .map_err(|e| ReportError::Invalid(format!("not a signed report: {e}")))?;
    let at = |p: &[u8]| -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(p).ok()?;
        v.get("signed_at")?.as_str().map(str::to_string)
    };
    let by = trust
        .verify(&env, PAYLOAD_TYPE, None, &at)
        .map_err(|e| ReportError::Signature(e.to_string()))?;
    let report: TenantReport = serde_json::from_slice(&by.payload)
        .map_err(|e| ReportError::Invalid(format!("not a tenant validation report: {e}")))?;
    if report.format != FORMAT {
        return Err(ReportError::Invalid(format!("format {:?}", report.format)));
    }
    if report.passed != report.proofs.iter().all(|p| p.passed) || report.proofs.len() != 5 {
        return Err(ReportError::Invalid(
            "its verdict does not follow from its proofs".into(),
        ));
    }
    Ok(Verified {
        key_id: by.key_id,
        report,
    })
}

//! Signed packets an operator hands on and anyone verifies offline: the readiness packet
//! (`cavra readiness --packet`) and the AISPM review packet (`cavra aispm packet create`).
//!
//! A packet is a DSSE envelope over the canonical JSON of a [`Packet`], signed with an
//! Ed25519 key of the trust root. Verifying one ([`verify`]) fails with one [`Reason`]: the
//! CI examples and the docs key on those words, so they are part of the format.

use std::collections::BTreeMap;
use std::path::Path;

use cavra_evidence::canonical::to_canonical_bytes;
use cavra_evidence::dsse::Envelope;
use cavra_evidence::keys::SigningKey;
use cavra_evidence::trust::{TrustError, TrustRoot};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::readiness::Readiness;

/// The DSSE payload type of every packet.
pub const PAYLOAD_TYPE: &str = "application/vnd.cavra.packet+json";
/// The `format` of a packet.
pub const FORMAT: &str = "cavra-packet/v1";

/// What a packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The production readiness gate's result.
    Readiness,
    /// An AISPM review of a period.
    AispmReview,
    /// A step of the operating review chain (`cavra review`): its [`Packet::record`] says
    /// which step and what it found.
    ReviewRecord,
}

/// The signed content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Packet {
    /// [`FORMAT`].
    pub format: String,
    /// What it is.
    pub kind: Kind,
    /// When it was signed (RFC 3339): what `--max-age` is measured from.
    pub signed_at: String,
    /// The trust root's id of the signing key.
    pub key_id: String,
    /// The readiness gate's result (with the digests of the configuration it checked). Every
    /// readiness and review packet has one; a review record only when its step ran the gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Readiness>,
    /// The review, in an AISPM review packet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
    /// What a step of the operating review chain recorded (`cavra_review`). A record with
    /// `"passed": false` verifies as [`Reason::BlockersOpen`], its `problems` in the detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<serde_json::Value>,
}

/// An AISPM review of one tenant over a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// The tenant.
    pub tenant: String,
    /// The period (RFC 3339): entries at or after `since`, before `until`.
    pub since: String,
    /// End of the period.
    pub until: String,
    /// The posture over the period.
    pub posture: cavra_aispm::Posture,
    /// Factors short of full marks, in words.
    pub findings: Vec<Finding>,
    /// The evidence the figures rest on.
    pub evidence: EvidenceDigests,
    /// Approvals over the period.
    pub approvals: cavra_aispm::ApprovalFigures,
    /// The posture day by day over the period's days (UTC; absent from packets made before
    /// the trend existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trend: Option<crate::aispm::trend::Trend>,
}

/// A factor short of full marks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The factor.
    pub factor: cavra_aispm::FactorId,
    /// Its value, 0–1.
    pub value: f64,
    /// What it is made of.
    pub explanation: String,
}

/// The tenant's log when the packet was made: a verifier holding a bundle of that log can
/// check the packet speaks of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EvidenceDigests {
    /// The log's id.
    pub log_id: Option<String>,
    /// Entries in the log.
    pub size: u64,
    /// Its tree head (hex).
    pub root_hash: Option<String>,
    /// The latest signed checkpoint (DSSE JSON), when any.
    pub checkpoint: Option<String>,
}

/// Why a packet does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No signature.
    Unsigned,
    /// A signature that does not hold for the key it names: the packet changed after signing.
    Tampered,
    /// Signed by a key the trust root does not hold, holds revoked, or held outside its validity.
    UntrustedKey,
    /// Older than `--max-age`, or its configuration digests differ from the live service's.
    Stale,
    /// It verifies, and the readiness gate it carries has blockers.
    BlockersOpen,
    /// Not a packet (or not of the kind asked for).
    Invalid,
}

impl Reason {
    /// The word printed and matched on.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Unsigned => "unsigned",
            Reason::Tampered => "tampered",
            Reason::UntrustedKey => "untrusted_key",
            Reason::Stale => "stale",
            Reason::BlockersOpen => "blockers_open",
            Reason::Invalid => "invalid",
        }
    }
}

/// A packet that does not verify: the reason and the detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", reason.as_str())]
pub struct Refused {
    /// Why.
    pub reason: Reason,
    /// In words.
    pub detail: String,
}

fn refuse(reason: Reason, detail: impl Into<String>) -> Refused {
    Refused {
        reason,
        detail: detail.into(),
    }
}

/// Errors of making a packet.
#[derive(Debug, thiserror::Error)]
pub enum PacketError {
    /// The content could not be serialised or signed.
    #[error("signing the packet: {0}")]
    Sign(String),
    /// The source could not be read.
    #[error("{0}")]
    Source(String),
    /// A file could not be read or written.
    #[error("{path}: {error}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        error: String,
    },
}

fn file_error(path: &Path, error: impl std::fmt::Display) -> PacketError {
    PacketError::File {
        path: path.to_path_buf(),
        error: error.to_string(),
    }
}

/// Signs a packet (a review packet with `review`, else a readiness packet) with the key file
/// `key` (`--sign-key`, `--key-id`) and writes it to `output` whole or not at all.
pub fn write_signed(
    output: &Path,
    key: &Path,
    key_id: Option<&str>,
    readiness: Readiness,
    review: Option<Review>,
) -> Result<(), PacketError> {
    let kind = if review.is_some() {
        Kind::AispmReview
    } else {
        Kind::Readiness
    };
    let signer = cavra_runtime::keyfiles::signer(key, key_id).map_err(|e| file_error(key, e))?;
    let text = Packet::new(kind, &signer.key_id, readiness, review).sign(&signer.key)?;
    cavra_runtime::repo::write_atomic(output, text.as_bytes()).map_err(|e| file_error(output, e))
}

/// Verifies the packet file `file` against the trust root file `trust_root`. A packet that
/// does not verify is an [`Outcome`] with its reason; only unreadable files are errors.
pub fn verify_file(
    file: &Path,
    trust_root: &Path,
    expect: &Expect<'_>,
) -> Result<Outcome, PacketError> {
    let trust =
        cavra_runtime::trust_file::read(trust_root).map_err(|e| file_error(trust_root, e))?;
    let text = std::fs::read_to_string(file).map_err(|e| file_error(file, e))?;
    Ok(Outcome::of(&verify(&text, &trust, expect)))
}

impl Packet {
    /// A packet of `kind` signed now by `key_id`.
    pub fn new(kind: Kind, key_id: &str, readiness: Readiness, review: Option<Review>) -> Self {
        Packet {
            format: FORMAT.into(),
            kind,
            signed_at: crate::now_text(),
            key_id: key_id.to_string(),
            readiness: Some(readiness),
            review,
            record: None,
        }
    }

    /// A review record signed now by `key_id`: what the step found, and the readiness gate's
    /// result when the step ran it.
    pub fn review_record(
        key_id: &str,
        readiness: Option<Readiness>,
        record: serde_json::Value,
    ) -> Self {
        Packet {
            format: FORMAT.into(),
            kind: Kind::ReviewRecord,
            signed_at: crate::now_text(),
            key_id: key_id.to_string(),
            readiness,
            review: None,
            record: Some(record),
        }
    }

    /// Signs the packet: the envelope's JSON, to write to a file.
    pub fn sign(&self, key: &SigningKey) -> Result<String, PacketError> {
        let value = serde_json::to_value(self).map_err(|e| PacketError::Sign(e.to_string()))?;
        let mut env = Envelope::new(PAYLOAD_TYPE, &to_canonical_bytes(&value));
        env.add_signature(key, &self.key_id)
            .map_err(|e| PacketError::Sign(e.to_string()))?;
        Ok(env.to_json())
    }
}

/// A packet that verified: the key that signed it and its content.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    /// The trust root's id of the signing key.
    pub key_id: String,
    /// The content.
    pub packet: Packet,
}

/// What a verification checks besides the signature.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The kind of packet.
    pub kind: Kind,
    /// The oldest it may be (from its `signed_at`).
    pub max_age: Option<time::Duration>,
    /// When "now" is.
    pub now: OffsetDateTime,
    /// The live service's configuration digests (`verify --server`), which the packet's
    /// readiness digests must equal.
    pub live: Option<&'a BTreeMap<String, String>>,
}

impl<'a> Expect<'a> {
    /// What to expect of a packet of `kind` now.
    pub fn new(
        kind: Kind,
        max_age: Option<time::Duration>,
        live: Option<&'a BTreeMap<String, String>>,
    ) -> Self {
        Expect {
            kind,
            max_age,
            now: OffsetDateTime::now_utc(),
            live,
        }
    }
}

/// Verifies a packet file's text offline: a signature by a key of `trust` valid at the
/// signed time, of the kind expected, not too old, made from the live configuration (when
/// given), and without open blockers; checked in that order, the first failure is the reason.
pub fn verify(text: &str, trust: &TrustRoot, expect: &Expect<'_>) -> Result<Verified, Refused> {
    let (kind, max_age, now) = (expect.kind, expect.max_age, expect.now);
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| refuse(Reason::Invalid, format!("not JSON: {e}")))?;
    // A packet written without its envelope is still a packet, just not a signed one.
    if value.get("format").and_then(|f| f.as_str()) == Some(FORMAT) {
        return Err(refuse(
            Reason::Unsigned,
            "a bare packet, not a signed envelope",
        ));
    }
    let env = Envelope::from_json(text)
        .map_err(|e| refuse(Reason::Invalid, format!("not a signed packet: {e}")))?;
    let at = |p: &[u8]| -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(p).ok()?;
        v.get("signed_at")?.as_str().map(str::to_string)
    };
    let by = trust
        .verify(&env, PAYLOAD_TYPE, None, &at)
        .map_err(|e| signature_refusal(e, &env, trust))?;
    let packet: Packet = serde_json::from_slice(&by.payload)
        .map_err(|e| refuse(Reason::Invalid, format!("not a packet: {e}")))?;
    if packet.format != FORMAT || packet.kind != kind {
        return Err(refuse(
            Reason::Invalid,
            format!(
                "a {:?} packet of format {:?}, not a {kind:?} packet",
                packet.kind, packet.format
            ),
        ));
    }
    if let Some(max) = max_age {
        let signed = OffsetDateTime::parse(
            &packet.signed_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|e| refuse(Reason::Invalid, format!("signed_at: {e}")))?;
        if now - signed > max {
            return Err(refuse(
                Reason::Stale,
                format!(
                    "signed at {}, older than the {} allowed",
                    packet.signed_at,
                    human(max)
                ),
            ));
        }
    }
    if let Some(live) = expect.live {
        let none = BTreeMap::new();
        let digests = packet.readiness.as_ref().map_or(&none, |r| &r.digests);
        compare_digests(digests, live)?;
    }
    if packet.readiness.is_none() && packet.record.is_none() {
        return Err(refuse(
            Reason::Invalid,
            "a packet with neither a readiness result nor a record",
        ));
    }
    let blockers = packet.readiness.as_ref().map_or(&[][..], |r| &r.blockers);
    if !blockers.is_empty() {
        let names: Vec<&str> = blockers.iter().map(|b| b.validator.as_str()).collect();
        return Err(refuse(
            Reason::BlockersOpen,
            format!("{} blocker(s) open: {}", names.len(), names.join(", ")),
        ));
    }
    // A review step that did not pass is signed as it was found: it verifies as what it is.
    if let Some(record) = &packet.record
        && record.get("passed") == Some(&serde_json::Value::Bool(false))
    {
        let problems: Vec<&str> = record["problems"]
            .as_array()
            .map(|p| p.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        return Err(refuse(
            Reason::BlockersOpen,
            format!(
                "the {} step did not pass: {}",
                record["step"].as_str().unwrap_or("review"),
                problems.join("; ")
            ),
        ));
    }
    Ok(Verified {
        key_id: by.key_id,
        packet,
    })
}

/// The reason of a signature that failed: a key the trust root holds that does not verify
/// the bytes means they changed; a key it does not hold (or holds revoked, or held at another
/// time) is an untrusted key. Also for other envelopes checked against a trust root (the
/// operating review's drill re-verifies release records with it).
pub fn signature_refusal(e: TrustError, env: &Envelope, trust: &TrustRoot) -> Refused {
    let detail = e.to_string();
    match e {
        TrustError::MissingSignature => refuse(Reason::Unsigned, detail),
        TrustError::Untrusted { .. } => {
            let named_trusted = env.signatures.iter().any(|s| trust.get(&s.keyid).is_some());
            if named_trusted {
                refuse(
                    Reason::Tampered,
                    format!("the signature does not hold for the key it names: {detail}"),
                )
            } else {
                refuse(Reason::UntrustedKey, detail)
            }
        }
        TrustError::Invalid(_) => refuse(Reason::Tampered, detail),
        TrustError::Revoked(_)
        | TrustError::OutsideValidity { .. }
        | TrustError::NoSuchKey(_)
        | TrustError::WrongKey(_) => refuse(Reason::UntrustedKey, detail),
        _ => refuse(Reason::Invalid, detail),
    }
}

/// The outcome of a verification, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Whether it verified.
    pub verified: bool,
    /// Why not.
    pub reason: Option<Reason>,
    /// In words.
    pub detail: String,
    /// The signing key, when it verified.
    pub key_id: Option<String>,
    /// When it was signed, when it verified.
    pub signed_at: Option<String>,
}

impl Outcome {
    /// The exit code: 0 verified, 1 not.
    pub fn exit_code(&self) -> i32 {
        i32::from(!self.verified)
    }

    /// As JSON.
    pub fn value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The outcome of `result`.
    pub fn of(result: &Result<Verified, Refused>) -> Self {
        match result {
            Ok(v) => Outcome {
                verified: true,
                reason: None,
                detail: format!(
                    "verified: {:?} packet signed by {} at {}, no blockers",
                    v.packet.kind, v.key_id, v.packet.signed_at
                ),
                key_id: Some(v.key_id.clone()),
                signed_at: Some(v.packet.signed_at.clone()),
            },
            Err(r) => Outcome {
                verified: false,
                reason: Some(r.reason),
                detail: format!("not verified ({r})"),
                key_id: None,
                signed_at: None,
            },
        }
    }
}

/// Compares a packet's configuration digests with the live service's: every digest the
/// service gives must be in the packet and equal (a change since the packet: rerun the gate).
pub fn compare_digests(
    packet: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
) -> Result<(), Refused> {
    let changed: Vec<&str> = live
        .iter()
        .filter(|(k, v)| packet.get(*k) != Some(*v))
        .map(|(k, _)| k.as_str())
        .collect();
    if changed.is_empty() {
        Ok(())
    } else {
        Err(refuse(
            Reason::Stale,
            format!(
                "the configuration changed since the packet was made ({}): rerun `cavra readiness`",
                changed.join(", ")
            ),
        ))
    }
}

/// A duration such as `30d`, `12h`, `90m` or `45s`.
pub fn parse_duration(text: &str) -> Result<time::Duration, String> {
    let t = text.trim();
    let split = t.len().saturating_sub(1);
    let (n, unit) = (t.get(..split).unwrap_or(""), t.get(split..).unwrap_or(""));
    let n: i64 = n
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{text:?} is not a duration such as 30d, 12h, 90m or 45s"))?;
    let secs = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(format!("{text:?}: the unit must be d, h, m or s")),
    };
    n.checked_mul(secs)
        .filter(|s| *s <= 3650 * 86_400)
        .map(time::Duration::seconds)
        .ok_or_else(|| format!("{text:?} is longer than ten years"))
}

fn human(d: time::Duration) -> String {
    let s = d.whole_seconds();
    if s % 86_400 == 0 {
        format!("{}d", s / 86_400)
    } else {
        format!("{s}s")
    }
}

/// Where a review packet's figures come from.
pub enum Source<'a> {
    /// The API service at `url`, asked with `token` (its tenant; an admin's or auditor's, for
    /// the readiness gate).
    Service {
        /// The service's base URL.
        url: &'a str,
        /// The API token.
        token: &'a str,
    },
    /// The service's database, as its configuration names it, read directly.
    Database {
        /// The service's configuration.
        config: &'a crate::ServerConfig,
        /// The tenant.
        tenant: &'a str,
    },
}

/// Makes the review of the `period` up to now from `source`, signs it with the key file `key`
/// and writes it to `output`; returns the readiness blockers it records.
pub fn create(
    source: &Source<'_>,
    period: time::Duration,
    output: &Path,
    key: &Path,
    key_id: Option<&str>,
) -> Result<usize, PacketError> {
    let now = OffsetDateTime::now_utc();
    let (since, until) = (crate::format_time(now - period), crate::format_time(now));
    let src = PacketError::Source;
    // The days the period touches, today's included.
    let days = ((period.whole_seconds().max(0) + 86_399) / 86_400).clamp(1, 399) + 1;
    let (tenant, posture, evidence, readiness, trend) = match source {
        Source::Service { url, token } => {
            // Blocking calls, outside any runtime (the client runs its own).
            let get = |path: &str| {
                let timeout = std::time::Duration::from_secs(60);
                cavra_runtime::service::send(url, token, "GET", path, None, timeout)
                    .map_err(|e| src(format!("GET {path}: {e}")))
            };
            let answer = get(&format!("/v1/posture?since={since}&until={until}"))?;
            let tenant = answer["tenant"].as_str().unwrap_or_default().to_string();
            let posture = read(answer["aispm"].clone(), "posture")?;
            let evidence = read(get("/v1/evidence/head")?, "log head")?;
            let readiness = read(get("/v1/readiness")?, "readiness report")?;
            let path = crate::aispm::trend::path(Some(days), None, None);
            let trend = read(get(&path)?, "posture trend")?;
            (tenant, posture, evidence, readiness, trend)
        }
        Source::Database { config, tenant } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| src(e.to_string()))?;
            let (posture, evidence, readiness, trend) =
                rt.block_on(from_database(config, tenant, (&since, &until, days), now))?;
            (tenant.to_string(), posture, evidence, readiness, trend)
        }
    };
    let findings = posture
        .factors
        .iter()
        .filter_map(|f| {
            let value = f.value.filter(|v| *v < 1.0)?;
            Some(Finding {
                factor: f.id,
                value,
                explanation: f.explanation.clone(),
            })
        })
        .collect();
    let approvals = posture.approvals.clone();
    let blockers = readiness.blockers.len();
    let review = Review {
        tenant,
        since,
        until,
        posture,
        findings,
        evidence,
        approvals,
        trend: Some(trend),
    };
    write_signed(output, key, key_id, readiness, Some(review))?;
    Ok(blockers)
}

fn read<T: serde::de::DeserializeOwned>(
    v: serde_json::Value,
    what: &str,
) -> Result<T, PacketError> {
    serde_json::from_value(v)
        .map_err(|e| PacketError::Source(format!("the service's {what} does not read: {e}")))
}

async fn from_database(
    config: &crate::ServerConfig,
    tenant: &str,
    (since, until, days): (&str, &str, i64),
    now: OffsetDateTime,
) -> Result<
    (
        cavra_aispm::Posture,
        EvidenceDigests,
        Readiness,
        crate::aispm::trend::Trend,
    ),
    PacketError,
> {
    use cavra_tenant_store::Evidence as _;
    let src = |e: String| PacketError::Source(e);
    let store = |e: cavra_tenant_store::StoreError| src(e.to_string());
    let db = crate::admin::open_existing(config)
        .await
        .map_err(|e| src(e.to_string()))?;
    // The gate first: it also refuses a tenant the database does not hold.
    let readiness = crate::readiness::check_database(&db, config, Some(tenant), now)
        .await
        .map_err(|e| src(e.to_string()))?;
    let mut posture = crate::aispm::posture_at(&db, tenant, Some(since), Some(until), None)
        .await
        .map_err(store)?;
    crate::inventory::apply_to_posture(
        &db,
        tenant,
        &config.inventory,
        &mut posture,
        Some(since),
        Some(until),
    )
    .await
    .map_err(store)?;
    let head = db.log_head(tenant).await.map_err(store)?;
    let cp = db.latest_checkpoint(tenant).await.map_err(store)?;
    let evidence = EvidenceDigests {
        log_id: head.as_ref().map(|h| h.log_id.clone()),
        size: head.as_ref().map_or(0, |h| h.size),
        root_hash: head.map(|h| h.root_hash),
        checkpoint: cp.map(|c| c.envelope),
    };
    let (first, last) =
        crate::aispm::trend::span(Some(days), None, None, now.date()).map_err(src)?;
    let trend = crate::aispm::trend::trend(&db, tenant, first, last, now)
        .await
        .map_err(store)?;
    Ok((posture, evidence, readiness, trend))
}

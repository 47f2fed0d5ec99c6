//! Exporting log entries for SIEM ingestion. The entries are already redacted (the log never
//! holds a secret), and they pass through the redactor once more on the way out.

use std::io::Write;

use cavra_store::{EntryFilter, Store};
use serde_json::{Value, json};

use crate::BundleError;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// The entries as they are in the log, one per line.
    Jsonl,
    /// Splunk HTTP Event Collector events (`{"time", "source", "sourcetype", "event"}`), one per line.
    SplunkHec,
    /// OCSF 1.1 API Activity events (class 6003), one per line.
    Ocsf,
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "jsonl" => Ok(Self::Jsonl),
            "splunk-hec" => Ok(Self::SplunkHec),
            "ocsf" => Ok(Self::Ocsf),
            other => Err(format!(
                "unknown export format {other:?} (jsonl, splunk-hec, ocsf)"
            )),
        }
    }
}

fn epoch_millis(time: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// OCSF disposition for a decision word.
fn disposition(decision: &str) -> (u8, &'static str) {
    match decision {
        "allow" | "allow_with_attestation" => (1, "Allowed"),
        "block" => (2, "Blocked"),
        "require_approval" => (14, "Delayed"),
        "warn" => (19, "Alert"),
        "audit_only" => (17, "Logged"),
        _ => (99, "Other"),
    }
}

fn ocsf(entry: &Value) -> Value {
    let body = &entry["body"];
    let time = entry["time"].as_str().and_then(epoch_millis).unwrap_or(0);
    let kind = entry["kind"].as_str().unwrap_or("");
    let decision = body["decision"].as_str().unwrap_or("");
    let (disposition_id, disposition_name) = if kind == "decision" {
        disposition(decision)
    } else {
        (99, "Other")
    };
    let blocked = decision == "block";
    // API Activity (6003), activity "Other" (99): an agent's tool call decided by policy.
    json!({
        "class_uid": 6003,
        "class_name": "API Activity",
        "category_uid": 6,
        "category_name": "Application Activity",
        "activity_id": 99,
        "activity_name": kind,
        "type_uid": 600399,
        "time": time,
        "severity_id": if blocked { 3 } else { 1 },
        "status_id": if blocked { 2 } else { 1 },
        "status": if blocked { "Failure" } else { "Success" },
        "disposition_id": disposition_id,
        "disposition": disposition_name,
        "message": body["record"]["reason"].as_str().or(body["reason"].as_str()).unwrap_or(""),
        "actor": {
            "app_name": body["agent"].as_str().unwrap_or(""),
            "session": {"uid": body["session_id"].as_str().unwrap_or("")},
        },
        "api": {
            "operation": body["action_type"].as_str().unwrap_or(kind),
            "request": {"uid": body["decision_id"].as_str().or(body["approval_id"].as_str()).unwrap_or("")},
        },
        "resources": [{"name": body["record"]["target"].as_str().unwrap_or(""), "type": body["action_type"].as_str().unwrap_or("")}],
        "metadata": {
            "version": "1.1.0",
            "product": {"name": "cavra", "vendor_name": "cavra", "version": env!("CARGO_PKG_VERSION")},
            "log_name": "cavra evidence log",
            "sequence": entry["index"],
        },
        "unmapped": {"cavra": entry},
    })
}

/// Writes the matching entries to `out` in `format`; returns how many.
pub fn export_entries(
    store: &Store,
    filter: &EntryFilter,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<u64, BundleError> {
    let redactor = cavra_redact::Redactor::builtin();
    let mut count = 0u64;
    let mut failure = None;
    store.for_each_entry(filter, |e| {
        if failure.is_some() {
            return Ok(());
        }
        let entry: Value = match serde_json::from_slice(&e.bytes) {
            Ok(v) => v,
            Err(err) => {
                failure = Some(BundleError::Invalid(format!(
                    "log entry {} is not JSON: {err}",
                    e.index
                )));
                return Ok(());
            }
        };
        let entry = redactor.redact_json(&entry).value;
        let line = match format {
            ExportFormat::Jsonl => cavra_evidence::canonical::to_canonical(&entry),
            ExportFormat::SplunkHec => {
                let millis = entry["time"].as_str().and_then(epoch_millis).unwrap_or(0);
                json!({
                    "time": millis as f64 / 1000.0,
                    "source": "cavra",
                    "sourcetype": format!("cavra:{}", entry["kind"].as_str().unwrap_or("entry")),
                    "event": entry,
                })
                .to_string()
            }
            ExportFormat::Ocsf => ocsf(&entry).to_string(),
        };
        if let Err(err) = out
            .write_all(line.as_bytes())
            .and_then(|_| out.write_all(b"\n"))
        {
            failure = Some(BundleError::Io {
                path: "<export>".into(),
                source: err,
            });
            return Ok(());
        }
        count += 1;
        Ok(())
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(count),
    }
}

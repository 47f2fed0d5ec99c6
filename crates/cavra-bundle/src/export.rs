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
    /// OCSF 1.1.0 API Activity events (class 6003, `datetime` profile), one per line.
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

/// A string field, or empty.
fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// The OCSF object of a log entry: API Activity, as the OCSF connector sends (one mapping,
/// [`cavra_ocsf`]), with the entry in `unmapped.cavra`.
fn ocsf(entry: &Value) -> Value {
    let body = &entry["body"];
    let kind = text(&entry["kind"]);
    let decision = if kind == "decision" {
        text(&body["decision"])
    } else {
        ""
    };
    cavra_ocsf::api_activity(
        &cavra_ocsf::Activity {
            uid: "",
            kind,
            time: text(&entry["time"]),
            decision,
            severity: body["record"]["severity"]
                .as_str()
                .or(body["severity"].as_str())
                .unwrap_or(""),
            message: body["record"]["reason"]
                .as_str()
                .or(body["reason"].as_str())
                .unwrap_or(""),
            agent: text(&body["agent"]),
            user: text(&body["requested_by"]),
            session: text(&body["session_id"]),
            operation: text(&body["action_type"]),
            request_uid: body["decision_id"]
                .as_str()
                .or(body["approval_id"].as_str())
                .unwrap_or(""),
            target: text(&body["record"]["target"]),
            tenant: "",
            log_name: "cavra evidence log",
            sequence: entry["index"].as_u64(),
        },
        entry,
    )
}

/// Writes the matching entries to the file `path` in `format`, whole or not at all: into
/// `PATH.partial` beside it, synced, then renamed over `path`. Returns how many.
pub fn export_to_file(
    store: &Store,
    filter: &EntryFilter,
    format: ExportFormat,
    path: &std::path::Path,
) -> Result<u64, BundleError> {
    let tmp = path.with_extension("partial");
    let writing = |p: &std::path::Path| {
        let p = p.to_path_buf();
        move |source| BundleError::Write { path: p, source }
    };
    let file = std::fs::File::create(&tmp).map_err(writing(&tmp))?;
    let mut w = std::io::BufWriter::new(file);
    let count = export_entries(store, filter, format, &mut w)?;
    let file = w.into_inner().map_err(|e| BundleError::Write {
        path: tmp.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(writing(&tmp))?;
    std::fs::rename(&tmp, path).map_err(writing(path))?;
    Ok(count)
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

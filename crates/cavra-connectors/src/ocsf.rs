//! OCSF over HTTPS: each envelope becomes one OCSF 1.1 API Activity object (class 6003),
//! POSTed as JSON with an `Idempotency-Key` header (the event's key for this destination)
//! and, when configured, an `Authorization` header taken from a secret reference. The whole
//! envelope, signature included, travels in `unmapped.cavra`.

use serde_json::{Value, json};

use crate::ConnectorError;
use crate::config::ConnectorConfig;
use crate::http;
use crate::secret::Secret;
use crate::sink::{Attempt, Outgoing, Sent, Sink, excerpt};

/// The OCSF version the objects declare.
pub const OCSF_VERSION: &str = "1.1.0";

/// An OCSF-over-HTTPS destination.
pub struct Ocsf {
    client: reqwest::Client,
    url: url::Url,
    authorization: Option<Secret>,
}

/// OCSF disposition of a decision word.
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

/// OCSF `severity_id` of a rule severity.
fn severity_id(s: &str) -> u8 {
    match s {
        "info" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "critical" => 5,
        _ => 0,
    }
}

/// The OCSF object of an envelope.
pub fn object(envelope: &Value) -> Value {
    let data = &envelope["data"];
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let kind = text(&envelope["type"]);
    let time = envelope["time"]
        .as_str()
        .and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .unwrap_or(0);
    let decision = text(&data["decision"]);
    let (disposition_id, disposition_name) = disposition(&decision);
    let blocked = decision == "block";
    let agent = data["agent"].as_str().unwrap_or("cavra");
    json!({
        "class_uid": 6003,
        "class_name": "API Activity",
        "category_uid": 6,
        "category_name": "Application Activity",
        "activity_id": 99,
        "activity_name": kind,
        "type_uid": 600399,
        "type_name": "API Activity: Other",
        "time": time,
        "severity_id": severity_id(data["severity"].as_str().unwrap_or("")),
        "status_id": if blocked { 2 } else { 1 },
        "status": if blocked { "Failure" } else { "Success" },
        "disposition_id": disposition_id,
        "disposition": disposition_name,
        "message": text(&data["reason"]),
        "actor": {
            "user": {"name": text(&data["requested_by"])},
            "app_name": agent,
            "session": {"uid": text(&data["session_id"])},
        },
        "api": {
            "operation": data["action_type"].as_str().unwrap_or(&kind),
            "request": {"uid": text(&envelope["subject"])},
        },
        // Where the call came from: the agent that asked cavra.
        "src_endpoint": {"name": agent},
        "resources": [{"name": text(&data["target"]), "type": text(&data["action_type"])}],
        "metadata": {
            "version": OCSF_VERSION,
            "uid": text(&envelope["id"]),
            "product": {"name": "cavra", "vendor_name": "cavra", "version": env!("CARGO_PKG_VERSION")},
            "tenant_uid": text(&envelope["tenant"]),
            "sequence": envelope["log_index"],
        },
        "unmapped": {"cavra": envelope},
    })
}

impl Ocsf {
    /// Builds the destination of `c` (its `ocsf_https`), resolving its authorization.
    pub fn new(c: &ConnectorConfig) -> Result<Ocsf, ConnectorError> {
        let setup = |reason: String| ConnectorError::Setup {
            name: c.name.clone(),
            reason,
        };
        let o = c
            .ocsf_https
            .as_ref()
            .ok_or_else(|| setup("not an ocsf_https connector".into()))?;
        let authorization = match &o.authorization {
            Some(r) => Some(r.resolve(&format!("{}.ocsf_https.authorization", c.name))?),
            None => None,
        };
        Ok(Ocsf {
            client: http::client(&c.name, c.timeout_ms, o.ca_file.as_deref())?,
            url: url::Url::parse(&o.url).map_err(|e| setup(e.to_string()))?,
            authorization,
        })
    }

    async fn deliver(&self, msg: &Outgoing) -> Sent {
        let body = object(&msg.envelope).to_string();
        let request = format!("POST {} ({} bytes)", http::shown(&self.url), body.len());
        let mut r = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &msg.idempotency_key);
        if let Some(a) = &self.authorization {
            r = r.header(reqwest::header::AUTHORIZATION, a.expose());
        }
        match r.body(body).send().await {
            Ok(resp) => {
                let status = resp.status();
                let after = http::retry_after(resp.headers());
                let text = http::body(resp).await;
                Sent {
                    verdict: http::verdict(status, after),
                    status: status.as_u16().to_string(),
                    request,
                    response: excerpt(&text),
                }
            }
            Err(e) => http::no_answer(request, &e),
        }
    }
}

impl Sink for Ocsf {
    fn kind(&self) -> &'static str {
        "ocsf_https"
    }

    fn send<'a>(&'a self, msg: &'a Outgoing) -> Attempt<'a> {
        Box::pin(self.deliver(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_maps_to_api_activity() {
        let env = json!({
            "id": "evt_1", "type": "decision.block", "tenant": "acme",
            "time": "2026-01-01T00:00:01.500Z", "subject": "dec_1", "log_index": 4,
            "data": {"decision": "block", "severity": "high", "agent": "claude-code",
                     "action_type": "shell", "target": "rm -rf /", "reason": "destructive",
                     "requested_by": "alice", "session_id": "s1"},
        });
        let o = object(&env);
        assert_eq!(o["class_uid"], 6003);
        assert_eq!(o["time"], 1_767_225_601_500i64);
        assert_eq!(o["disposition_id"], 2);
        assert_eq!(o["severity_id"], 4);
        assert_eq!(o["src_endpoint"]["name"], "claude-code");
        assert_eq!(o["api"]["request"]["uid"], "dec_1");
        assert_eq!(o["unmapped"]["cavra"], env);
    }
}

//! OCSF over HTTPS: each envelope becomes one OCSF 1.1.0 API Activity object (class 6003,
//! [`cavra_ocsf`], valid for the version and the `datetime` profile it declares),
//! POSTed as JSON with an `Idempotency-Key` header (the event's key for this destination)
//! and, when configured, an `Authorization` header taken from a secret reference. The whole
//! envelope, signature included, travels in `unmapped.cavra`.

use serde_json::Value;

use crate::ConnectorError;
use crate::config::ConnectorConfig;
use crate::http;
use crate::secret::Secret;
use crate::sink::{Attempt, Outgoing, Sent, Sink};

/// The OCSF version the objects declare.
pub use cavra_ocsf::OCSF_VERSION;

/// An OCSF-over-HTTPS destination.
pub struct Ocsf {
    client: reqwest::Client,
    url: url::Url,
    authorization: Option<Secret>,
}

/// A string field, or empty.
fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// The OCSF object of an envelope (see [`cavra_ocsf`]): the whole envelope, signature
/// included, travels in `unmapped.cavra`.
pub fn object(envelope: &Value) -> Value {
    let data = &envelope["data"];
    cavra_ocsf::api_activity(
        &cavra_ocsf::Activity {
            uid: text(&envelope["id"]),
            kind: text(&envelope["type"]),
            time: text(&envelope["time"]),
            decision: text(&data["decision"]),
            severity: text(&data["severity"]),
            message: text(&data["reason"]),
            agent: text(&data["agent"]),
            user: text(&data["requested_by"]),
            session: text(&data["session_id"]),
            operation: text(&data["action_type"]),
            request_uid: text(&envelope["subject"]),
            target: text(&data["target"]),
            tenant: text(&envelope["tenant"]),
            log_name: "",
            sequence: envelope["log_index"].as_u64(),
        },
        envelope,
    )
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
        http::answered(request, r.body(body).send().await).await
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
    use serde_json::json;

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
        assert_eq!(o["status_id"], 2);
        assert_eq!(o["severity_id"], 4);
        assert_eq!(o["src_endpoint"]["name"], "claude-code");
        assert_eq!(o["api"]["request"]["uid"], "dec_1");
        assert_eq!(o["unmapped"]["cavra"], env);
    }
}

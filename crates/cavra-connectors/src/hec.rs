//! Splunk HTTP Event Collector: each envelope is one HEC event, POSTed to
//! `/services/collector/event` with `Authorization: Splunk <token>` and, when configured, the
//! channel in `X-Splunk-Request-Channel`. With `ack: true` the event counts as delivered only
//! once `/services/collector/ack` reports its `ackId` indexed; an acknowledgement that does
//! not come within `ack_timeout_ms` fails the attempt, which is retried (HEC has no
//! idempotency key; the event carries `id` and `idempotency_key`, so a search can drop a
//! duplicate).

use std::time::Duration;

use serde_json::{Value, json};

use crate::ConnectorError;
use crate::config::{ConnectorConfig, HecConfig};
use crate::http;
use crate::secret::Secret;
use crate::sink::{Attempt, Outgoing, Sent, Sink, Verdict, excerpt};

/// How often the acknowledgement is polled.
const ACK_POLL: Duration = Duration::from_millis(200);

/// A Splunk HEC destination.
pub struct Hec {
    client: reqwest::Client,
    event_url: url::Url,
    ack_url: url::Url,
    token: Secret,
    config: HecConfig,
}

impl Hec {
    /// Builds the destination of `c` (its `splunk_hec`), resolving the token.
    pub fn new(c: &ConnectorConfig) -> Result<Hec, ConnectorError> {
        let setup = |reason: String| ConnectorError::Setup {
            name: c.name.clone(),
            reason,
        };
        let config = c
            .splunk_hec
            .clone()
            .ok_or_else(|| setup("not a splunk_hec connector".into()))?;
        let token = config
            .token
            .resolve(&format!("{}.splunk_hec.token", c.name))?;
        let base = url::Url::parse(&config.url).map_err(|e| setup(e.to_string()))?;
        let join = |path: &str| {
            let mut u = base.clone();
            let prefix = u.path().trim_end_matches('/').to_string();
            u.set_path(&format!("{prefix}{path}"));
            u
        };
        let event_url = join("/services/collector/event");
        let mut ack_url = join("/services/collector/ack");
        if let Some(ch) = &config.channel {
            ack_url.query_pairs_mut().append_pair("channel", ch);
        }
        Ok(Hec {
            client: http::client(&c.name, c.timeout_ms, config.ca_file.as_deref())?,
            event_url,
            ack_url,
            token,
            config,
        })
    }

    fn request(&self, url: &url::Url) -> reqwest::RequestBuilder {
        let mut r = self
            .client
            .post(url.clone())
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Splunk {}", self.token.expose()),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(ch) = &self.config.channel {
            r = r.header("X-Splunk-Request-Channel", ch);
        }
        r
    }

    /// The HEC event of an envelope.
    pub fn event(&self, msg: &Outgoing) -> Value {
        let time = msg
            .envelope
            .get("time")
            .and_then(Value::as_str)
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0);
        let mut e = json!({
            "source": "cavra",
            "sourcetype": self.config.sourcetype.as_deref().unwrap_or("cavra:event"),
            "event": msg.envelope,
            "fields": {
                "cavra_event_id": msg.event_id,
                "cavra_idempotency_key": msg.idempotency_key,
                "cavra_tenant": msg.tenant,
            },
        });
        if let Some(t) = time {
            e["time"] = json!(t);
        }
        if let Some(index) = &self.config.index {
            e["index"] = json!(index);
        }
        e
    }

    async fn deliver(&self, msg: &Outgoing) -> Sent {
        let body = self.event(msg).to_string();
        let request = format!(
            "POST {} ({} bytes, channel {})",
            http::shown(&self.event_url),
            body.len(),
            self.config.channel.as_deref().unwrap_or("none")
        );
        let resp = match self.request(&self.event_url).body(body).send().await {
            Ok(r) => r,
            Err(e) => return http::no_answer(request, &e),
        };
        let status = resp.status();
        let after = http::retry_after(resp.headers());
        let text = http::body(resp).await;
        let verdict = http::verdict(status, after);
        if verdict != Verdict::Delivered || !self.config.ack {
            return Sent {
                verdict,
                status: status.as_u16().to_string(),
                request,
                response: excerpt(&text),
            };
        }
        let ack_id = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("ackId").and_then(Value::as_u64));
        let Some(ack_id) = ack_id else {
            // Acknowledgement asked for but the collector gave no ackId: it is not enabled
            // for this token, which another attempt will not change.
            return Sent {
                verdict: Verdict::Permanent,
                status: "no ackId".into(),
                request,
                response: excerpt(&text),
            };
        };
        self.await_ack(ack_id, request).await
    }

    async fn await_ack(&self, ack_id: u64, request: String) -> Sent {
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.config.ack_timeout_ms);
        let body = json!({"acks": [ack_id]}).to_string();
        loop {
            let last = match self.request(&self.ack_url).body(body.clone()).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let text = http::body(resp).await;
                    if status.is_success() {
                        let acked = serde_json::from_str::<Value>(&text)
                            .ok()
                            .and_then(|v| {
                                v.pointer(&format!("/acks/{ack_id}"))
                                    .and_then(Value::as_bool)
                            })
                            .unwrap_or(false);
                        if acked {
                            return Sent {
                                verdict: Verdict::Delivered,
                                status: format!("acked {ack_id}"),
                                request,
                                response: excerpt(&text),
                            };
                        }
                    }
                    format!("{status}: {text}")
                }
                Err(e) => e.to_string(),
            };
            if tokio::time::Instant::now() + ACK_POLL > deadline {
                return Sent {
                    verdict: Verdict::Retry { after_ms: None },
                    status: "ack timeout".into(),
                    request,
                    response: excerpt(&last),
                };
            }
            tokio::time::sleep(ACK_POLL).await;
        }
    }
}

impl Sink for Hec {
    fn kind(&self) -> &'static str {
        "splunk_hec"
    }

    fn send<'a>(&'a self, msg: &'a Outgoing) -> Attempt<'a> {
        Box::pin(self.deliver(msg))
    }
}

//! NATS JetStream: each envelope is published to `<subject_prefix>.<tenant>.<event type>` (a
//! subject per tenant, so a consumer can take one tenant's events) with `Nats-Msg-Id` set to
//! the event's idempotency key for this destination. The event counts as delivered when the
//! stream acknowledges it; a retry of an event the stream already holds is acknowledged as a
//! duplicate and not stored twice (within the stream's duplicate window).
//!
//! At start ([`Sink::prepare`]) the client connects and the stream is created (file storage,
//! subjects `<subject_prefix>.>`) or, when it exists, checked to hold those subjects. If the
//! server is down then, each attempt connects again until it is up.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;

use crate::ConnectorError;
use crate::config::{ConnectorConfig, NatsConfig};
use crate::secret::Secret;
use crate::sink::{Attempt, Outgoing, Prepared, Sent, Sink, Verdict, excerpt};

/// A NATS JetStream destination.
pub struct Nats {
    config: NatsConfig,
    token: Option<Secret>,
    password: Option<Secret>,
    tls: Option<rustls::ClientConfig>,
    timeout: Duration,
    /// The connected context, once there is one (the client reconnects by itself after).
    context: tokio::sync::Mutex<Option<jetstream::Context>>,
}

/// The subject of an event of `tenant` of type `kind` under `prefix`.
pub fn subject(prefix: &str, tenant: &str, kind: &str) -> String {
    format!("{prefix}.{tenant}.{kind}")
}

/// Whether a stream subject (`cavra.events.>`, `cavra.>`, `>`) takes every subject under
/// `prefix`.
fn covers(stream_subject: &str, prefix: &str) -> bool {
    stream_subject == ">"
        || stream_subject
            .strip_suffix('>')
            .is_some_and(|head| head.ends_with('.') && format!("{prefix}.").starts_with(head))
}

impl Nats {
    /// Builds the destination of `c` (its `nats_jetstream`), resolving its secrets. Nothing
    /// connects yet.
    pub fn new(c: &ConnectorConfig) -> Result<Nats, ConnectorError> {
        let config = c
            .nats_jetstream
            .clone()
            .ok_or_else(|| ConnectorError::Setup {
                name: c.name.clone(),
                reason: "not a nats_jetstream connector".into(),
            })?;
        let token = match &config.token {
            Some(r) => Some(r.resolve(&format!("{}.nats_jetstream.token", c.name))?),
            None => None,
        };
        let password = match &config.password {
            Some(r) => Some(r.resolve(&format!("{}.nats_jetstream.password", c.name))?),
            None => None,
        };
        let tls = if config.url.starts_with("tls://") || config.ca_file.is_some() {
            Some(crate::tls::client_config(
                &c.name,
                config.ca_file.as_deref(),
            )?)
        } else {
            None
        };
        Ok(Nats {
            config,
            token,
            password,
            tls,
            timeout: Duration::from_millis(c.timeout_ms),
            context: tokio::sync::Mutex::new(None),
        })
    }

    /// The stream subjects this destination publishes under.
    fn stream_subject(&self) -> String {
        format!("{}.>", self.config.subject_prefix)
    }

    /// Connects, and creates or checks the stream.
    async fn connect(&self) -> Result<jetstream::Context, String> {
        let mut o = async_nats::ConnectOptions::new()
            .name(concat!("cavra/", env!("CARGO_PKG_VERSION")))
            .connection_timeout(self.timeout)
            .request_timeout(Some(self.timeout));
        if let Some(t) = &self.token {
            o = o.token(t.expose().to_string());
        }
        if let (Some(u), Some(p)) = (&self.config.user, &self.password) {
            o = o.user_and_password(u.clone(), p.expose().to_string());
        }
        if let Some(tls) = &self.tls {
            o = o.require_tls(true).tls_client_config(tls.clone());
        }
        let client = o
            .connect(self.config.url.as_str())
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut js = jetstream::new(client);
        js.set_timeout(self.timeout);
        let subject = self.stream_subject();
        let mut stream = if self.config.create_stream {
            js.get_or_create_stream(jetstream::stream::Config {
                name: self.config.stream.clone(),
                subjects: vec![subject.clone()],
                storage: jetstream::stream::StorageType::File,
                duplicate_window: Duration::from_secs(self.config.duplicate_window_seconds),
                ..Default::default()
            })
            .await
            .map_err(|e| format!("stream {}: {e}", self.config.stream))?
        } else {
            js.get_stream(&self.config.stream)
                .await
                .map_err(|e| format!("stream {}: {e}", self.config.stream))?
        };
        let info = stream
            .info()
            .await
            .map_err(|e| format!("stream {}: {e}", self.config.stream))?;
        if !info
            .config
            .subjects
            .iter()
            .any(|s| covers(s, &self.config.subject_prefix))
        {
            return Err(format!(
                "stream {} does not take the subjects {subject} (it takes {})",
                self.config.stream,
                info.config.subjects.join(", ")
            ));
        }
        Ok(js)
    }

    /// The connected context, connecting first when there is none.
    async fn context(&self) -> Result<jetstream::Context, String> {
        let mut held = self.context.lock().await;
        if let Some(js) = held.as_ref() {
            return Ok(js.clone());
        }
        let js = self.connect().await?;
        *held = Some(js.clone());
        Ok(js)
    }

    async fn deliver(&self, msg: &Outgoing) -> Sent {
        let subject = subject(&self.config.subject_prefix, &msg.tenant, &msg.event_kind);
        let body = match crate::sink::envelope_bytes(msg) {
            Ok(body) => body,
            Err(failed) => return failed,
        };
        let request = format!(
            "PUB {subject} on {} ({} bytes, Nats-Msg-Id {})",
            self.config.stream,
            body.len(),
            msg.idempotency_key
        );
        let failed = |status: &str, why: String| Sent {
            verdict: Verdict::Retry { after_ms: None },
            status: status.into(),
            request: request.clone(),
            response: excerpt(&why),
        };
        let js = match self.context().await {
            Ok(js) => js,
            Err(why) => return failed("connect failed", why),
        };
        let publish = PublishMessage::build()
            .payload(body.into())
            .message_id(&msg.idempotency_key)
            .header("Content-Type", "application/json");
        let ack = match js.send_publish(subject, publish).await {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match ack {
            Ok(ack) => Sent {
                verdict: Verdict::Delivered,
                status: if ack.duplicate {
                    format!("duplicate of seq {}", ack.sequence)
                } else {
                    format!("ack seq {}", ack.sequence)
                },
                request,
                response: format!("stream {} seq {}", ack.stream, ack.sequence),
            },
            Err(e) => {
                let status = match e.kind() {
                    PublishErrorKind::TimedOut => "ack timeout",
                    PublishErrorKind::StreamNotFound => {
                        // Deleted under us: set it up again on the next attempt.
                        *self.context.lock().await = None;
                        "no stream"
                    }
                    PublishErrorKind::MaxPayloadExceeded => {
                        return Sent {
                            verdict: Verdict::Permanent,
                            status: "too large".into(),
                            request,
                            response: excerpt(&e.to_string()),
                        };
                    }
                    _ => "publish failed",
                };
                failed(status, e.to_string())
            }
        }
    }
}

impl Sink for Nats {
    fn kind(&self) -> &'static str {
        "nats_jetstream"
    }

    fn send<'a>(&'a self, msg: &'a Outgoing) -> Attempt<'a> {
        Box::pin(self.deliver(msg))
    }

    fn prepare(&self) -> Prepared<'_> {
        Box::pin(async { self.context().await.map(|_| ()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_subjects_cover_the_prefix() {
        assert!(covers("cavra.events.>", "cavra.events"));
        assert!(covers("cavra.>", "cavra.events"));
        assert!(covers(">", "cavra.events"));
        assert!(!covers("cavra.events.acme.>", "cavra.events"));
        assert!(!covers("cav.>", "cavra.events"));
        assert!(!covers("cavra.events", "cavra.events"));
        assert_eq!(
            subject("cavra.events", "acme", "decision.block"),
            "cavra.events.acme.decision.block"
        );
    }
}

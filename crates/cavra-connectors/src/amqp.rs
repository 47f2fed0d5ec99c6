//! AMQP 0-9-1 (RabbitMQ): each envelope is published to the connector's exchange with routing
//! key `<routing_key_prefix>.<tenant>.<event type>`, persistent (delivery mode 2), mandatory,
//! with `message-id` set to the event's idempotency key for this destination (consumers
//! deduplicate on it: AMQP brokers do not). The channel is in confirm mode: the event counts
//! as delivered only when the broker confirms it, and a message no queue took (returned as
//! unroutable) is a failure, retried.
//!
//! At start ([`Sink::prepare`]) the exchange (durable, topic) and, when configured, a durable
//! queue bound to `<routing_key_prefix>.#` are declared. With the default exchange (an empty
//! `exchange`), messages go straight to `queue`.

use std::time::Duration;

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};

use crate::ConnectorError;
use crate::config::{AmqpConfig, ConnectorConfig};
use crate::secret::Secret;
use crate::sink::{Attempt, Outgoing, Prepared, Sent, Sink, Verdict, excerpt};

/// An AMQP destination.
pub struct Amqp {
    config: AmqpConfig,
    password: Option<Secret>,
    /// Extra CA certificates (PEM) for `amqps`.
    ca_pem: Option<String>,
    timeout: Duration,
    /// The open connection and its confirm-mode channel, once there are.
    open: tokio::sync::Mutex<Option<(Connection, Channel)>>,
}

impl Amqp {
    /// Builds the destination of `c` (its `amqp`), resolving its password. Nothing connects
    /// yet.
    pub fn new(c: &ConnectorConfig) -> Result<Amqp, ConnectorError> {
        let setup = |reason: String| ConnectorError::Setup {
            name: c.name.clone(),
            reason,
        };
        let config = c
            .amqp
            .clone()
            .ok_or_else(|| setup("not an amqp connector".into()))?;
        let password = match &config.password {
            Some(r) => Some(r.resolve(&format!("{}.amqp.password", c.name))?),
            None => None,
        };
        let ca_pem = match &config.ca_file {
            Some(p) => {
                // Checked now so a bad file fails at start, not at the first event.
                crate::tls::pem_certificates(&c.name, p)?;
                Some(
                    std::fs::read_to_string(p)
                        .map_err(|e| setup(format!("{}: {e}", p.display())))?,
                )
            }
            None => None,
        };
        Ok(Amqp {
            config,
            password,
            ca_pem,
            timeout: Duration::from_millis(c.timeout_ms),
            open: tokio::sync::Mutex::new(None),
        })
    }

    /// The routing key of an event.
    fn routing_key(&self, tenant: &str, kind: &str) -> String {
        if self.config.exchange.is_empty() {
            return self.config.queue.clone().unwrap_or_default();
        }
        format!("{}.{tenant}.{kind}", self.config.routing_key_prefix)
    }

    async fn connect(&self) -> Result<(Connection, Channel), String> {
        let mut uri: lapin::uri::AMQPUri = self.config.url.parse().map_err(|e: String| e)?;
        if let (Some(user), Some(p)) = (&self.config.user, &self.password) {
            uri.authority.userinfo.username = user.clone();
            uri.authority.userinfo.password = p.expose().to_string();
        }
        let props = ConnectionProperties::default();
        let connect = async {
            match &self.ca_pem {
                Some(pem) => {
                    let runtime = lapin::runtime::default_runtime()?;
                    let tls = lapin::tcp::OwnedTLSConfig {
                        identity: None,
                        cert_chain: Some(pem.clone()),
                    };
                    Connection::connect_uri_with_config(uri, props, tls, runtime).await
                }
                None => Connection::connect_uri(uri, props).await,
            }
        };
        let conn = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| "connect: timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
        let ch = conn
            .create_channel()
            .await
            .map_err(|e| format!("channel: {e}"))?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| format!("confirm.select: {e}"))?;
        let c = &self.config;
        if !c.exchange.is_empty() {
            ch.exchange_declare(
                c.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("exchange {}: {e}", c.exchange))?;
        }
        if let Some(q) = &c.queue {
            ch.queue_declare(
                q.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("queue {q}: {e}"))?;
            if !c.exchange.is_empty() {
                ch.queue_bind(
                    q.as_str().into(),
                    c.exchange.as_str().into(),
                    format!("{}.#", c.routing_key_prefix).into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| format!("bind {q}: {e}"))?;
            }
        }
        Ok((conn, ch))
    }

    /// The open channel, connecting first when there is none or it closed.
    async fn channel(&self) -> Result<Channel, String> {
        let mut held = self.open.lock().await;
        if let Some((conn, ch)) = held.as_ref()
            && conn.status().connected()
            && ch.status().connected()
        {
            return Ok(ch.clone());
        }
        *held = None;
        let (conn, ch) = self.connect().await?;
        *held = Some((conn, ch.clone()));
        Ok(ch)
    }

    async fn deliver(&self, msg: &Outgoing) -> Sent {
        let key = self.routing_key(&msg.tenant, &msg.event_kind);
        let body = match crate::sink::envelope_bytes(msg) {
            Ok(body) => body,
            Err(failed) => return failed,
        };
        let request = format!(
            "basic.publish exchange `{}` routing key {key} ({} bytes, message-id {})",
            self.config.exchange,
            body.len(),
            msg.idempotency_key
        );
        let retry = |status: &str, why: String| Sent {
            verdict: Verdict::Retry { after_ms: None },
            status: status.into(),
            request: request.clone(),
            response: excerpt(&why),
        };
        let ch = match self.channel().await {
            Ok(ch) => ch,
            Err(why) => return retry("connect failed", why),
        };
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(msg.idempotency_key.as_str().into())
            .with_type(msg.event_kind.as_str().into())
            .with_app_id("cavra".into());
        let publish = async {
            ch.basic_publish(
                self.config.exchange.as_str().into(),
                key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &body,
                props,
            )
            .await?
            .await
        };
        match tokio::time::timeout(self.timeout, publish).await {
            Err(_) => retry("confirm timeout", String::new()),
            Ok(Err(e)) => {
                // The channel may be closed: open another on the next attempt.
                *self.open.lock().await = None;
                retry("publish failed", e.to_string())
            }
            Ok(Ok(Confirmation::Ack(None))) => Sent {
                verdict: Verdict::Delivered,
                status: "confirmed".into(),
                request,
                response: String::new(),
            },
            Ok(Ok(Confirmation::Ack(Some(returned)))) => retry(
                "unroutable",
                format!("{} {}", returned.reply_code, returned.reply_text.as_str()),
            ),
            Ok(Ok(Confirmation::Nack(_))) => retry("nack", "the broker did not take it".into()),
            Ok(Ok(Confirmation::NotRequested)) => {
                retry("unconfirmed", "the channel is not in confirm mode".into())
            }
        }
    }
}

impl Sink for Amqp {
    fn kind(&self) -> &'static str {
        "amqp"
    }

    fn send<'a>(&'a self, msg: &'a Outgoing) -> Attempt<'a> {
        Box::pin(self.deliver(msg))
    }

    fn prepare(&self) -> Prepared<'_> {
        Box::pin(async { self.channel().await.map(|_| ()) })
    }
}

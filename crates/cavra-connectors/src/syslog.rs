//! Syslog over TLS: each envelope is one RFC 5424 message, framed by octet counting (RFC 5425:
//! `MSG-LEN SP SYSLOG-MSG`) on a TLS connection that stays open between events.
//!
//! ```text
//! <109>1 2026-01-01T00:00:00.000Z 10.0.0.5 cavra 4242 decision.block [cavra@32473 tenant="acme" event_id="evt_…" idempotency_key="…"] BOM{"format":"cavra-event/v1",…}
//! ```
//!
//! `PRI` is the facility (default 13, log audit) times 8 plus a severity from the event (a
//! rule's `critical` is 2, `high` 3, `medium` 4, `low` 5, `info` 6; a connector failure 3;
//! anything else 5). `HOSTNAME` is the connection's local address; `MSGID` the event type; the
//! structured data element `cavra@32473` (32473 is the enterprise number RFC 5612 reserves
//! for documentation) carries the tenant, the event id and its idempotency key; `MSG` is the
//! signed envelope as UTF-8 JSON.
//!
//! Syslog has no acknowledgement: an event counts as delivered once it is written to the
//! TLS connection and flushed. A write that fails closes the connection; the next attempt
//! opens another.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::ServerName;
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::ConnectorError;
use crate::config::{ConnectorConfig, SyslogConfig};
use crate::sink::{Attempt, Outgoing, Sent, Sink, Verdict, excerpt};

/// The structured data id of cavra's element.
pub const SD_ID: &str = "cavra@32473";

/// A syslog-over-TLS destination.
pub struct Syslog {
    config: SyslogConfig,
    connector: TlsConnector,
    server_name: ServerName<'static>,
    timeout: Duration,
    /// The open connection and its local address, once there is one.
    open: tokio::sync::Mutex<Option<(TlsStream<TcpStream>, String)>>,
}

/// The syslog severity of an event.
fn severity(envelope: &Value) -> u8 {
    if envelope["type"] == "connector.failure" {
        return 3;
    }
    match envelope["data"]["severity"].as_str() {
        Some("critical") => 2,
        Some("high") => 3,
        Some("medium") => 4,
        Some("low") => 5,
        Some("info") => 6,
        _ => 5,
    }
}

/// Escapes a structured data parameter value (RFC 5424 6.3.3: `"`, `\` and `]`).
fn sd_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A header field: printable US-ASCII without spaces, at most `max` long, or `-`.
fn header_field(s: &str, max: usize) -> String {
    let f: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if f.is_empty() { "-".into() } else { f }
}

/// The RFC 5424 message of an envelope, and its RFC 5425 frame.
pub fn frame(config: &SyslogConfig, hostname: &str, msg: &Outgoing) -> Vec<u8> {
    let env = &msg.envelope;
    let pri = u16::from(config.facility) * 8 + u16::from(severity(env));
    let time = env["time"].as_str().unwrap_or("-");
    let sd = format!(
        "[{SD_ID} tenant=\"{}\" event_id=\"{}\" idempotency_key=\"{}\"]",
        sd_escape(&msg.tenant),
        sd_escape(&msg.event_id),
        sd_escape(&msg.idempotency_key)
    );
    let mut line = format!(
        "<{pri}>1 {} {} {} {} {} {sd} ",
        header_field(time, 64),
        header_field(hostname, 255),
        header_field(&config.app_name, 48),
        std::process::id(),
        header_field(&msg.event_kind, 32),
    )
    .into_bytes();
    // MSG in UTF-8 starts with the byte order mark (RFC 5424 6.4).
    line.extend_from_slice(b"\xEF\xBB\xBF");
    line.extend_from_slice(env.to_string().as_bytes());
    let mut out = format!("{} ", line.len()).into_bytes();
    out.extend_from_slice(&line);
    out
}

/// Whether the receiver has closed the connection (or it failed): a receiver sends nothing,
/// so a read that is ready at once is an end of stream or an error. Checked before each write,
/// so an event is not written into a connection the receiver already closed.
async fn peer_closed(stream: &mut TlsStream<TcpStream>) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 256];
    // A zero timeout polls the read once: pending means the connection is open and quiet.
    match tokio::time::timeout(Duration::ZERO, stream.read(&mut buf)).await {
        Err(_) => false,
        Ok(Ok(n)) => n == 0,
        Ok(Err(_)) => true,
    }
}

impl Syslog {
    /// Builds the destination of `c` (its `syslog_tls`). Nothing connects yet.
    pub fn new(c: &ConnectorConfig) -> Result<Syslog, ConnectorError> {
        let setup = |reason: String| ConnectorError::Setup {
            name: c.name.clone(),
            reason,
        };
        let config = c
            .syslog_tls
            .clone()
            .ok_or_else(|| setup("not a syslog_tls connector".into()))?;
        let tls = crate::tls::client_config(&c.name, config.ca_file.as_deref())?;
        let server_name = ServerName::try_from(config.host.clone())
            .map_err(|e| setup(format!("syslog_tls.host: {e}")))?;
        Ok(Syslog {
            connector: TlsConnector::from(Arc::new(tls)),
            server_name,
            timeout: Duration::from_millis(c.timeout_ms),
            open: tokio::sync::Mutex::new(None),
            config,
        })
    }

    async fn connect(&self) -> Result<(TlsStream<TcpStream>, String), String> {
        let addr = (self.config.host.as_str(), self.config.port);
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let local = tcp
            .local_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|_| "-".into());
        tcp.set_nodelay(true).ok();
        let tls = self
            .connector
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        Ok((tls, local))
    }

    async fn deliver(&self, msg: &Outgoing) -> Sent {
        let request = format!(
            "syslog+tls://{}:{} {}",
            self.config.host, self.config.port, msg.event_kind
        );
        let fail = |status: &str, why: String| Sent {
            verdict: Verdict::Retry { after_ms: None },
            status: status.into(),
            request: request.clone(),
            response: excerpt(&why),
        };
        let mut open = self.open.lock().await;
        let attempt = async {
            if let Some((stream, _)) = open.as_mut()
                && peer_closed(stream).await
            {
                *open = None;
            }
            if open.is_none() {
                *open = Some(self.connect().await?);
            }
            let Some((stream, local)) = open.as_mut() else {
                return Err("no connection".to_string());
            };
            let bytes = frame(&self.config, local, msg);
            stream
                .write_all(&bytes)
                .await
                .map_err(|e| format!("write: {e}"))?;
            stream.flush().await.map_err(|e| format!("write: {e}"))?;
            Ok(bytes.len())
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(n)) => Sent {
                verdict: Verdict::Delivered,
                status: "written".into(),
                request: format!("{request} ({n} bytes)"),
                response: String::new(),
            },
            Ok(Err(why)) => {
                *open = None;
                fail("failed", why)
            }
            Err(_) => {
                *open = None;
                fail("timeout", String::new())
            }
        }
    }
}

impl Sink for Syslog {
    fn kind(&self) -> &'static str {
        "syslog_tls"
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
    fn a_frame_is_octet_counted_rfc5424() {
        let config = SyslogConfig {
            host: "logs.example".into(),
            port: 6514,
            facility: 13,
            app_name: "cavra".into(),
            ca_file: None,
        };
        let msg = Outgoing {
            tenant: "acme".into(),
            event_id: "evt_1".into(),
            event_kind: "decision.block".into(),
            destination: "logs".into(),
            idempotency_key: "k\"]".into(),
            envelope: json!({"type": "decision.block", "time": "2026-01-01T00:00:00.000Z",
                             "data": {"severity": "high"}}),
        };
        let f = frame(&config, "10.0.0.5", &msg);
        let text = String::from_utf8(f).unwrap();
        let (len, rest) = text.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), rest.len());
        assert!(
            rest.starts_with("<107>1 2026-01-01T00:00:00.000Z 10.0.0.5 cavra "),
            "{rest}"
        );
        assert!(rest.contains(" decision.block [cavra@32473 tenant=\"acme\" event_id=\"evt_1\" idempotency_key=\"k\\\"\\]\"] \u{feff}{"));
    }
}

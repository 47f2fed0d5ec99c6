//! E-mail over SMTP (lettre on rustls): each event is one message to the connector's
//! recipients, in plain text and HTML, with the signed envelope attached as JSON and any
//! files the event carries (`data.attachments`: `name`, `content_type`, `content_base64`;
//! a report's PDF, an evidence summary).
//!
//! The recipients are checked at delivery, every time, against the connector's allow-list
//! (the configuration check already refused a recipient off it, and refuses two tenants
//! whose allow-lists share an address or a domain), and the event must be the connector's
//! own tenant's: a message that fails either is not sent at all, and is a dead letter. So
//! tenant A's reports never reach tenant B's recipients.
//!
//! SMTP has no idempotency key; the `Message-ID` is derived from the event's key for this
//! destination (`<key@cavra>`), so a mail system or reader can tell a retry's copy.

use std::time::Duration;

use base64::Engine as _;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use serde_json::Value;

use crate::ConnectorError;
use crate::config::{ConnectorConfig, SmtpConfig, SmtpTls, recipient_allowed};
use crate::sink::{Attempt, Outgoing, Sent, Sink, Verdict, excerpt};

/// A loopback SMTP server for tests.
#[cfg(feature = "testing")]
pub mod testing;

/// The most attached in one message, in bytes (decoded).
const MAX_ATTACHMENTS_BYTES: usize = 20 * 1024 * 1024;

/// An SMTP destination.
pub struct Smtp {
    tenant: String,
    config: SmtpConfig,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

/// Escapes text for HTML.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The lines of the message: (label, value) from the envelope.
fn summary(envelope: &Value) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    for key in ["type", "tenant", "time", "id", "subject"] {
        let v = text(&envelope[key]);
        if !v.is_empty() {
            rows.push((key.to_string(), v));
        }
    }
    if let Some(data) = envelope["data"].as_object() {
        for (k, v) in data {
            if k == "attachments" {
                continue;
            }
            let v = text(v);
            if !v.is_empty() {
                rows.push((k.clone(), v));
            }
        }
    }
    rows
}

impl Smtp {
    /// Builds the destination of `c` (its `smtp`), resolving its password and TLS trust.
    pub fn new(c: &ConnectorConfig) -> Result<Smtp, ConnectorError> {
        let setup = |reason: String| ConnectorError::Setup {
            name: c.name.clone(),
            reason,
        };
        let config = c
            .smtp
            .clone()
            .ok_or_else(|| setup("not an smtp connector".into()))?;
        let params = || -> Result<TlsParameters, ConnectorError> {
            let mut b = TlsParameters::builder(config.host.clone());
            if let Some(p) = &config.ca_file {
                let pem = std::fs::read(p).map_err(|e| setup(format!("{}: {e}", p.display())))?;
                b = b.add_root_certificate(
                    Certificate::from_pem(&pem)
                        .map_err(|e| setup(format!("{}: {e}", p.display())))?,
                );
            }
            b.build_rustls().map_err(|e| setup(format!("TLS: {e}")))
        };
        let tls = match config.tls {
            SmtpTls::Starttls => Tls::Required(params()?),
            SmtpTls::Implicit => Tls::Wrapper(params()?),
            SmtpTls::None => Tls::None,
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
            .port(config.port())
            .tls(tls)
            .timeout(Some(Duration::from_millis(c.timeout_ms)));
        if let (Some(user), Some(p)) = (&config.user, &config.password) {
            let pass = p.resolve(&format!("{}.smtp.password", c.name))?;
            b = b.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
        }
        Ok(Smtp {
            tenant: c.tenant.clone(),
            transport: b.build(),
            config,
        })
    }

    /// The message of an envelope, or why it may not be sent.
    pub fn message(&self, msg: &Outgoing) -> Result<Message, String> {
        if msg.tenant != self.tenant {
            return Err(format!(
                "an event of tenant {} at a connector of tenant {}",
                msg.tenant, self.tenant
            ));
        }
        let parse = |a: &str| a.parse::<Mailbox>().map_err(|e| format!("{a}: {e}"));
        let mut b = Message::builder()
            .from(parse(&self.config.from)?)
            .message_id(Some(format!("<{}@cavra>", msg.idempotency_key)));
        for r in &self.config.to {
            if !recipient_allowed(&self.config.allowed_recipients, r) {
                return Err(format!("{r} is not on the tenant's allowed_recipients"));
            }
            b = b.to(parse(r)?);
        }
        let env = &msg.envelope;
        let headline = env["data"]["reason"]
            .as_str()
            .or(env["subject"].as_str())
            .unwrap_or("");
        // The connector's subject template, rendered into the signed envelope.
        let subject = match env["headline"].as_str() {
            Some(line) => format!("{} {line}", self.config.subject_prefix),
            None => format!(
                "{} {} ({}): {}",
                self.config.subject_prefix, msg.event_kind, msg.tenant, headline
            ),
        };
        let rows = summary(env);
        let opening = env["text"].as_str().unwrap_or("");
        let mut plain = String::new();
        if !opening.is_empty() {
            plain.push_str(opening);
            plain.push_str("\n\n");
        }
        plain.extend(rows.iter().map(|(k, v)| format!("{k}: {v}\n")));
        let opening_html = if opening.is_empty() {
            String::new()
        } else {
            format!("<p>{}</p>", html_escape(opening).replace('\n', "<br>"))
        };
        let html = format!(
            "<!DOCTYPE html><html><body><h2>{}</h2>{opening_html}<table>{}</table><p>The signed event is attached (cavra-event.json).</p></body></html>",
            html_escape(&format!("{} ({})", msg.event_kind, msg.tenant)),
            rows.iter()
                .map(|(k, v)| format!(
                    "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                    html_escape(k),
                    html_escape(v)
                ))
                .collect::<String>()
        );
        let json = ContentType::parse("application/json").map_err(|e| e.to_string())?;
        let mut mixed = MultiPart::mixed()
            .multipart(MultiPart::alternative_plain_html(plain, html))
            .singlepart(
                Attachment::new("cavra-event.json".into())
                    .body(serde_json::to_string_pretty(env).unwrap_or_default(), json),
            );
        let mut total = 0usize;
        for (i, a) in env["data"]["attachments"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            let name = a["name"]
                .as_str()
                .filter(|n| !n.is_empty() && !n.contains(['/', '\\']))
                .ok_or(format!("attachments[{i}]: no file name"))?;
            let ct = ContentType::parse(
                a["content_type"]
                    .as_str()
                    .unwrap_or("application/octet-stream"),
            )
            .map_err(|e| format!("attachments[{i}] ({name}): content type: {e}"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(a["content_base64"].as_str().unwrap_or(""))
                .map_err(|e| format!("attachments[{i}] ({name}): {e}"))?;
            total += bytes.len();
            if total > MAX_ATTACHMENTS_BYTES {
                return Err(format!(
                    "attachments over {MAX_ATTACHMENTS_BYTES} bytes in all"
                ));
            }
            mixed = mixed.singlepart(Attachment::new(name.to_string()).body(bytes, ct));
        }
        b.subject(subject)
            .multipart(mixed)
            .map_err(|e| e.to_string())
    }

    async fn deliver(&self, msg: &Outgoing) -> Sent {
        let request = format!(
            "SMTP {}:{} ({:?}) to {} recipient(s)",
            self.config.host,
            self.config.port(),
            self.config.tls,
            self.config.to.len()
        );
        let message = match self.message(msg) {
            Ok(m) => m,
            Err(why) => {
                return Sent {
                    verdict: Verdict::Permanent,
                    status: "refused".into(),
                    request,
                    response: excerpt(&why),
                };
            }
        };
        match self.transport.send(message).await {
            Ok(r) => Sent {
                verdict: Verdict::Delivered,
                status: r.code().to_string(),
                request,
                response: excerpt(&r.message().collect::<Vec<_>>().join(" ")),
            },
            Err(e) => {
                let permanent = e.is_permanent();
                let status = match e.status() {
                    Some(code) => code.to_string(),
                    None if e.is_timeout() => "timeout".into(),
                    None if e.is_tls() => "tls".into(),
                    None => "no answer".into(),
                };
                Sent {
                    verdict: if permanent {
                        Verdict::Permanent
                    } else {
                        Verdict::Retry { after_ms: None }
                    },
                    status,
                    request,
                    response: excerpt(&error_chain(&e)),
                }
            }
        }
    }
}

/// An error and its sources, in one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut why = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        why.push_str(": ");
        why.push_str(&s.to_string());
        source = s.source();
    }
    why
}

impl Sink for Smtp {
    fn kind(&self) -> &'static str {
        "smtp"
    }

    fn send<'a>(&'a self, msg: &'a Outgoing) -> Attempt<'a> {
        Box::pin(self.deliver(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            html_escape("<a href='x'>&"),
            "&lt;a href=&#39;x&#39;&gt;&amp;"
        );
    }
}

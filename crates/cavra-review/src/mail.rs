//! Sending a report to a tenant's own recipients: through the tenant's SMTP connectors as the
//! service's configuration declares them (`connectors:`), with the connector's own checks —
//! the recipients on the tenant's `allowed_recipients` (and no two tenants sharing one, which
//! the configuration check refuses), and the message's tenant the connector's tenant. A
//! connector of another tenant is refused before anything is sent.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use cavra_connectors::sink::{Outgoing, Sink as _, Verdict};
use cavra_connectors::{ConnectorConfig, ConnectorsConfig};
use serde::Serialize;
use serde_json::json;

use crate::ReviewError;

/// The event type of a report message.
pub const EVENT_KIND: &str = "review.report";

/// What to send.
#[derive(Debug)]
pub struct Message<'a> {
    /// The tenant whose report it is.
    pub tenant: &'a str,
    /// The subject line (after the connector's prefix).
    pub subject: &'a str,
    /// The plain-text body (the report's Markdown).
    pub text: &'a str,
    /// Files attached (the HTML page, the signed record).
    pub attachments: &'a [PathBuf],
}

/// One connector's delivery.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// The connector.
    pub connector: String,
    /// Its recipients.
    pub recipients: Vec<String>,
    /// Whether the mail server accepted it.
    pub delivered: bool,
    /// The SMTP status, or `refused`.
    pub status: String,
    /// What the server (or the connector's check) said.
    pub response: String,
}

/// The SMTP connectors to send `tenant`'s report through: `only` by name (which must be the
/// tenant's), else all of the tenant's.
pub fn connectors<'a>(
    config: &'a ConnectorsConfig,
    tenant: &'a str,
    only: Option<&str>,
) -> Result<Vec<&'a ConnectorConfig>, ReviewError> {
    if let Some(name) = only {
        let named: Vec<&ConnectorConfig> = config.0.iter().filter(|c| c.name == name).collect();
        if named.is_empty() {
            return Err(ReviewError::Usage(format!("no connector {name}")));
        }
        let own: Vec<&ConnectorConfig> = named.into_iter().filter(|c| c.tenant == tenant).collect();
        if own.is_empty() {
            return Err(ReviewError::Mail(format!(
                "refused: connector {name} is not tenant {tenant}'s; a tenant's report goes to its own recipients only"
            )));
        }
        return smtp_only(own, name);
    }
    let own: Vec<&ConnectorConfig> = config
        .of_tenant(tenant)
        .filter(|c| c.smtp.is_some())
        .collect();
    if own.is_empty() {
        return Err(ReviewError::Usage(format!(
            "tenant {tenant} has no SMTP connector to send its report through"
        )));
    }
    Ok(own)
}

fn smtp_only<'a>(
    list: Vec<&'a ConnectorConfig>,
    name: &str,
) -> Result<Vec<&'a ConnectorConfig>, ReviewError> {
    if list.iter().any(|c| c.smtp.is_none()) {
        return Err(ReviewError::Usage(format!(
            "connector {name} is not an SMTP connector"
        )));
    }
    Ok(list)
}

/// The signed-event-shaped envelope the connector mails: the report as its text, the files
/// as attachments.
fn envelope(msg: &Message<'_>, id: &str) -> Result<serde_json::Value, ReviewError> {
    let mut attachments = Vec::new();
    for path in msg.attachments {
        let bytes = crate::read_file(path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let content_type = match path.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("md") => "text/markdown; charset=utf-8",
            Some("json") => "application/json",
            Some("svg") => "image/svg+xml",
            _ => "application/octet-stream",
        };
        attachments.push(json!({
            "name": name,
            "content_type": content_type,
            "content_base64": base64::engine::general_purpose::STANDARD.encode(&bytes),
        }));
    }
    Ok(json!({
        "type": EVENT_KIND,
        "tenant": msg.tenant,
        "time": cavra_server::now_text(),
        "id": id,
        "headline": msg.subject,
        "text": msg.text,
        "data": {"attachments": attachments},
    }))
}

/// Sends `msg` through `connectors` (each checked by the connector itself: tenant and
/// allow-list); returns one delivery per connector.
pub fn send(
    msg: &Message<'_>,
    connectors: &[&ConnectorConfig],
) -> Result<Vec<Delivery>, ReviewError> {
    let id = format!(
        "rev_{}",
        crate::sha256(
            format!("{}{}{}", msg.tenant, msg.subject, cavra_server::now_text()).as_bytes()
        )
        .trim_start_matches("sha256:")
        .get(..24)
        .unwrap_or_default()
    );
    let env = envelope(msg, &id)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReviewError::Mail(e.to_string()))?;
    // The transport's pool lives in the runtime: made, used and dropped inside it.
    rt.block_on(async {
        let mut out = Vec::new();
        for c in connectors {
            let sink = cavra_connectors::smtp::Smtp::new(c)
                .map_err(|e| ReviewError::Mail(e.to_string()))?;
            let outgoing = Outgoing {
                tenant: msg.tenant.to_string(),
                event_id: id.clone(),
                event_kind: EVENT_KIND.into(),
                destination: c.name.clone(),
                idempotency_key: format!("{id}.{}", c.name),
                envelope: env.clone(),
            };
            let sent = sink.send(&outgoing).await;
            out.push(Delivery {
                connector: c.name.clone(),
                recipients: c.smtp.as_ref().map(|s| s.to.clone()).unwrap_or_default(),
                delivered: sent.verdict == Verdict::Delivered,
                status: sent.status,
                response: sent.response,
            });
        }
        Ok(out)
    })
}

/// Reads the connectors of the service's configuration file.
pub fn config(path: &Path) -> Result<ConnectorsConfig, ReviewError> {
    let config = cavra_server::admin::config(Some(path), None, None)
        .map_err(|e| ReviewError::Usage(e.to_string()))?;
    Ok(config.connectors)
}

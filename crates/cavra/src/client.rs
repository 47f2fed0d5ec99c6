//! The CLI as a client of the API service (`--server URL`, token from `CAVRA_TOKEN`).

use anyhow::anyhow;
use serde_json::Value;

use crate::support::Failure;

/// Whether `value` names an API service (an http or https URL) rather than an MCP server.
pub fn is_service_url(value: &str) -> bool {
    value.starts_with("http://") || value.starts_with("https://")
}

/// Why a call to the service failed.
pub enum CallError {
    /// It could not be reached, timed out or failed on its side (5xx).
    Unreachable(String),
    /// It answered with a refusal (4xx), or with something that is not the service's answer.
    Refused(String),
}

/// Sends one request to the service with `token`; returns its JSON answer.
pub fn send(
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    timeout: std::time::Duration,
) -> Result<Value, CallError> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CallError::Unreachable(format!("no async runtime: {e}")))?;
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        let mut req = match method {
            "POST" => http.post(&url),
            _ => http.get(&url),
        }
        .bearer_auth(token.trim());
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            CallError::Unreachable(format!(
                "the cavra service at {base} cannot be reached ({e})"
            ))
        })?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        if status.is_server_error() {
            return Err(CallError::Unreachable(format!(
                "the cavra service at {base} failed ({status})"
            )));
        }
        let value: Value = serde_json::from_str(&text).map_err(|_| {
            CallError::Refused(format!(
                "{base} answered {status} with something that is not JSON"
            ))
        })?;
        if status.is_success() {
            Ok(value)
        } else {
            Err(CallError::Refused(format!(
                "the cavra service at {base} refused the request ({status}: {})",
                value
                    .get("detail")
                    .and_then(Value::as_str)
                    .unwrap_or("no detail")
            )))
        }
    })
}

/// Calls the service with the token from `CAVRA_TOKEN`; a failure carries the problem's detail.
pub fn call(base: &str, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
    let token = std::env::var("CAVRA_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| Failure::Usage("set CAVRA_TOKEN to an API token of the service".into()))?;
    send(
        base,
        &token,
        method,
        path,
        body,
        std::time::Duration::from_secs(30),
    )
    .map_err(|e| match e {
        CallError::Unreachable(m) | CallError::Refused(m) => Failure::Other(anyhow!("{m}")),
    })
}

//! The CLI as a client of the API service (`--server URL`, token from `CAVRA_TOKEN`).

use anyhow::anyhow;
use serde_json::Value;

use crate::support::Failure;

/// Whether `value` names an API service (an http or https URL) rather than an MCP server.
pub fn is_service_url(value: &str) -> bool {
    value.starts_with("http://") || value.starts_with("https://")
}

/// Calls the service; returns the JSON answer or a failure carrying the problem's detail.
pub fn call(base: &str, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
    let token = std::env::var("CAVRA_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| Failure::Usage("set CAVRA_TOKEN to an API token of the service".into()))?;
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| anyhow!("{e}"))?;
        let mut req = match method {
            "POST" => http.post(&url),
            _ => http.get(&url),
        }
        .bearer_auth(token.trim());
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| anyhow!("cannot reach {base}: {e}"))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| anyhow!("{e}"))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|_| anyhow!("{base} answered {status} with something that is not JSON"))?;
        if status.is_success() {
            Ok(value)
        } else {
            let detail = value
                .get("detail")
                .and_then(Value::as_str)
                .unwrap_or("no detail");
            Err(Failure::Other(anyhow!("{base}: {status}: {detail}")))
        }
    })
}

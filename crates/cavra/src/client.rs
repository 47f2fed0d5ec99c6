//! The CLI as a client of the API service (`--server URL`, token from `CAVRA_TOKEN`).

use anyhow::anyhow;
use serde_json::Value;

use crate::support::Failure;

pub use cavra_runtime::service::{CallError, is_service_url, send};

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

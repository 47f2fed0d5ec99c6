//! The CLI as a client of the API service (`--server URL`, token from `CAVRA_TOKEN`).

use anyhow::anyhow;
use serde_json::Value;

use crate::support::Failure;

pub use cavra_runtime::service::{CallError, is_service_url, send};

/// The token from `CAVRA_TOKEN`.
pub fn token() -> Result<String, Failure> {
    std::env::var("CAVRA_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| Failure::Usage("set CAVRA_TOKEN to an API token of the service".into()))
}

/// Calls the service with `token`.
pub fn call_with(
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, CallError> {
    send(
        base,
        token,
        method,
        path,
        body,
        std::time::Duration::from_secs(30),
    )
}

/// Calls the service with the token from `CAVRA_TOKEN`; a failure carries the problem's detail.
pub fn call(base: &str, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
    call_with(base, &token()?, method, path, body).map_err(|e| Failure::Other(anyhow!("{e}")))
}

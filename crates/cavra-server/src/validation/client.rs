//! The validator's HTTP client: JSON calls with a bearer token, their status kept (the proofs
//! compare refusals), and the evidence bundle as bytes.

use std::time::Duration;

use serde_json::Value;

use super::ValidationError;

/// A client of one service.
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client of the service at `base`.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, ValidationError> {
        if !crate::validation::is_url(base) {
            return Err(ValidationError::Service(format!(
                "{base} is not an http:// or https:// URL"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ValidationError::Service(e.to_string()))?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// One call: the status and the answer (JSON, or its text as a string).
    pub async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ValidationError> {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "POST" => self.http.post(&url),
            "PUT" => self.http.put(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.get(&url),
        }
        .bearer_auth(token.trim());
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            ValidationError::Service(format!("{method} {url}: cannot be reached ({e})"))
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| ValidationError::Service(format!("{method} {url}: {e}")))?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// A call that must succeed: its answer.
    pub async fn ok(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ValidationError> {
        let (status, v) = self.call(token, method, path, body).await?;
        if (200..300).contains(&status) {
            Ok(v)
        } else {
            Err(ValidationError::Service(format!(
                "{method} {path} answered {status}: {}",
                v.get("detail")
                    .and_then(Value::as_str)
                    .unwrap_or("no detail")
            )))
        }
    }

    /// The caller's evidence bundle (a tar holding `bundle/`), unpacked into `into`.
    pub async fn bundle(
        &self,
        token: &str,
        query: &str,
        into: &std::path::Path,
    ) -> Result<std::path::PathBuf, ValidationError> {
        let url = format!("{}/v1/evidence/bundle{query}", self.base);
        let resp = self
            .http
            .get(&url)
            .bearer_auth(token.trim())
            .send()
            .await
            .map_err(|e| ValidationError::Service(format!("GET {url}: {e}")))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ValidationError::Service(format!("GET {url}: {e}")))?;
        if !status.is_success() {
            return Err(ValidationError::Service(format!(
                "GET {url} answered {status}"
            )));
        }
        tar::Archive::new(bytes.as_ref())
            .unpack(into)
            .map_err(|e| ValidationError::Service(format!("the bundle does not unpack: {e}")))?;
        Ok(into.join("bundle"))
    }

    /// Records a signed report in the caller's log (`POST /v1/validations`): its log index,
    /// or why not.
    pub async fn record(&self, token: &str, signed: &str) -> Result<u64, String> {
        let body = serde_json::json!({ "report": signed });
        match self
            .call(token, "POST", "/v1/validations", Some(&body))
            .await
        {
            Ok((s, v)) if (200..300).contains(&s) => v
                .get("log_index")
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("answered {s} without a log index")),
            Ok((s, v)) => Err(format!(
                "answered {s}: {}",
                v.get("detail")
                    .and_then(Value::as_str)
                    .unwrap_or("no detail")
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}

//! The API service as the decider (`cavra hook --server`, the CLI's `--server`): one call
//! to it, and the line between a service that cannot be reached (the fallback applies) and
//! one that refuses (always a deny); and the readiness probe an orchestrator runs against it.

use serde_json::Value;
use std::time::Duration;

/// Why a call to the service failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// It could not be reached, timed out or failed on its side (5xx).
    Unreachable(String),
    /// It answered with a refusal (4xx), or with something that is not the service's answer.
    Refused(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unreachable(m) | CallError::Refused(m) => f.write_str(m),
        }
    }
}

/// Whether `value` names an API service (an http or https URL) rather than an MCP server.
pub fn is_service_url(value: &str) -> bool {
    value.starts_with("http://") || value.starts_with("https://")
}

/// Sends one request to the service at `base` with `token`; returns its JSON answer.
pub fn send(
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    timeout: Duration,
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
            "PUT" => http.put(&url),
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

/// Where `cavra healthcheck` asks by default: the readiness route at `cavra serve`'s default
/// address (inside a container the service listens on all addresses, loopback included).
pub const DEFAULT_READYZ_URL: &str = "http://127.0.0.1:7700/readyz";

/// Why the service is not ready, as a readiness probe (`cavra healthcheck`) tells it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// The URL is not an http(s) URL.
    #[error("{0} is not an http:// or https:// URL")]
    Url(String),
    /// Nothing answered (refused, timed out, name not resolved).
    #[error("{url} cannot be reached: {reason}")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// The service answered, but not ready (503 while the database is away or behind).
    #[error("{url} answered {status}: {detail}")]
    Answered {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The problem's `detail`, or the body's start when it is not a problem document.
        detail: String,
    },
}

/// Asks the service's readiness route `url` once: its JSON answer when it says ready (200),
/// else why not. One attempt within `timeout`: the orchestrator's probe does the retrying.
pub fn readiness(url: &str, timeout: Duration) -> Result<Value, NotReady> {
    if !is_service_url(url) {
        return Err(NotReady::Url(url.to_string()));
    }
    let unreachable = |reason: String| NotReady::Unreachable {
        url: url.to_string(),
        reason,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| unreachable(format!("no async runtime: {e}")))?;
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| unreachable(e.to_string()))?;
        let resp = http
            .get(url)
            .send()
            .await
            .map_err(|e| unreachable(error_chain(&e)))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| unreachable(e.to_string()))?;
        let value: Option<Value> = serde_json::from_str(&text).ok();
        match value {
            Some(v) if status.is_success() => Ok(v),
            _ => Err(NotReady::Answered {
                url: url.to_string(),
                status: status.as_u16(),
                detail: value
                    .as_ref()
                    .and_then(|v| v.get("detail"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| text.chars().take(200).collect()),
            }),
        }
    })
}

/// An error with its causes (reqwest's own message alone says only "error sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Follows one event's deliveries (`get` reads `GET /v1/connectors/deliveries/ID`) until each
/// is delivered or given up, or `wait` has passed. Returns the last detail read and whether
/// every delivery was delivered.
pub fn follow_deliveries<E>(
    mut get: impl FnMut() -> Result<Value, E>,
    wait: Duration,
) -> Result<(Value, bool), E> {
    let deadline = std::time::Instant::now() + wait;
    let all = |detail: &Value, pred: &dyn Fn(&Value) -> bool| {
        detail["deliveries"]
            .as_array()
            .is_some_and(|l| !l.is_empty() && l.iter().all(pred))
    };
    loop {
        let detail = get()?;
        if all(&detail, &|d| d["state"] != "pending") || std::time::Instant::now() >= deadline {
            let delivered = all(&detail, &|d| d["state"] == "delivered");
            return Ok((detail, delivered));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A one-shot HTTP server on loopback answering `status` with `body`.
    fn answer_once(status: &str, body: &'static str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let status = status.to_string();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn a_refusal_is_not_an_outage_and_an_outage_is_not_a_refusal() {
        let t = Duration::from_secs(5);
        let ok = answer_once("200 OK", r#"{"a":1}"#);
        assert_eq!(
            send(&ok, "t", "GET", "/x", None, t),
            Ok(serde_json::json!({"a": 1}))
        );
        let refused = answer_once("403 Forbidden", r#"{"detail":"bad token"}"#);
        match send(&refused, "t", "GET", "/x", None, t) {
            Err(CallError::Refused(m)) => assert!(m.contains("bad token"), "{m}"),
            other => panic!("{other:?}"),
        }
        let failed = answer_once("503 Service Unavailable", "{}");
        assert!(matches!(
            send(&failed, "t", "GET", "/x", None, t),
            Err(CallError::Unreachable(_))
        ));
        // Nothing listens on a port just released.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", closed.local_addr().expect("addr"));
        drop(closed);
        assert!(matches!(
            send(&base, "t", "GET", "/x", None, t),
            Err(CallError::Unreachable(_))
        ));
    }

    #[test]
    fn readiness_is_a_200_with_json_and_anything_else_says_why_not() {
        let t = Duration::from_secs(5);
        let ready = answer_once("200 OK", r#"{"status":"ready","schema_version":9}"#);
        let v = readiness(&format!("{ready}/readyz"), t).expect("ready");
        assert_eq!(v["schema_version"], 9);
        let behind = answer_once(
            "503 Service Unavailable",
            r#"{"title":"Service Unavailable","detail":"the database does not answer: x"}"#,
        );
        match readiness(&format!("{behind}/readyz"), t) {
            Err(NotReady::Answered { status, detail, .. }) => {
                assert_eq!(status, 503);
                assert_eq!(detail, "the database does not answer: x");
            }
            other => panic!("{other:?}"),
        }
        let html = answer_once("200 OK", "<html>not the service</html>");
        assert!(matches!(
            readiness(&html, t),
            Err(NotReady::Answered { status: 200, .. })
        ));
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/readyz", closed.local_addr().expect("addr"));
        drop(closed);
        match readiness(&url, t) {
            Err(NotReady::Unreachable { reason, .. }) => {
                assert!(reason.to_lowercase().contains("refused"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            readiness("127.0.0.1:7700/readyz", t),
            Err(NotReady::Url("127.0.0.1:7700/readyz".into()))
        );
    }

    #[test]
    fn following_deliveries_stops_when_each_is_settled_and_says_whether_all_were_delivered() {
        let mut reads = vec![
            serde_json::json!({"deliveries": [{"state": "delivered"}, {"state": "dead"}]}),
            serde_json::json!({"deliveries": [{"state": "delivered"}, {"state": "pending"}]}),
        ];
        let (last, delivered) = follow_deliveries(
            || Ok::<_, ()>(reads.pop().expect("read again only while pending")),
            Duration::from_secs(60),
        )
        .expect("read");
        assert!(!delivered, "a dead letter is not delivered");
        assert_eq!(last["deliveries"][1]["state"], "dead");
        let done = serde_json::json!({"deliveries": [{"state": "delivered"}]});
        let (_, delivered) =
            follow_deliveries(|| Ok::<_, ()>(done.clone()), Duration::ZERO).expect("read");
        assert!(delivered);
        // Nothing to follow yet, and no time left: not delivered.
        let none = serde_json::json!({"deliveries": []});
        let (_, delivered) =
            follow_deliveries(|| Ok::<_, ()>(none.clone()), Duration::ZERO).expect("read");
        assert!(!delivered);
    }
}

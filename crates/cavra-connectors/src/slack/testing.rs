//! What tests and benchmarks need to stand in for Slack: a loopback Web API and response
//! URL checking what cavra sends ([`StandIn`]), and the signed request of a button press
//! ([`signed_press`]), each written once here.

use super::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the stand-in took.
#[derive(Debug, Clone)]
pub struct Call {
    /// `chat.postMessage`, `chat.update`, `chat.postEphemeral`, `webhook` or `response`.
    pub method: String,
    /// The JSON body.
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
    /// Why the stand-in refused it (as Slack would, `ok: false`), if it did.
    pub refused: Option<String>,
}

/// A loopback stand-in for Slack's Web API (`{api_url}/chat.postMessage`,
/// `chat.update`, `chat.postEphemeral`, with a bot token), an incoming webhook
/// (`/webhook`) and response URLs (`/response/…`). It checks each request as Slack
/// documents them (the token; JSON; a channel, and `ts` for an update; Block Kit's
/// limits: at most 50 blocks, a header's plain text at most 150 characters, at most 10
/// fields of at most 2000, buttons with an `action_id` and a value of at most 2000),
/// answers `ok: false` with Slack's error word when one fails, and records every request.
pub struct StandIn {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

fn check_blocks(body: &Value) -> Result<(), String> {
    if body["text"].as_str().is_none_or(str::is_empty) && body["blocks"].is_null() {
        return Err("no_text".into());
    }
    let Some(blocks) = body.get("blocks") else {
        return Ok(());
    };
    let blocks = blocks.as_array().ok_or("invalid_blocks: not a list")?;
    if blocks.len() > 50 {
        return Err("invalid_blocks: more than 50".into());
    }
    for b in blocks {
        let len = |v: &Value| v.as_str().map(|s| s.chars().count()).unwrap_or(usize::MAX);
        match b["type"].as_str() {
            Some("header") => {
                if b["text"]["type"] != "plain_text" || len(&b["text"]["text"]) > 150 {
                    return Err("invalid_blocks: header".into());
                }
            }
            Some("section") => {
                let fields = b["fields"].as_array();
                if fields.is_none() && b["text"].is_null() {
                    return Err("invalid_blocks: empty section".into());
                }
                if let Some(f) = fields
                    && (f.len() > 10 || f.iter().any(|x| len(&x["text"]) > 2000))
                {
                    return Err("invalid_blocks: section fields".into());
                }
                if !b["text"].is_null() && len(&b["text"]["text"]) > 3000 {
                    return Err("invalid_blocks: section text".into());
                }
            }
            Some("actions") => {
                let el = b["elements"].as_array().ok_or("invalid_blocks: actions")?;
                if el.len() > 25
                    || el.iter().any(|e| {
                        e["type"] != "button"
                            || len(&e["action_id"]) > 255
                            || len(&e["value"]) > 2000
                            || len(&e["text"]["text"]) > 75
                    })
                {
                    return Err("invalid_blocks: button".into());
                }
            }
            Some("context") => {
                if b["elements"]
                    .as_array()
                    .is_none_or(|e| e.is_empty() || e.len() > 10)
                {
                    return Err("invalid_blocks: context".into());
                }
            }
            other => return Err(format!("invalid_blocks: type {other:?}")),
        }
    }
    Ok(())
}

fn check(method: &str, auth: Option<&str>, token: &str, body: &Value) -> Result<(), String> {
    if method.starts_with("chat.") && auth != Some(&format!("Bearer {token}")) {
        return Err("invalid_auth".into());
    }
    match method {
        "chat.postMessage" | "chat.postEphemeral" if body["channel"].as_str().is_none() => {
            return Err("channel_not_found".into());
        }
        "chat.postEphemeral" if body["user"].as_str().is_none() => {
            return Err("user_not_found".into());
        }
        "chat.update" if body["channel"].is_null() || body["ts"].is_null() => {
            return Err("message_not_found".into());
        }
        "chat.postMessage" | "chat.update" | "chat.postEphemeral" | "webhook" | "response" => {}
        _ => return Err("unknown_method".into()),
    }
    check_blocks(body)
}

impl StandIn {
    /// Starts it on a loopback port (its own thread and runtime), taking bot token
    /// `token`.
    pub fn start(token: &str) -> StandIn {
        use axum::extract::Path;
        use axum::http::HeaderMap;
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let (store, token) = (calls.clone(), token.to_string());
        std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                    let take = move |method: String, headers: HeaderMap, body: axum::body::Bytes| {
                        let at = Instant::now();
                        let auth = headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let refused = if json.is_object() {
                            check(&method, auth.as_deref(), &token, &json).err()
                        } else {
                            Some("invalid_json".into())
                        };
                        let answer = match &refused {
                            None => json!({"ok": true, "channel": json["channel"],
                                "ts": json.get("ts").cloned().unwrap_or(json!("1700000000.000100"))}),
                            Some(e) => json!({"ok": false, "error": e}),
                        };
                        if let Ok(mut c) = store.lock() {
                            c.push(Call { method: method.clone(), body: json, at, refused });
                        }
                        if method.starts_with("chat.") {
                            answer.to_string()
                        } else {
                            "ok".to_string()
                        }
                    };
                    let (a, b, c) = (take.clone(), take.clone(), take);
                    let app = axum::Router::new()
                        .route(
                            "/api/{method}",
                            axum::routing::post(move |Path(m): Path<String>, h: HeaderMap, body| {
                                let a = a.clone();
                                async move { a(m, h, body) }
                            }),
                        )
                        .route(
                            "/webhook",
                            axum::routing::post(move |h: HeaderMap, body| {
                                let b = b.clone();
                                async move { b("webhook".into(), h, body) }
                            }),
                        )
                        .route(
                            "/response/{id}",
                            axum::routing::post(move |h: HeaderMap, body| {
                                let c = c.clone();
                                async move { c("response".into(), h, body) }
                            }),
                        );
                    let Ok(l) = tokio::net::TcpListener::bind("127.0.0.1:0").await else {
                        return;
                    };
                    if let Ok(addr) = l.local_addr() {
                        let _ = tx.send(addr);
                    }
                    let _ = axum::serve(l, app).await;
                });
        });
        let addr = rx.recv().expect("the Slack stand-in listens");
        StandIn {
            base: format!("http://{addr}"),
            calls,
        }
    }

    /// The Web API's base URL (`api_url`).
    pub fn api_url(&self) -> String {
        format!("{}/api", self.base)
    }

    /// The incoming webhook's URL.
    pub fn webhook_url(&self) -> String {
        format!("{}/webhook", self.base)
    }

    /// A response URL, as Slack gives with each press.
    pub fn response_url(&self, id: &str) -> String {
        format!("{}/response/{id}", self.base)
    }

    /// Every request so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Waits (up to a minute: a bound against hanging, not a measure) for `n` requests
    /// that `pred` accepts; returns them. Blocks the thread: for tests without a runtime.
    pub fn wait_for(&self, n: usize, pred: impl Fn(&Call) -> bool) -> Vec<Call> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got: Vec<Call> = self.calls().into_iter().filter(|c| pred(c)).collect();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// [`StandIn::wait_for`] for async tests: yields to the runtime while it waits.
    pub async fn until(&self, n: usize, pred: impl Fn(&Call) -> bool) -> Vec<Call> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got: Vec<Call> = self.calls().into_iter().filter(|c| pred(c)).collect();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// A press of the Approve (`approve`) or Deny button of approval `approval_id` of
/// `tenant` by Slack user `user`, answering to `response_url`, as Slack sends it at
/// `timestamp`: the headers `X-Slack-Request-Timestamp` and `X-Slack-Signature` (signed
/// with `secret`) and the form-encoded body.
pub fn signed_press(
    secret: &str,
    timestamp: i64,
    tenant: &str,
    approval_id: &str,
    user: &str,
    approve: bool,
    response_url: &str,
) -> (Vec<(&'static str, String)>, String) {
    let action = if approve { APPROVE_ACTION } else { DENY_ACTION };
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user, "username": user.to_lowercase(), "team_id": "T0CAVRA"},
        "api_app_id": "A0CAVRA",
        "team": {"id": "T0CAVRA", "domain": "cavra-test"},
        "container": {"type": "message", "message_ts": "1700000000.000100",
                      "channel_id": "C0APPROVALS", "is_ephemeral": false},
        "channel": {"id": "C0APPROVALS", "name": "approvals"},
        "message": {"type": "message", "ts": "1700000000.000100", "text": "Approval needed",
                    "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "Approval needed"}},
                               {"type": "actions", "block_id": "cavra_approval", "elements": []}]},
        "response_url": response_url,
        "trigger_id": "1.2.3",
        "actions": [{"action_id": action, "block_id": "cavra_approval", "type": "button",
                     "value": format!("{tenant}:{approval_id}"),
                     "action_ts": format!("{timestamp}.000200")}],
    });
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish();
    let ts = timestamp.to_string();
    let sig = crate::chat::hmac_sha256(
        secret.as_bytes(),
        &[format!("v0:{ts}:").as_bytes(), body.as_bytes()],
    );
    (
        vec![
            ("X-Slack-Request-Timestamp", ts),
            ("X-Slack-Signature", format!("v0={}", hex::encode(sig))),
            (
                "Content-Type",
                "application/x-www-form-urlencoded".to_string(),
            ),
        ],
        body,
    )
}

//! What the chat and ticket kinds ([`crate::slack`], [`crate::teams`],
//! [`crate::servicenow`], [`crate::jira`]) share: who a user there is to cavra and the fields
//! of an approval as people read them. Their callbacks' signatures are checked by
//! [`crate::signature`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The approver identity a chat user acts as, by configuration: the subject the approval
/// rules see (the same as the person's API token or OIDC subject, so that "nobody decides
/// their own request" holds across channels) and the approver groups they belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatApprover {
    /// The subject (`alice`, an OIDC `sub`).
    pub subject: String,
    /// Approver groups (`Cloud Security`); an approval routed to a group they are not in is
    /// refused, as through the API.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// Checks an `approvers` map: user ids in the vendor's form (`valid_user`), subjects and
/// groups not empty.
pub(crate) fn check_approvers(
    field: &str,
    approvers: &BTreeMap<String, ChatApprover>,
    valid_user: impl Fn(&str) -> bool,
    form: &str,
) -> Result<(), String> {
    for (user, a) in approvers {
        if !valid_user(user) {
            return Err(format!("{field}: `{user}` is not a user id ({form})"));
        }
        if a.subject.trim().is_empty() || a.subject.len() > 200 {
            return Err(format!("{field}.{user}.subject: 1 to 200 characters"));
        }
        if a.groups.iter().any(|g| g.trim().is_empty()) {
            return Err(format!("{field}.{user}.groups: no empty group names"));
        }
    }
    Ok(())
}

/// A string field of an envelope's data, or empty.
pub(crate) fn field<'a>(data: &'a Value, key: &str) -> &'a str {
    data.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Cuts `text` to `max` characters, marking the cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// The facts of an approval request, labelled, in the order people read them: what the
/// agent wants to do and why it needs approval. Empty values are left out.
pub(crate) fn approval_facts(data: &Value) -> Vec<(&'static str, String)> {
    let action = match (field(data, "action_type"), field(data, "target")) {
        ("", "") => field(data, "summary").to_string(),
        (a, "") => a.to_string(),
        (a, t) => format!("{a}: {t}"),
    };
    [
        ("Action", action),
        ("Rule", field(data, "rule_id").to_string()),
        ("Reason", field(data, "reason").to_string()),
        ("Session", field(data, "session_id").to_string()),
        ("Repository", field(data, "repository").to_string()),
        ("Requested by", field(data, "requested_by").to_string()),
        ("Approver group", field(data, "approver_group").to_string()),
        ("Expires", field(data, "expires_at").to_string()),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect()
}

/// A one-line headline of any event for people: `decision.block: execute_command: rm -rf /
/// (rule, reason)`.
pub(crate) fn headline(kind: &str, data: &Value) -> String {
    let what = match (field(data, "action_type"), field(data, "target")) {
        ("", "") => field(data, "summary").to_string(),
        (a, t) => format!("{a}: {t}"),
    };
    let why = [field(data, "rule_id"), field(data, "reason")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(": ");
    match (what.is_empty(), why.is_empty()) {
        (true, true) => kind.to_string(),
        (false, true) => format!("{kind}: {what}"),
        (true, false) => format!("{kind} ({why})"),
        (false, false) => format!("{kind}: {what} ({why})"),
    }
}

/// Whether an event type is an alert (a block, break glass): such events go to the alerts
/// channel.
pub(crate) fn is_alert(kind: &str) -> bool {
    matches!(
        kind,
        "decision.block" | "decision.break_glass" | "approval.break_glass"
    )
}

/// Loopback stand-ins for the chat services, for tests and benchmarks (the `testing`
/// feature).
#[cfg(feature = "testing")]
pub mod testing {
    use serde_json::{Value, json};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    /// One request the stand-in took.
    #[derive(Debug, Clone)]
    pub struct Call {
        /// `chat.postMessage`, `chat.update`, `chat.postEphemeral`, `webhook`, `response` or
        /// `teams`.
        pub method: String,
        /// The JSON body.
        pub body: Value,
        /// When it arrived.
        pub at: Instant,
        /// Why the stand-in refused it (as Slack would, `ok: false`), if it did.
        pub refused: Option<String>,
    }

    /// A loopback stand-in for ServiceNow's Table API (`/api/now/table/{incident,
    /// change_request}`, basic authentication as `cavra` with the token as password: GET by
    /// `correlation_id`, POST with `short_description` and `correlation_id` required, numbers
    /// `INC…`/`CHG…` given), Slack's Web API (`{api_url}/chat.postMessage`,
    /// `chat.update`, `chat.postEphemeral`, with a bot token), a Slack incoming webhook
    /// (`/webhook`), Slack response URLs (`/response/…`) and a Teams Workflows webhook
    /// (`/teams/…`, checked by [`check_card`]). It checks each request as Slack
    /// documents them (the token; JSON; a channel, and `ts` for an update; Block Kit's
    /// limits: at most 50 blocks, a header's plain text at most 150 characters, at most 10
    /// fields of at most 2000, buttons with an `action_id` and a value of at most 2000),
    /// answers `ok: false` with Slack's error word when one fails, and records every request.
    pub struct StandIn {
        /// `http://127.0.0.1:PORT`.
        pub base: String,
        calls: Arc<Mutex<Vec<Call>>>,
        records: Arc<Mutex<Vec<Value>>>,
        failing: Arc<std::sync::atomic::AtomicUsize>,
    }

    /// One term of a ServiceNow encoded query.
    enum Term {
        Is(String, String),
        In(String, Vec<String>),
        StartsWith(String, String),
    }

    impl Term {
        fn matches(&self, r: &Value) -> bool {
            let field = |f: &str| r[f].as_str().unwrap_or("").to_string();
            match self {
                Term::Is(f, v) => field(f) == *v,
                Term::In(f, vs) => vs.contains(&field(f)),
                Term::StartsWith(f, v) => field(f).starts_with(v.as_str()),
            }
        }
    }

    /// Reads an encoded query of the terms the connector sends, joined by `^` (and):
    /// `field=value`, `fieldINa,b,c`, `fieldSTARTSWITHx`; anything else is an error.
    fn encoded_query(q: &str) -> Result<Vec<Term>, String> {
        let field_ok =
            |f: &str| !f.is_empty() && f.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        q.split('^')
            .map(|t| {
                if let Some((f, v)) = t.split_once('=')
                    && field_ok(f)
                {
                    return Ok(Term::Is(f.into(), v.into()));
                }
                if let Some((f, v)) = t.split_once("STARTSWITH")
                    && field_ok(f)
                {
                    return Ok(Term::StartsWith(f.into(), v.into()));
                }
                if let Some((f, v)) = t.split_once("IN")
                    && field_ok(f)
                {
                    return Ok(Term::In(
                        f.into(),
                        v.split(',').map(str::to_string).collect(),
                    ));
                }
                Err(format!("unsupported query term `{t}`"))
            })
            .collect()
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

    /// Checks a Teams Workflows message as the "Post card" flow takes it: a `message` with one
    /// attachment of content type `application/vnd.microsoft.card.adaptive` whose content is
    /// an Adaptive Card of version 1.4 (or lower), every body element a `TextBlock` with
    /// text or a `FactSet` of titled values, every action an `Action.OpenUrl` to an http(s)
    /// URL.
    pub fn check_card(body: &Value) -> Result<(), String> {
        if body["type"] != "message" {
            return Err("not a message".into());
        }
        let attachments = body["attachments"].as_array().ok_or("no attachments")?;
        let [card] = attachments.as_slice() else {
            return Err("one attachment".into());
        };
        if card["contentType"] != "application/vnd.microsoft.card.adaptive" {
            return Err("not an Adaptive Card".into());
        }
        let content = &card["content"];
        if content["type"] != "AdaptiveCard" {
            return Err("content is not an AdaptiveCard".into());
        }
        if !matches!(
            content["version"].as_str(),
            Some("1.0" | "1.1" | "1.2" | "1.3" | "1.4")
        ) {
            return Err(format!("version {} is not at most 1.4", content["version"]));
        }
        for e in content["body"].as_array().ok_or("no body")? {
            match e["type"].as_str() {
                Some("TextBlock") if e["text"].as_str().is_some_and(|t| !t.is_empty()) => {}
                Some("FactSet")
                    if e["facts"].as_array().is_some_and(|f| {
                        f.iter()
                            .all(|x| x["title"].is_string() && x["value"].is_string())
                    }) => {}
                other => return Err(format!("body element {other:?} malformed")),
            }
        }
        for a in content["actions"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let url = a["url"].as_str().unwrap_or("");
            if a["type"] != "Action.OpenUrl"
                || a["title"].as_str().is_none()
                || !(url.starts_with("https://") || url.starts_with("http://"))
            {
                return Err(format!("action {a} malformed"));
            }
        }
        Ok(())
    }

    fn check(method: &str, auth: Option<&str>, token: &str, body: &Value) -> Result<(), String> {
        if method == "teams" {
            return check_card(body);
        }
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
            let records = Arc::new(Mutex::new(Vec::<Value>::new()));
            let (tickets, ticket_calls) = (records.clone(), calls.clone());
            let failing = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let unavailable = failing.clone();
            let basic = format!(
                "Basic {}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    format!("cavra:{token}")
                )
            );
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
                    let (a, b, c, d) = (take.clone(), take.clone(), take.clone(), take);
                    // ServiceNow's Table API: records by table, found by correlation_id.
                    let table = move |method: axum::http::Method,
                                      table: String,
                                      query: Option<String>,
                                      headers: HeaderMap,
                                      body: axum::body::Bytes| {
                        let at = Instant::now();
                        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        let mut refused = None;
                        let (status, answer) = if auth != Some(basic.as_str()) {
                            refused = Some("401 User Not Authenticated".to_string());
                            (401, json!({"error": {"message": "User Not Authenticated"}}))
                        } else if !matches!(table.as_str(), "incident" | "change_request") {
                            refused = Some(format!("400 no table {table}"));
                            (400, json!({"error": {"message": "Invalid table"}}))
                        } else if method == axum::http::Method::GET
                            && unavailable.fetch_update(
                                std::sync::atomic::Ordering::SeqCst,
                                std::sync::atomic::Ordering::SeqCst,
                                |n| n.checked_sub(1),
                            ).is_ok()
                        {
                            refused = Some("503 unavailable".into());
                            (503, json!({"error": {"message": "Service Unavailable"}}))
                        } else if method == axum::http::Method::GET {
                            let wanted = query
                                .as_deref()
                                .and_then(|q| {
                                    url::form_urlencoded::parse(q.as_bytes())
                                        .find(|(k, _)| k == "sysparm_query")
                                        .map(|(_, v)| v.into_owned())
                                })
                                .unwrap_or_default();
                            let limit = query
                                .as_deref()
                                .and_then(|q| {
                                    url::form_urlencoded::parse(q.as_bytes())
                                        .find(|(k, _)| k == "sysparm_limit")
                                        .and_then(|(_, v)| v.parse::<usize>().ok())
                                })
                                .unwrap_or(10_000);
                            match encoded_query(&wanted) {
                                Err(e) => {
                                    refused = Some(format!("400 {e}"));
                                    (400, json!({"error": {"message": e}}))
                                }
                                Ok(terms) => {
                                    let found: Vec<Value> = tickets
                                        .lock()
                                        .map(|t| {
                                            t.iter()
                                                .filter(|r| {
                                                    r["table"] == table.as_str()
                                                        && terms.iter().all(|term| term.matches(r))
                                                })
                                                .take(limit)
                                                .cloned()
                                                .collect()
                                        })
                                        .unwrap_or_default();
                                    (200, json!({"result": found}))
                                }
                            }
                        } else if json["short_description"].as_str().is_none_or(str::is_empty)
                            || json["correlation_id"].as_str().is_none()
                        {
                            refused = Some("400 short_description and correlation_id".into());
                            (400, json!({"error": {"message": "Missing fields"}}))
                        } else {
                            let mut t = tickets.lock().unwrap_or_else(|p| p.into_inner());
                            let prefix = if table == "incident" { "INC" } else { "CHG" };
                            let mut r = json.clone();
                            r["table"] = json!(table);
                            r["number"] = json!(format!("{prefix}{:07}", t.len() + 1));
                            r["sys_id"] = json!(format!("{:032x}", t.len() + 1));
                            t.push(r.clone());
                            (201, json!({"result": r}))
                        };
                        if let Ok(mut c) = ticket_calls.lock() {
                            c.push(Call {
                                method: format!("servicenow.{} {table}", method.as_str().to_lowercase()),
                                body: json,
                                at,
                                refused,
                            });
                        }
                        (
                            axum::http::StatusCode::from_u16(status)
                                .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
                            answer.to_string(),
                        )
                    };
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
                            "/api/now/table/{table}",
                            axum::routing::any(
                                move |m: axum::http::Method,
                                      Path(name): Path<String>,
                                      q: axum::extract::RawQuery,
                                      h: HeaderMap,
                                      body| {
                                    let table = table.clone();
                                    async move { table(m, name, q.0, h, body) }
                                },
                            ),
                        )
                        .route(
                            "/teams/{id}",
                            axum::routing::post(move |h: HeaderMap, body| {
                                let d = d.clone();
                                async move { d("teams".into(), h, body) }
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
                records,
                failing,
            }
        }

        /// Sets `fields` of the ServiceNow record `number`, as a person changing it on the
        /// instance does (`approval`, `sys_updated_by`). False when there is no such record.
        pub fn set_ticket(&self, number: &str, fields: Value) -> bool {
            let mut t = self.records.lock().unwrap_or_else(|p| p.into_inner());
            let Some(r) = t.iter_mut().find(|r| r["number"] == number) else {
                return false;
            };
            if let (Some(r), Some(f)) = (r.as_object_mut(), fields.as_object()) {
                r.extend(f.clone());
            }
            true
        }

        /// The next `n` Table API reads are answered 503.
        pub fn fail_reads(&self, n: usize) {
            self.failing.store(n, std::sync::atomic::Ordering::SeqCst);
        }

        /// The Web API's base URL (`api_url`).
        pub fn api_url(&self) -> String {
            format!("{}/api", self.base)
        }

        /// The incoming webhook's URL.
        pub fn webhook_url(&self) -> String {
            format!("{}/webhook", self.base)
        }

        /// A Teams Workflows webhook's URL.
        pub fn teams_url(&self) -> String {
            format!("{}/teams/workflow", self.base)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn facts_and_headlines_read_the_event() {
        let data = json!({"action_type": "execute_command", "target": "terraform apply",
            "rule_id": "cloud.apply", "reason": "changes infrastructure", "session_id": "s1",
            "repository": "acme/infra", "expires_at": "2026-01-01T00:00:00.000Z", "summary": "x"});
        let facts = approval_facts(&data);
        assert_eq!(
            facts[0],
            ("Action", "execute_command: terraform apply".to_string())
        );
        assert!(
            facts
                .iter()
                .any(|(k, v)| *k == "Repository" && v == "acme/infra")
        );
        assert!(!facts.iter().any(|(k, _)| *k == "Approver group"));
        assert_eq!(
            headline("decision.block", &data),
            "decision.block: execute_command: terraform apply (cloud.apply: changes infrastructure)"
        );
        assert_eq!(cut("abcdef", 4), "abc…");
        assert!(is_alert("decision.break_glass") && !is_alert("approval.requested"));
    }
}

//! What tests need of Jira: a loopback stand-in for the two REST v3 operations the connector
//! uses ([`StandIn`]), the check of an Atlassian Document Format description it applies
//! ([`check_adf`]), and a webhook call signed as Jira signs one ([`signed_webhook`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// One request the stand-in took.
#[derive(Debug, Clone)]
pub struct Call {
    /// `search` or `create`.
    pub method: String,
    /// The JSON body.
    pub body: Value,
    /// The status answered.
    pub status: u16,
    /// Why it was refused (as Jira's `errorMessages`), if it was.
    pub refused: Option<String>,
}

fn only_keys(node: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match node.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{what}: property `{k}` is not allowed")),
        None => Ok(()),
    }
}

fn check_marks(node: &Map<String, Value>) -> Result<(), String> {
    let Some(marks) = node.get("marks") else {
        return Ok(());
    };
    let marks = marks.as_array().ok_or("text.marks: not an array")?;
    let mut kinds = Vec::new();
    for m in marks {
        let m = m.as_object().ok_or("mark: not an object")?;
        only_keys(m, &["type", "attrs"], "mark")?;
        let kind = m.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "strong" | "em" | "code" | "strike" | "underline" => {
                if m.contains_key("attrs") {
                    return Err(format!("mark {kind}: no attrs"));
                }
            }
            "link" => {
                if m.get("attrs")
                    .and_then(|a| a.get("href"))
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err("mark link: attrs.href required".into());
                }
            }
            other => return Err(format!("mark `{other}` is not an ADF mark")),
        }
        if kinds.contains(&kind) {
            return Err(format!("mark {kind} twice"));
        }
        kinds.push(kind);
    }
    // `code` combines with `link` only.
    if kinds.contains(&"code") && kinds.iter().any(|k| !matches!(*k, "code" | "link")) {
        return Err("mark code combines with link only".into());
    }
    Ok(())
}

fn check_inline(n: &Value) -> Result<(), String> {
    let node = n.as_object().ok_or("inline node: not an object")?;
    match node.get("type").and_then(Value::as_str) {
        Some("text") => {
            only_keys(node, &["type", "text", "marks"], "text")?;
            if node
                .get("text")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err("text: `text` must be a non-empty string".into());
            }
            check_marks(node)
        }
        Some("hardBreak") => only_keys(node, &["type", "attrs"], "hardBreak"),
        other => Err(format!("inline node {other:?} is not text or hardBreak")),
    }
}

fn inline_content(node: &Map<String, Value>, what: &str) -> Result<(), String> {
    match node.get("content") {
        None => Ok(()),
        Some(c) => c
            .as_array()
            .ok_or(format!("{what}.content: not an array"))?
            .iter()
            .try_for_each(check_inline),
    }
}

fn check_block(n: &Value, depth: usize) -> Result<(), String> {
    if depth > 8 {
        return Err("nested too deep".into());
    }
    let node = n.as_object().ok_or("block node: not an object")?;
    let content = |min: usize| -> Result<&Vec<Value>, String> {
        let c = node
            .get("content")
            .and_then(Value::as_array)
            .ok_or("content: an array is required")?;
        if c.len() < min {
            return Err(format!("content: at least {min} nodes"));
        }
        Ok(c)
    };
    match node.get("type").and_then(Value::as_str) {
        Some("paragraph") => {
            only_keys(node, &["type", "content", "attrs", "marks"], "paragraph")?;
            inline_content(node, "paragraph")
        }
        Some("heading") => {
            only_keys(node, &["type", "content", "attrs", "marks"], "heading")?;
            let level = node
                .get("attrs")
                .and_then(|a| a.get("level"))
                .and_then(Value::as_u64);
            if !matches!(level, Some(1..=6)) {
                return Err("heading: attrs.level 1 to 6".into());
            }
            inline_content(node, "heading")
        }
        Some(list @ ("bulletList" | "orderedList")) => {
            only_keys(node, &["type", "content", "attrs"], list)?;
            for item in content(1)? {
                let item = item.as_object().ok_or("listItem: not an object")?;
                only_keys(item, &["type", "content", "attrs"], "listItem")?;
                if item.get("type").and_then(Value::as_str) != Some("listItem") {
                    return Err(format!("{list}: only listItem nodes"));
                }
                let inner = item
                    .get("content")
                    .and_then(Value::as_array)
                    .filter(|c| !c.is_empty())
                    .ok_or("listItem: content of at least one node")?;
                if inner[0]["type"] != "paragraph" {
                    return Err("listItem: a paragraph first".into());
                }
                for b in inner {
                    if !matches!(
                        b["type"].as_str(),
                        Some("paragraph" | "bulletList" | "orderedList" | "codeBlock")
                    ) {
                        return Err(format!("listItem: {} is not allowed in it", b["type"]));
                    }
                    check_block(b, depth + 1)?;
                }
            }
            Ok(())
        }
        Some("codeBlock") => {
            only_keys(node, &["type", "content", "attrs"], "codeBlock")?;
            for t in node
                .get("content")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                if t["type"] != "text" || t.get("marks").is_some() {
                    return Err("codeBlock: unmarked text only".into());
                }
                check_inline(t)?;
            }
            Ok(())
        }
        Some("rule") => only_keys(node, &["type"], "rule"),
        other => Err(format!("block node {other:?} is not supported here")),
    }
}

/// Checks `doc` as Jira checks a description in the Atlassian Document Format (the node
/// types an issue description built by cavra may use, and their rules from the ADF
/// structure reference): a `doc` of `version` 1 whose content is block nodes (paragraph,
/// heading with level 1-6, bullet and ordered lists of list items opening with a paragraph,
/// code blocks of unmarked text, rules); inline nodes text (non-empty, marks strong, em,
/// code, strike, underline, link with an href; each once; code only with link) and
/// hardBreak; no property a node does not define.
pub fn check_adf(doc: &Value) -> Result<(), String> {
    let d = doc.as_object().ok_or("description: not an object")?;
    only_keys(d, &["type", "version", "content"], "doc")?;
    if d.get("type").and_then(Value::as_str) != Some("doc") {
        return Err("description: type is not doc".into());
    }
    if d.get("version").and_then(Value::as_u64) != Some(1) {
        return Err("doc: version 1 required".into());
    }
    d.get("content")
        .and_then(Value::as_array)
        .ok_or("doc: content array required")?
        .iter()
        .try_for_each(|b| check_block(b, 0))
}

#[derive(Default)]
struct Site {
    issues: Vec<Value>,
    calls: Vec<Call>,
    /// Creates whose answer is lost (the issue is made, the caller gets a 503).
    lose: usize,
}

/// A loopback stand-in for Jira Cloud's REST API v3: `POST /rest/api/3/search/jql` (the JQL
/// `project = "P" AND labels = "L"` the connector sends; anything else is answered 400 as
/// unsupported) and `POST /rest/api/3/issue` (`fields.project.key` of the site's project,
/// `issuetype.name`, a one-line `summary` of at most 255 characters, a `description` that
/// [`check_adf`] accepts, `labels` without spaces), both with basic authentication of the
/// account and its API token. Issues are numbered `<PROJECT>-1`, `-2`, … .
pub struct StandIn {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    site: Arc<Mutex<Site>>,
}

fn create(project: &str, body: &Value, n: usize) -> Result<Value, String> {
    let f = &body["fields"];
    if f["project"]["key"] != project {
        return Err(format!("project {} does not exist", f["project"]["key"]));
    }
    if f["issuetype"]["name"].as_str().is_none_or(str::is_empty) {
        return Err("issuetype: Specify an issue type".into());
    }
    let summary = f["summary"].as_str().unwrap_or("");
    if summary.is_empty() || summary.chars().count() > 255 || summary.contains(['\n', '\r']) {
        return Err(
            "summary: You must specify a summary of the issue (one line, at most 255 characters)."
                .into(),
        );
    }
    check_adf(&f["description"]).map_err(|e| format!("description: {e}"))?;
    if let Some(labels) = f.get("labels") {
        let ok = labels.as_array().is_some_and(|l| {
            l.iter().all(|x| {
                x.as_str()
                    .is_some_and(|s| !s.is_empty() && s.len() <= 255 && !s.contains(' '))
            })
        });
        if !ok {
            return Err("labels: strings without spaces, at most 255 characters".into());
        }
    }
    let mut issue = f.clone();
    issue["key"] = json!(format!("{project}-{n}"));
    issue["id"] = json!((10000 + n).to_string());
    Ok(issue)
}

fn search(project: &str, body: &Value, issues: &[Value]) -> Result<Value, String> {
    let jql = body["jql"].as_str().ok_or("jql required")?;
    let unquote = |s: &str| -> Option<String> {
        let s = s.trim().strip_prefix('"')?.strip_suffix('"')?;
        Some(s.replace("\\\"", "\"").replace("\\\\", "\\"))
    };
    let (p, l) = jql
        .strip_prefix("project = ")
        .and_then(|r| r.split_once(" AND labels = "))
        .ok_or_else(|| format!("unsupported JQL: {jql}"))?;
    let (p, label) = (
        unquote(p).ok_or("project: a quoted key")?,
        unquote(l).ok_or("labels: a quoted label")?,
    );
    let max = body["maxResults"].as_u64().unwrap_or(50) as usize;
    let found: Vec<Value> = issues
        .iter()
        .filter(|i| {
            p == project
                && i["labels"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|x| x == label.as_str()))
        })
        .take(max)
        .map(|i| json!({"id": i["id"], "key": i["key"], "fields": {"summary": i["summary"]}}))
        .collect();
    Ok(json!({"issues": found, "isLast": true}))
}

impl StandIn {
    /// Starts it on a loopback port (its own thread and runtime), for project `project`
    /// and the account `user` with API token `token`.
    pub fn start(project: &str, user: &str, token: &str) -> StandIn {
        let site: Arc<Mutex<Site>> = Arc::default();
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let (state, project) = (site.clone(), project.to_string());
        std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let take = move |method: &'static str,
                                 headers: axum::http::HeaderMap,
                                 body: axum::body::Bytes| {
                    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let mut site = state.lock().unwrap_or_else(|p| p.into_inner());
                    let authorised = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        == Some(auth.as_str());
                    let result = if !authorised {
                        Err((401, "Client must be authenticated to access this resource.".to_string()))
                    } else if !json.is_object() {
                        Err((400, "the body is not a JSON object".into()))
                    } else if method == "search" {
                        search(&project, &json, &site.issues).map_err(|e| (400, e))
                    } else {
                        let n = site.issues.len() + 1;
                        create(&project, &json, n).map_err(|e| (400, e))
                    };
                    let (status, answer, refused) = match result {
                        Ok(issue) if method == "create" => {
                            site.issues.push(issue.clone());
                            let answer = json!({"id": issue["id"], "key": issue["key"],
                                "self": format!("/rest/api/3/issue/{}", issue["id"].as_str().unwrap_or(""))});
                            if site.lose > 0 {
                                site.lose -= 1;
                                (503, json!({"errorMessages": ["answer lost"]}), None)
                            } else {
                                (201, answer, None)
                            }
                        }
                        Ok(found) => (200, found, None),
                        Err((status, why)) => {
                            (status, json!({"errorMessages": [why], "errors": {}}), Some(why))
                        }
                    };
                    site.calls.push(Call {
                        method: method.into(),
                        body: json,
                        status,
                        refused,
                    });
                    (
                        axum::http::StatusCode::from_u16(status)
                            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        answer.to_string(),
                    )
                };
                let s = take.clone();
                let app = axum::Router::new()
                    .route(
                        "/rest/api/3/search/jql",
                        axum::routing::post(move |h: axum::http::HeaderMap, b: axum::body::Bytes| {
                            let s = s.clone();
                            async move { s("search", h, b) }
                        }),
                    )
                    .route(
                        "/rest/api/3/issue",
                        axum::routing::post(move |h: axum::http::HeaderMap, b: axum::body::Bytes| {
                            let c = take.clone();
                            async move { c("create", h, b) }
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
        let addr = rx.recv().expect("the Jira stand-in listens");
        StandIn {
            base: format!("http://{addr}"),
            site,
        }
    }

    /// The next `n` creates make their issue but answer 503, as a lost answer looks.
    pub fn lose_answers(&self, n: usize) {
        self.site.lock().unwrap_or_else(|p| p.into_inner()).lose = n;
    }

    /// Every request so far.
    pub fn calls(&self) -> Vec<Call> {
        self.site
            .lock()
            .map(|s| s.calls.clone())
            .unwrap_or_default()
    }

    /// Every issue made so far (its fields, `key` and `id`).
    pub fn issues(&self) -> Vec<Value> {
        self.site
            .lock()
            .map(|s| s.issues.clone())
            .unwrap_or_default()
    }

    /// Waits (up to a minute: a bound against hanging) for `n` issues; returns them.
    pub async fn until_issues(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let got = self.issues();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A `jira:issue_updated` webhook call as Jira sends it at `timestamp_ms`: issue `key`
/// (with `labels`) moved from `from` to status `to` by account `account`, signed with
/// `secret` (`X-Hub-Signature: sha256=<hex>`): the headers and the JSON body.
pub fn signed_webhook(
    secret: &str,
    timestamp_ms: i64,
    key: &str,
    labels: &[String],
    from: &str,
    to: &str,
    account: &str,
) -> (Vec<(&'static str, String)>, String) {
    let body = json!({
        "timestamp": timestamp_ms,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic",
        "user": {"accountId": account, "displayName": format!("User {account}"), "active": true},
        "issue": {"id": "10001", "key": key, "fields": {
            "labels": labels, "status": {"name": to}, "summary": "cavra: approval.requested"}},
        "changelog": {"id": "10100", "items": [{
            "field": "status", "fieldtype": "jira", "fieldId": "status",
            "from": "1", "fromString": from, "to": "2", "toString": to}]},
    })
    .to_string();
    let mac = crate::signature::hmac_sha256(secret.as_bytes(), &[body.as_bytes()]);
    (
        vec![
            ("X-Hub-Signature", format!("sha256={}", hex::encode(mac))),
            (
                "X-Atlassian-Webhook-Identifier",
                format!("{timestamp_ms}-{key}"),
            ),
            ("Content-Type", "application/json".to_string()),
        ],
        body,
    )
}

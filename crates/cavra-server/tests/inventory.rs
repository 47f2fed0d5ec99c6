//! Inventory ingestion through the service and the CLI's library, on SQLite and (with
//! `CAVRA_TEST_POSTGRES_URL`) PostgreSQL: imports become versions with evidence entries, bad
//! sources are refused with their line, items page by id, coverage findings come from the
//! decisions recorded, and posture and readiness count the inventory's agents once there is
//! one. An HTTP source is a loopback stand-in with Link pagination, a `next` field and ETags.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{HeaderMap, StatusCode as AxStatus, header};
use cavra_server::inventory::cli::{ImportArgs, Target, run_import};
use cavra_server::readiness;
use common::Server;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn ok(s: &Server, method: &str, path: &str, token: &str, body: Option<Value>) -> Value {
    let (status, value) = s.call(method, path, Some(token), body).await;
    assert!(status.is_success(), "{method} {path}: {status} {value}");
    value
}

fn import_body(source: &str, format: &str, content: &str) -> Value {
    json!({"source": source, "format": format, "content": content})
}

const HOSTS: &str = r#"[
  {"kind": "endpoint", "name": "dev-1", "last_seen": "2099-01-01T00:00:00Z"},
  {"kind": "endpoint", "name": "dev-2"},
  {"kind": "endpoint", "name": "old-1", "last_seen": "2020-01-01T00:00:00Z"},
  {"kind": "repository", "name": "acme/app"},
  {"kind": "repository", "name": "https://github.com/acme/other.git"},
  {"kind": "agent", "name": "claude-code", "endpoint": "dev-1", "hooks": true},
  {"kind": "agent", "name": "codex", "endpoint": "dev-2"},
  {"kind": "agent", "name": "claude-code", "endpoint": "dev-3", "hooks": false},
  {"kind": "mcp_server", "name": "github", "endpoint": "dev-1"},
  {"kind": "mcp_server", "name": "rogue", "endpoint": "dev-1"},
  {"kind": "ci_runner", "name": "runner-1"}
]"#;

async fn imports_and_coverage(s: &Server) {
    let admin = s.token("a", "admin", "admin-a", &[]).await;
    let auditor = s.token("a", "auditor", "aud-a", &[]).await;
    let agent = s.token("a", "agent", "dev-1", &[]).await;
    let b_admin = s.token("b", "admin", "admin-b", &[]).await;

    // Nothing imported: an empty page, no coverage, and the posture counts the registry.
    let page = ok(s, "GET", "/v1/inventory", &auditor, None).await;
    assert_eq!(page["inventory"], Value::Null);
    let (st, _) = s
        .call("GET", "/v1/inventory/coverage", Some(&auditor), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let posture = ok(s, "GET", "/v1/posture", &auditor, None).await;
    assert!(
        posture["aispm"]["hook_coverage"]
            .get("inventory_version")
            .is_none()
    );

    // Only admins import; no token, no import.
    let body = import_body("hosts.json", "json", HOSTS);
    let (st, _) = s
        .call("POST", "/v1/inventory", Some(&agent), Some(body.clone()))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s
        .call("POST", "/v1/inventory", None, Some(body.clone()))
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    // A bad source is refused naming its line and column, and nothing is stored.
    let (st, p) = s
        .call(
            "POST",
            "/v1/inventory",
            Some(&admin),
            Some(import_body(
                "hosts.csv",
                "csv",
                "kind,name\nagent,a\nagent,\"b\n",
            )),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or("")
            .starts_with("hosts.csv:3:2:"),
        "{p}"
    );
    let (st, p) = s
        .call(
            "POST",
            "/v1/inventory",
            Some(&admin),
            Some(import_body(
                "x.json",
                "json",
                "[{\"kind\": \"toaster\", \"name\": \"t\"}]",
            )),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(
        ok(s, "GET", "/v1/inventory/versions", &auditor, None)
            .await
            .as_array()
            .expect("list")
            .is_empty()
    );

    // Decisions: dev-1 asks as claude-code in acme/app.
    s.decision(
        &agent,
        json!({"request": {"action": "read_file", "target": "README.md", "session_id": "s1",
                            "agent_id": "claude-code", "repository": "https://github.com/acme/app"}}),
    )
    .await;
    ok(
        s,
        "PUT",
        "/v1/registry/mcp-servers/github",
        &admin,
        Some(json!({"trust_tier": "trusted", "approval_state": "approved"})),
    )
    .await;

    // Version 1: a CSV of one host; version 2: the JSON.
    let v1 = ok(
        s,
        "POST",
        "/v1/inventory",
        &admin,
        Some(import_body("one.csv", "csv", "kind,name\nendpoint,dev-1\n")),
    )
    .await;
    assert_eq!(v1["inventory"]["version"], 1);
    let v2 = ok(s, "POST", "/v1/inventory", &admin, Some(body)).await;
    assert_eq!(v2["inventory"]["version"], 2);
    assert_eq!(v2["inventory"]["items"], 11);
    assert_eq!(v2["inventory"]["counts"]["agent"], 3);
    assert_eq!(v2["tenant"], "a");

    // Each import is an evidence entry with its digest, counts and source.
    let entries = s.entry_bodies(&auditor, "inventory").await;
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["source"], "hosts.json");
    assert_eq!(entries[1]["digest"], v2["inventory"]["digest"]);
    assert!(
        entries[1]["digest"]
            .as_str()
            .unwrap_or("")
            .starts_with("sha256:")
    );
    assert_eq!(entries[1]["counts"]["endpoint"], 3);

    // Keyset pagination over the current version; version 1 still reads; a kind filter.
    let mut after = String::new();
    let mut ids = Vec::new();
    loop {
        let path = format!(
            "/v1/inventory?limit=4{}",
            if after.is_empty() {
                String::new()
            } else {
                format!("&after={after}")
            }
        );
        let page = ok(s, "GET", &path, &auditor, None).await;
        assert_eq!(page["inventory"]["version"], 2);
        ids.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["id"].as_str().unwrap_or("").to_string()),
        );
        match page["next"].as_str() {
            Some(n) => after = n.to_string(),
            None => break,
        }
    }
    assert_eq!(ids.len(), 11, "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let old = ok(s, "GET", "/v1/inventory?version=1", &auditor, None).await;
    assert_eq!(old["items"][0]["id"], "endpoint:dev-1");
    let agents = ok(s, "GET", "/v1/inventory?kind=agent&limit=2", &auditor, None).await;
    assert_eq!(agents["items"].as_array().map(Vec::len), Some(2));
    assert!(
        agents["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["kind"] == "agent")
    );
    let (st, _) = s
        .call("GET", "/v1/inventory?version=9", Some(&auditor), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Another tenant sees none of it.
    let theirs = ok(s, "GET", "/v1/inventory", &b_admin, None).await;
    assert_eq!(theirs["inventory"], Value::Null);

    // Coverage.
    let c = ok(s, "GET", "/v1/inventory/coverage", &auditor, None).await;
    assert_eq!(c["inventory"]["version"], 2);
    assert_eq!(c["endpoints"], json!({"total": 2, "covered": 1}), "{c}");
    assert_eq!(c["repositories"], json!({"total": 2, "covered": 1}), "{c}");
    assert_eq!(c["agents"], json!({"total": 3, "covered": 1}), "{c}");
    assert_eq!(c["mcp_servers"], json!({"total": 2, "covered": 1}), "{c}");
    assert_eq!(c["stale"], 1);
    let findings: Vec<String> = c["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["finding"].as_str().unwrap_or(""),
                f["id"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        findings,
        [
            "not_reporting ci_runner:runner-1",
            "not_reporting endpoint:dev-2",
            "not_reporting repository:https://github.com/acme/other.git",
            "agent_without_hooks agent:claude-code@dev-3",
            "agent_without_hooks agent:codex@dev-2",
            "mcp_server_unregistered mcp_server:rogue@dev-1",
            "stale endpoint:old-1",
        ]
    );

    // The posture's hook coverage is now the inventory's: 1 of 3 agents.
    let posture = ok(s, "GET", "/v1/posture", &auditor, None).await;
    let h = &posture["aispm"]["hook_coverage"];
    assert_eq!(
        (h["inventory"].as_u64(), h["seen"].as_u64()),
        (Some(3), Some(1)),
        "{h}"
    );
    assert_eq!(h["inventory_version"], 2);
    let factor = posture["aispm"]["factors"]
        .as_array()
        .expect("factors")
        .iter()
        .find(|f| f["id"] == "hook_coverage")
        .cloned()
        .expect("the factor");
    assert!(
        factor["explanation"]
            .as_str()
            .unwrap_or("")
            .contains("imported inventory (version 2)"),
        "{factor}"
    );
    // So is the readiness gate's floor.
    let t = vec!["a".to_string()];
    let r = readiness::check(
        &s.state.db,
        &readiness::Gate::of_service(&s.state, &t, time::OffsetDateTime::now_utc()),
    )
    .await
    .expect("gate");
    let floor: Vec<_> = r
        .blockers
        .iter()
        .filter(|b| b.validator == readiness::HOOK_COVERAGE_FLOOR)
        .collect();
    assert_eq!(floor.len(), 1, "{:?}", r.blockers);
    assert!(
        floor[0]
            .problem
            .starts_with("1 of 3 agent(s) of the imported inventory (version 2)"),
        "{}",
        floor[0].problem
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_versions_pages_and_coverage_on_sqlite() {
    let s = common::sqlite_server().await;
    imports_and_coverage(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_versions_pages_and_coverage_on_postgres() {
    let Some(s) = common::postgres_with(|_| {}).await else {
        return;
    };
    imports_and_coverage(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_over_the_limits_is_refused_and_unauthenticated_bodies_are_not_read() {
    let s = common::sqlite_with(|c| {
        c.inventory.max_bytes = 2048;
        c.inventory.max_items = 3;
    })
    .await;
    let admin = s.token("a", "admin", "admin-a", &[]).await;
    let big = "kind,name\n".to_string() + &"agent,aaaaaaaaaaaaaaaaaaaa\n".repeat(200);
    let (st, p) = s
        .call(
            "POST",
            "/v1/inventory",
            Some(&admin),
            Some(import_body("big.csv", "csv", &big)),
        )
        .await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{p}");
    let many = "kind,name\nagent,a\nagent,b\nagent,c\nagent,d\n";
    let (st, p) = s
        .call(
            "POST",
            "/v1/inventory",
            Some(&admin),
            Some(import_body("many.csv", "csv", many)),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or("")
            .contains("more than 3 items"),
        "{p}"
    );
    // Without a token, a large body is refused before it is read.
    // (the service answers 401 and closes the connection: the client may see the answer or,
    // still writing, a closed connection; never a 2xx or a 413 from reading it).
    let huge = "x".repeat(4 << 20);
    let sent = s
        .http
        .post(format!("{}/v1/inventory", s.base))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await;
    match sent {
        Ok(resp) => assert_eq!(resp.status(), StatusCode::UNAUTHORIZED),
        Err(e) => assert!(e.is_request(), "{e}"),
    }
}

/// A stand-in inventory API: page 1 links page 2 by a Link header, page 2 names page 3 in its
/// `next`; the first page has an ETag and answers 304 to it.
async fn stand_in() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/hosts",
        axum::routing::get(move |q: axum::extract::Query<std::collections::HashMap<String, String>>, headers: HeaderMap| {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                let page = q.get("page").cloned().unwrap_or_else(|| "1".into());
                let mut out = HeaderMap::new();
                match page.as_str() {
                    "1" => {
                        if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some("\"inv-1\"") {
                            return (AxStatus::NOT_MODIFIED, out, String::new());
                        }
                        out.insert(header::ETAG, "\"inv-1\"".parse().expect("etag"));
                        out.insert(header::LINK, "</hosts?page=2>; rel=\"next\"".parse().expect("link"));
                        (AxStatus::OK, out, r#"[{"kind":"endpoint","name":"dev-1"}]"#.to_string())
                    }
                    "2" => (AxStatus::OK, out, r#"{"items":[{"kind":"agent","name":"codex","endpoint":"dev-1"}],"next":"/hosts?page=3"}"#.to_string()),
                    _ => (AxStatus::OK, out, r#"{"items":[{"kind":"mcp_server","name":"fs","endpoint":"dev-1"}]}"#.to_string()),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hosts"), hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_imports_files_and_paged_http_sources_with_etags() {
    let s = common::sqlite_server().await;
    let admin = s.token("a", "admin", "admin-a", &[]).await;
    let (url, hits) = stand_in().await;
    let rt = tokio::runtime::Handle::current();
    let base = s.base.clone();
    let http = s.http.clone();
    let call = move |method: &str, path: &str, body: Option<&Value>| -> Result<Value, String> {
        let req = match method {
            "GET" => http.get(format!("{base}{path}")),
            _ => http.post(format!("{base}{path}")),
        }
        .bearer_auth(&admin);
        let req = match body {
            Some(b) => req.json(b),
            None => req,
        };
        rt.block_on(async {
            let resp = req.send().await.map_err(|e| e.to_string())?;
            let status = resp.status();
            let v: Value = resp.json().await.map_err(|e| e.to_string())?;
            if status.is_success() {
                Ok(v)
            } else {
                Err(format!("{status}: {v}"))
            }
        })
    };
    let csv = s.dir.path().join("hosts.csv");
    std::fs::write(&csv, "kind,name,owner\nendpoint,dev-9,\"Ops, EU\"\n").expect("write");
    let bad = s.dir.path().join("bad.csv");
    std::fs::write(&bad, "kind,name\nendpoint,a,b\n").expect("write");
    let out = tokio::task::spawn_blocking(move || {
        let args = |source: String, tenant: Option<&str>| ImportArgs {
            source,
            tenant: tenant.map(str::to_string),
            format: None,
            by: "cli".into(),
        };
        let mut call = call;
        let file = run_import(
            &args(csv.display().to_string(), Some("a")),
            Target::Service(&mut call),
        );
        let refused = run_import(
            &args(bad.display().to_string(), None),
            Target::Service(&mut call),
        );
        let wrong_tenant = run_import(
            &args(csv.display().to_string(), Some("b")),
            Target::Service(&mut call),
        );
        let first = run_import(&args(url.clone(), None), Target::Service(&mut call));
        let again = run_import(&args(url, None), Target::Service(&mut call));
        (file, refused, wrong_tenant, first, again)
    })
    .await
    .expect("the CLI's import");
    let (file, refused, wrong_tenant, first, again) = out;
    let file = file.expect("a file import");
    assert_eq!(file.outcome, "imported");
    assert_eq!(file.inventory.as_ref().map(|v| v.version), Some(1));
    assert!(file.text().contains("1 endpoint"), "{}", file.text());
    let e = refused.expect_err("a bad row").to_string();
    assert!(
        e.ends_with("bad.csv:2:3: 3 fields where the header has 2"),
        "{e}"
    );
    assert!(
        wrong_tenant
            .expect_err("another tenant")
            .to_string()
            .contains("not b")
    );
    let first = first.expect("the URL");
    assert_eq!((first.outcome, first.pages), ("imported", Some(3)));
    let v = first.inventory.expect("a version");
    assert_eq!(
        (v.version, v.items, v.etag.as_deref()),
        (2, 3, Some("\"inv-1\""))
    );
    // The second time, the stand-in answers 304 to the ETag: version 2 is kept.
    let again = again.expect("not modified");
    assert_eq!(again.outcome, "not_modified");
    assert_eq!(again.inventory.map(|v| v.version), Some(2));
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    let versions = ok(
        &s,
        "GET",
        "/v1/inventory/versions",
        &s.token("a", "auditor", "aud", &[]).await,
        None,
    )
    .await;
    assert_eq!(versions.as_array().map(Vec::len), Some(2));
}

//! The read pages over HTTP: decisions (search, keyset pages, detail with a proof the service
//! checks and a downloaded proof that checks offline), sessions, evidence (checkpoint
//! signature, a bundle assembled and verified), registry and pack diffs; another tenant's ids
//! are 404 everywhere.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::{Server, start};

/// Records `n` decisions of tenant `a` by `bot`, alternating repositories; returns their ids,
/// newest last.
async fn record(s: &Server, token: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let repo = if i % 2 == 0 { "acme/app" } else { "acme/infra" };
        let resp = s
            .http
            .post(format!("{}/v1/decisions", s.base))
            .bearer_auth(token)
            .json(&json!({"request": {"action": "read_file", "target": format!("src/f{i}.rs"), "session_id": "sess-p", "agent_id": "claude-code", "repository": repo}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let d: serde_json::Value = resp.json().await.unwrap();
        ids.push(d["record"]["decision_id"].as_str().unwrap().to_string());
    }
    ids
}

fn count(body: &str, needle: &str) -> usize {
    body.matches(needle).count()
}

/// The `before=` cursor of the page's "older" link.
fn next_link(body: &str) -> Option<String> {
    let i = body.find("rel=\"next\"")?;
    let start = body[..i].rfind("href=\"")? + 6;
    let end = body[start..].find('"')? + start;
    Some(body[start..end].replace("&amp;", "&"))
}

#[tokio::test]
async fn decisions_page_by_keyset_and_filter_by_repository_rule_actor_and_outcome() {
    let s = start(|_| {}).await;
    let bot = s.token("a", "agent", "bot", &[]).await;
    let ids = record(&s, &bot, 120).await;
    let auditor = s.token("a", "auditor", "audrey", &[]).await;
    let mut b = s.signed_in(&auditor).await;

    let mut seen = Vec::new();
    let mut url = "/console/decisions".to_string();
    loop {
        let page = b.get(&url).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let rows: Vec<String> = ids
            .iter()
            .filter(|id| page.body.contains(&format!("/console/decisions/{id}\"")))
            .cloned()
            .collect();
        assert!(rows.len() <= cavra_console::decisions::PAGE);
        seen.extend(rows);
        match next_link(&page.body) {
            Some(next) => url = next,
            None => break,
        }
    }
    seen.sort();
    let mut all = ids.clone();
    all.sort();
    assert_eq!(seen, all, "every decision once, across the pages");

    // The repository filter is the store's (an index of its own): full pages of that
    // repository only, newest first, and every one of its decisions once across them.
    let mut infra = Vec::new();
    let mut url = "/console/decisions?repository=acme%2Finfra".to_string();
    loop {
        let page = b.get(&url).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(count(&page.body, "acme/app</td>"), 0);
        let rows = count(&page.body, "acme/infra</td>");
        let next = next_link(&page.body);
        if next.is_some() {
            assert_eq!(rows, cavra_console::decisions::PAGE);
        }
        let mut on_page: Vec<(usize, String)> = ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| {
                page.body
                    .find(&format!("/console/decisions/{id}\""))
                    .map(|at| (at, ids[i].clone()))
            })
            .collect();
        // In the page's order: newest (recorded last) first.
        on_page.sort();
        infra.extend(on_page.into_iter().map(|(_, id)| id));
        match next {
            Some(n) => url = n,
            None => break,
        }
    }
    let want: Vec<String> = ids.iter().skip(1).step_by(2).rev().cloned().collect();
    assert_eq!(
        infra, want,
        "acme/infra's decisions, newest first, each once"
    );
    let page = b.get("/console/decisions?actor=someone-else").await;
    assert!(page.body.contains("No decisions match."));
    let page = b.get("/console/decisions?outcome=block").await;
    assert!(page.body.contains("No decisions match."));
    let page = b.get("/console/decisions?outcome=nonsense").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let page = b.get("/console/decisions?since=yesterday").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let first = &ids[0];
    let d = b.get(&format!("/console/decisions/{first}")).await;
    let rule = d
        .body
        .split("<dt>Rule</dt><dd><code>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let page = b
        .get(&format!("/console/decisions?rule={rule}&actor=bot"))
        .await;
    assert!(page.body.contains(first.as_str()) || next_link(&page.body).is_some());
}

#[tokio::test]
async fn a_decision_shows_its_trace_and_a_proof_that_checks_here_and_offline() {
    let s = start(|_| {}).await;
    let bot = s.token("a", "agent", "bot", &[]).await;
    let ids = record(&s, &bot, 3).await;
    let auditor = s.token("a", "auditor", "audrey", &[]).await;
    let mut b = s.signed_in(&auditor).await;
    let page = b.get(&format!("/console/decisions/{}", ids[1])).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Explain trace"));
    assert!(
        page.body
            .contains("Checked by the service against its signed checkpoint"),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-proof"), "the browser check's data");
    let file = b
        .get(&format!("/console/decisions/{}?download=proof", ids[1]))
        .await;
    assert_eq!(file.status, StatusCode::OK);
    let proof = cavra_evidence::proof_file::ProofFile::parse(&file.body).expect("a proof file");
    let trust = cavra_console::evidence::service_trust(&s.console).unwrap();
    proof
        .check(&trust)
        .expect("the downloaded proof checks offline");

    // Another tenant's decision is not found, as an unknown one.
    let other = s.token("b", "auditor", "bert", &[]).await;
    let mut b2 = s.signed_in(&other).await;
    let page = b2.get(&format!("/console/decisions/{}", ids[1])).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = b2
        .get(&format!("/console/decisions/{}?download=proof", ids[1]))
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!b2.get("/console/decisions").await.body.contains(&ids[1]));
}

#[tokio::test]
async fn a_session_timeline_is_the_tenants_own() {
    let s = start(|_| {}).await;
    let bot = s.token("a", "agent", "bot", &[]).await;
    let ids = record(&s, &bot, 3).await;
    let auditor = s.token("a", "auditor", "audrey", &[]).await;
    let mut b = s.signed_in(&auditor).await;
    let list = b.get("/console/sessions").await;
    assert!(list.body.contains("sess-p"));
    let page = b.get("/console/sessions/sess-p").await;
    assert_eq!(page.status, StatusCode::OK);
    let at = |id: &str| page.body.find(id).expect("each step is shown");
    assert!(
        at(&ids[0]) < at(&ids[1]) && at(&ids[1]) < at(&ids[2]),
        "oldest first"
    );
    let other = s.token("b", "auditor", "bert", &[]).await;
    let mut b2 = s.signed_in(&other).await;
    assert_eq!(
        b2.get("/console/sessions/sess-p").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_evidence_page_verifies_the_checkpoint_and_a_bundle() {
    let s = start(|_| {}).await;
    let bot = s.token("a", "agent", "bot", &[]).await;
    let ids = record(&s, &bot, 4).await;
    let auditor = s.token("a", "auditor", "audrey", &[]).await;
    let mut b = s.signed_in(&auditor).await;
    // A proof signs a checkpoint.
    b.get(&format!("/console/decisions/{}", ids[0])).await;
    let page = b.get("/console/evidence").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Signature verified with key"),
        "{}",
        page.body
    );
    let page = b.get("/console/evidence?session=sess-p&verify=1").await;
    assert!(page.body.contains("Verified: 4 entries"), "{}", page.body);
    let tar = b.get("/console/evidence/bundle?session=sess-p").await;
    assert_eq!(tar.status, StatusCode::OK);
    assert_eq!(tar.headers["content-type"], "application/x-tar");
    let page = b
        .get("/console/evidence?session=nothing-here&verify=1")
        .await;
    assert!(page.body.contains("No bundle:"), "{}", page.body);
}

#[tokio::test]
async fn registry_and_pack_diffs_show_the_tenants_own() {
    let s = start(|_| {}).await;
    let admin = s.token("a", "admin", "ada", &[]).await;
    let put = |body: serde_json::Value, method: reqwest::Method, path: &str| {
        s.http
            .request(method, format!("{}{path}", s.base))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let r = put(json!({"trust_tier": "trusted", "owner": "platform", "approval_state": "approved", "allowed_tools": ["search"]}), reqwest::Method::PUT, "/v1/registry/mcp-servers/github").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut digests = Vec::new();
    for v in ["1", "2"] {
        let doc = format!(
            "metadata:\n  id: a-pack\n  title: A\n  description: A's pack v{v}\n  version: '{v}'\n  inherits: [cavra-baseline]\n"
        );
        let r = put(
            json!({"document": doc}),
            reqwest::Method::POST,
            "/v1/policies",
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let p: serde_json::Value = r.json().await.unwrap();
        digests.push(p["digest"].as_str().unwrap().to_string());
    }
    let mut b = s.signed_in(&admin).await;
    let page = b.get("/console/registry").await;
    assert!(page.body.contains("github") && page.body.contains("trusted"));
    assert!(page.body.contains("a-pack"));
    let diff = b
        .get(&format!(
            "/console/packs/diff?from={}&to={}",
            digests[0], digests[1]
        ))
        .await;
    assert_eq!(diff.status, StatusCode::OK);
    assert!(
        diff.body.contains("- ") && diff.body.contains("version: &#39;1&#39;")
            || diff.body.contains("version: '1'"),
        "{}",
        diff.body
    );
    assert!(
        diff.body.contains("2 lines differ") || diff.body.contains("4 lines differ"),
        "{}",
        diff.body
    );
    let other = s.token("b", "admin", "bob", &[]).await;
    let mut b2 = s.signed_in(&other).await;
    assert_eq!(
        b2.get(&format!("/console/packs/{}", digests[0]))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        b2.get(&format!(
            "/console/packs/diff?from={}&to={}",
            digests[0], digests[1]
        ))
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert!(!b2.get("/console/registry").await.body.contains("github"));
}

#[tokio::test]
async fn posture_readiness_and_connectors_follow_the_apis_roles() {
    let s = start(|_| {}).await;
    let bot = s.token("a", "agent", "bot", &[]).await;
    record(&s, &bot, 2).await;
    let auditor = s.token("a", "auditor", "audrey", &[]).await;
    let mut b = s.signed_in(&auditor).await;
    let page = b.get("/console/posture").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("AISPM posture") && page.body.contains("Readiness gate"));
    assert!(
        page.body.contains("Checked at"),
        "an auditor runs the readiness gate"
    );
    // Connectors are for admins, as in the API.
    assert_eq!(
        b.get("/console/connectors").await.status,
        StatusCode::FORBIDDEN
    );
    let csrf = b.get("/console/posture").await.hidden("csrf");
    let page = b
        .post_form("/console/connectors/retry", &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    let approver = s.token("a", "approver", "carol", &[]).await;
    let mut c = s.signed_in(&approver).await;
    let page = c.get("/console/posture").await;
    assert!(
        page.body.contains("the readiness gate needs the role"),
        "{}",
        page.body
    );

    let admin = s.token("a", "admin", "ada", &[]).await;
    let mut d = s.signed_in(&admin).await;
    let page = d.get("/console/connectors").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("No connectors deliver"));
    let csrf = page.hidden("csrf");
    let page = d
        .post_with(
            "/console/connectors/retry",
            &[("csrf", &csrf)],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = d
        .post_form("/console/connectors/retry", &[("csrf", &csrf)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/console/connectors?retried=0");
}

/// What a signed-in person puts in a page's query reaches the store only as the API would let
/// it: a time that is not one, an age that is none of the queue's, a control character in any
/// value, a value over `limits.id_bytes` are refused with the API's status, the same on SQLite
/// and PostgreSQL; and a store failure never shows the database's own text.
async fn query_values_are_checked_before_the_store(s: &Server) {
    let bot = s.token("a", "agent", "bot", &[]).await;
    record(s, &bot, 2).await;
    let auditor = s.token("a", "auditor", "audrey", &[]).await;
    let mut b = s.signed_in(&auditor).await;
    let long = "s".repeat(300);
    for (path, want) in [
        (
            "/console/decisions?since=yesterday".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/console/decisions?until=2026-02-30T00:00:00Z".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/console/decisions?session=a%00b".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/console/decisions?actor=bot%01".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/console/decisions?rule=r%00".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/console/decisions?before=d%00".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/console/decisions/events?session=a%00b".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/console/sessions/sess-p?before=d%00".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/console/approvals?group=G%00".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/console/approvals?age=3d".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/console/evidence/bundle?since=a%00".to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/console/decisions?session={long}"),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "/console/decisions?session=sess-p".to_string(),
            StatusCode::OK,
        ),
        ("/console/approvals?age=1h".to_string(), StatusCode::OK),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, want, "{path}: {}", page.body);
        for database_words in [
            "postgres",
            "sqlite",
            "ERROR",
            "0x00",
            "invalid byte sequence",
        ] {
            assert!(!page.body.contains(database_words), "{path}: {}", page.body);
        }
    }
}

#[tokio::test]
async fn query_values_are_checked_before_the_store_on_sqlite() {
    query_values_are_checked_before_the_store(&start(|_| {}).await).await;
}

#[tokio::test]
async fn query_values_are_checked_before_the_store_on_postgres() {
    if let Some(s) = support::start_on_postgres(|_| {}).await {
        query_values_are_checked_before_the_store(&s).await;
    }
}

//! The console over HTTP against the real service: sign-in (one-time link, API token), the
//! session cookie's flags, the Content-Security-Policy, CSRF and origin refusals, another
//! tenant's ids, self-approval, stale sessions, live updates, and an approval round trip that
//! unblocks the agent's retry.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use support::{Browser, Server, start};

/// An agent's request that the baseline routes for approval, and its approval's id.
async fn pending_approval(s: &Server, agent: &str) -> String {
    let (st, d) = s
        .agent_asks(agent, "execute_command", "make deploy-prod")
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["decision"], "require_approval", "{d}");
    d["approval"]["id"]
        .as_str()
        .expect("approval id")
        .to_string()
}

async fn approval_state(s: &Server, tenant: &str, id: &str) -> String {
    use cavra_tenant_store::Approvals as _;
    s.state
        .db
        .approval(tenant, id)
        .await
        .expect("read")
        .expect("exists")
        .state
        .to_string()
}

fn assert_no_inline_script_or_style(html: &str) {
    let lower = html.to_ascii_lowercase();
    for (i, _) in lower.match_indices("<script") {
        let tag_end = lower[i..].find('>').expect("tag end") + i;
        assert!(
            lower[i..tag_end].contains(" src="),
            "an inline script: {}",
            &html[i..tag_end]
        );
        assert!(
            lower[tag_end..].starts_with("></script>"),
            "a script with content"
        );
    }
    assert!(!lower.contains("<style"), "an inline stylesheet");
    assert!(!lower.contains(" style="), "an inline style attribute");
    assert!(
        !lower.contains(" onclick=") && !lower.contains(" onload="),
        "an inline handler"
    );
}

#[tokio::test]
async fn the_login_link_signs_in_once_with_a_strict_http_only_cookie_and_a_strict_csp() {
    let s = start(|c| c.console.login_link.tenant = Some("a".into())).await;
    let link = s.link.clone().expect("a link on loopback");
    let path = link
        .strip_prefix(&s.base)
        .expect("the link is on this service");
    let secret = path.split("link=").nth(1).expect("secret").to_string();

    let mut b = s.browser();
    // Pages need a session.
    let page = b.get("/console/approvals").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(
        page.location().starts_with("/console/login?next="),
        "{}",
        page.location()
    );

    // The link's page does not use it up (a link preview cannot spend it).
    let page = b.get(path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.hidden("link"), secret);
    let page = b
        .post_form("/console/login/link", &[("link", &secret)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let cookie = page
        .headers
        .get("set-cookie")
        .expect("cookie")
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("cavra_console="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(cookie.contains(flag), "{flag} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "loopback over plain HTTP: no Secure: {cookie}"
    );

    let page = b.get("/console/approvals").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("local-operator"),
        "who is signed in is shown"
    );
    assert_eq!(
        page.headers.get("content-security-policy").unwrap(),
        cavra_console::CSP
    );
    assert!(cavra_console::CSP.contains("script-src 'self'"));
    assert!(!cavra_console::CSP.contains("unsafe"));
    assert_eq!(page.headers.get("x-frame-options").unwrap(), "DENY");
    assert_no_inline_script_or_style(&page.body);

    // Used once: a second browser cannot use it again.
    let mut other = s.browser();
    let page = other
        .post_form("/console/login/link", &[("link", &secret)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(
        page.location().starts_with("/console/login?error="),
        "{}",
        page.location()
    );
    assert!(other.cookie.is_none());

    // Signing out ends the session on the server, not just in the browser.
    let stolen = b.cookie.clone();
    let csrf = b.get("/console/approvals").await.hidden("csrf");
    let page = b.post_form("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let mut thief = s.browser();
    thief.cookie = stolen;
    assert_eq!(
        thief.get("/console/approvals").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn assets_are_embedded_and_referenced_with_their_integrity_hash() {
    let s = start(|_| {}).await;
    let approver = s
        .token("a", "approver", "carol", &["Repository Owners"])
        .await;
    let mut b = s.signed_in(&approver).await;
    let page = b.get("/console/approvals").await;
    for asset in cavra_console::assets::ALL {
        assert!(
            page.body.contains(&asset.url()),
            "{} referenced",
            asset.url()
        );
        assert!(page.body.contains(asset.integrity()), "its integrity");
        let got = b.get(&asset.url()).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.body.as_bytes(), asset.bytes);
    }
    assert_eq!(
        b.get("/console/assets/other.js").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_agents_token_and_a_bad_token_do_not_sign_in_and_a_revoked_token_ends_the_session() {
    let s = start(|_| {}).await;
    let agent = s.token("a", "agent", "bot", &[]).await;
    let mut b = s.browser();
    let page = b
        .post_form("/console/login/token", &[("token", &agent)])
        .await;
    assert!(
        page.location().starts_with("/console/login?error="),
        "{}",
        page.location()
    );
    assert!(b.cookie.is_none());
    let page = b
        .post_form("/console/login/token", &[("token", "cavra_00_nothing")])
        .await;
    assert!(page.location().starts_with("/console/login?error="));
    assert!(b.cookie.is_none());

    let auditor = s.token("a", "auditor", "audrey", &[]).await;
    let mut b = s.signed_in(&auditor).await;
    assert_eq!(b.get("/console/approvals").await.status, StatusCode::OK);
    let id = cavra_identity::parse_bearer(&auditor).unwrap().token_id;
    {
        use cavra_tenant_store::Directory as _;
        assert!(
            s.state
                .db
                .revoke_token(Some("a"), &id, cavra_store::Timestamp::now())
                .await
                .unwrap()
        );
    }
    s.state.tokens.evict(&id);
    assert_eq!(
        b.get("/console/approvals").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_sign_in_from_another_origin_is_refused() {
    let s = start(|_| {}).await;
    let approver = s.token("a", "approver", "carol", &[]).await;
    let mut b = s.browser();
    let page = b
        .post_with(
            "/console/login/token",
            &[("token", &approver)],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(b.cookie.is_none());
}

#[tokio::test]
async fn a_stale_session_is_refused() {
    let s = start(|c| c.console.idle_minutes = 5).await;
    let approver = s.token("a", "approver", "carol", &[]).await;
    let mut b = s.signed_in(&approver).await;
    assert_eq!(b.get("/console/approvals").await.status, StatusCode::OK);
    s.console.sessions.age_all(Duration::from_secs(6 * 60));
    let page = b.get("/console/approvals").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().starts_with("/console/login"));
}

#[tokio::test]
async fn csrf_and_cross_origin_posts_are_refused_and_change_nothing() {
    let s = start(|_| {}).await;
    let agent = s.token("a", "agent", "bot", &[]).await;
    let id = pending_approval(&s, &agent).await;
    let approver = s
        .token("a", "approver", "carol", &["Repository Owners"])
        .await;
    let mut b = s.signed_in(&approver).await;
    let page = b.get(&format!("/console/approvals/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.hidden("csrf");
    let path = format!("/console/approvals/{id}/decide");
    let form = |token: &str| {
        vec![
            ("csrf", token.to_string()),
            ("verdict", "approve".to_string()),
            ("reason", "looks fine".to_string()),
        ]
    };
    let pairs = |v: &Vec<(&'static str, String)>| -> Vec<(&'static str, String)> { v.clone() };
    for (origin, token, why) in [
        (
            Some("https://evil.example"),
            csrf.as_str(),
            "another origin",
        ),
        (None, csrf.as_str(), "no origin at all"),
        (Some(s.base.as_str()), "forged", "a wrong CSRF token"),
        (Some(s.base.as_str()), "", "no CSRF token"),
    ] {
        let v = pairs(&form(token));
        let refs: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = b.post_with(&path, &refs, origin).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{why}: {}", page.body);
        assert_eq!(approval_state(&s, "a", &id).await, "pending", "{why}");
    }
}

#[tokio::test]
async fn another_tenants_ids_are_not_found_to_read_or_to_decide() {
    let s = start(|_| {}).await;
    let agent_b = s.token("b", "agent", "bot-b", &[]).await;
    let id = pending_approval(&s, &agent_b).await;
    let approver_a = s
        .token("a", "approver", "carol", &["Repository Owners"])
        .await;
    let mut b = s.signed_in(&approver_a).await;
    let page = b.get(&format!("/console/approvals/{id}")).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!page.body.contains("make deploy-prod"));
    let ghost = b.get("/console/approvals/apr_0000").await;
    assert_eq!(ghost.status, StatusCode::NOT_FOUND);
    assert_eq!(
        ghost.body, page.body,
        "another tenant's id reads as an unknown one"
    );
    let csrf = b.get("/console/approvals").await.hidden("csrf");
    let page = b
        .post_form(
            &format!("/console/approvals/{id}/decide"),
            &[
                ("csrf", &csrf),
                ("verdict", "approve"),
                ("reason", "mine now"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(approval_state(&s, "b", &id).await, "pending");
    // And the queue of a shows nothing of b.
    assert!(!b.get("/console/approvals").await.body.contains(&id));
}

#[tokio::test]
async fn nobody_approves_their_own_request_nor_outside_their_group() {
    let s = start(|_| {}).await;
    let agent = s.token("a", "agent", "dana", &[]).await;
    let id = pending_approval(&s, &agent).await;
    // Dana holds an approver token too: her own request stays hers to wait on.
    let dana = s
        .token("a", "approver", "dana", &["Repository Owners"])
        .await;
    let mut b = s.signed_in(&dana).await;
    let page = b.get(&format!("/console/approvals/{id}")).await;
    let csrf = page.hidden("csrf");
    let page = b
        .post_form(
            &format!("/console/approvals/{id}/decide"),
            &[
                ("csrf", &csrf),
                ("verdict", "approve"),
                ("reason", "trust me"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(
        page.body.contains("nobody decides their own request"),
        "{}",
        page.body
    );
    assert_eq!(approval_state(&s, "a", &id).await, "pending");

    // An approver of another group is refused by the same rule the API applies.
    let erin = s.token("a", "approver", "erin", &["IAM"]).await;
    let mut b = s.signed_in(&erin).await;
    let csrf = b
        .get(&format!("/console/approvals/{id}"))
        .await
        .hidden("csrf");
    let page = b
        .post_form(
            &format!("/console/approvals/{id}/decide"),
            &[("csrf", &csrf), ("verdict", "deny"), ("reason", "no")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(approval_state(&s, "a", &id).await, "pending");

    // An auditor cannot decide at all.
    let audrey = s
        .token("a", "auditor", "audrey", &["Repository Owners"])
        .await;
    let mut b = s.signed_in(&audrey).await;
    let csrf = b
        .get(&format!("/console/approvals/{id}"))
        .await
        .hidden("csrf");
    let page = b
        .post_form(
            &format!("/console/approvals/{id}/decide"),
            &[
                ("csrf", &csrf),
                ("verdict", "approve"),
                ("reason", "why not"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(approval_state(&s, "a", &id).await, "pending");
}

#[tokio::test]
async fn an_approval_in_the_console_unblocks_the_agents_retry_once() {
    let s = start(|_| {}).await;
    let agent = s.token("a", "agent", "bot", &[]).await;
    let id = pending_approval(&s, &agent).await;
    let approver = s
        .token("a", "approver", "carol", &["Repository Owners"])
        .await;
    let mut b = s.signed_in(&approver).await;

    let queue = b.get("/console/approvals").await;
    assert!(queue.body.contains(&id), "the queue lists it");
    assert!(queue.body.contains("acme/app"), "with its repository");
    let filtered = b.get("/console/approvals?group=IAM").await;
    assert!(
        !filtered.body.contains(&id),
        "the group filter leaves it out"
    );
    let filtered = b
        .get("/console/approvals?repository=acme%2Fapp&age=15m")
        .await;
    assert!(filtered.body.contains(&id));
    let filtered = b.get("/console/approvals?repository=other%2Frepo").await;
    assert!(!filtered.body.contains(&id));

    let page = b.get(&format!("/console/approvals/{id}")).await;
    assert!(
        page.body.contains("make deploy-prod"),
        "the action is shown"
    );
    assert!(page.body.contains("Explain trace"));
    assert!(page.body.contains("sess-1"), "the session context");
    let csrf = page.hidden("csrf");
    let page = b
        .post_form(
            &format!("/console/approvals/{id}/decide"),
            &[
                ("csrf", &csrf),
                ("verdict", "approve"),
                ("reason", "release window"),
                ("grant", "once"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(approval_state(&s, "a", &id).await, "approved");

    let (_, retry) = s
        .agent_asks(&agent, "execute_command", "make deploy-prod")
        .await;
    assert_eq!(retry["may_proceed"], true, "{retry}");
    let (_, again) = s
        .agent_asks(&agent, "execute_command", "make deploy-prod")
        .await;
    assert_eq!(
        again["may_proceed"], false,
        "a once-grant unlocks one retry: {again}"
    );
}

#[tokio::test]
async fn the_queue_streams_its_rows_as_server_sent_events() {
    let s = start(|_| {}).await;
    let approver = s
        .token("a", "approver", "carol", &["Repository Owners"])
        .await;
    let b = s.signed_in(&approver).await;
    let resp = reqwest::Client::new()
        .get(format!("{}/console/approvals/events", s.base))
        .header("cookie", b.cookie.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut resp = resp;
    let first = read_event(&mut resp).await;
    assert!(first.contains("No approvals match"), "{first}");
    // A new request arrives while the page is open.
    let agent = s.token("a", "agent", "bot", &[]).await;
    let id = pending_approval(&s, &agent).await;
    let next = read_event(&mut resp).await;
    assert!(next.contains(&id), "{next}");
}

/// The next whole `rows` event of an event stream.
async fn read_event(resp: &mut reqwest::Response) -> String {
    let mut text = String::new();
    loop {
        if let Some(end) = text.find("\n\n") {
            let event = text[..end].to_string();
            if event.starts_with("event: rows") || event.contains("\nevent: rows") {
                return event;
            }
            text = text[end + 2..].to_string();
            continue;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(60), resp.chunk())
            .await
            .expect("an event within a minute")
            .expect("read")
            .expect("the stream goes on");
        text.push_str(std::str::from_utf8(&chunk).expect("utf-8"));
    }
}

#[tokio::test]
async fn behind_an_https_origin_the_cookie_is_secure_and_host_bound() {
    let s = start(|c| c.console.public_url = Some("https://cavra.example.com".into())).await;
    let approver = s.token("a", "approver", "carol", &[]).await;
    let mut b: Browser = s.browser();
    b.origin = "https://cavra.example.com".into();
    let page = b
        .post_form("/console/login/token", &[("token", &approver)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let cookie = page.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.starts_with("__Host-cavra_console="), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("Path=/;"),
        "{cookie}"
    );
    // The Host header's origin is not the configured one: refused.
    let mut local = s.browser();
    let page = local
        .post_form("/console/login/token", &[("token", &approver)])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn text_from_requests_is_escaped() {
    let s = start(|_| {}).await;
    let agent = s.token("a", "agent", "bot", &[]).await;
    let (st, d) = s
        .agent_asks(
            &agent,
            "execute_command",
            "make deploy-prod <script>alert(1)</script>",
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    let approver = s
        .token("a", "approver", "carol", &["Repository Owners"])
        .await;
    let mut b = s.signed_in(&approver).await;
    let queue = b.get("/console/approvals").await;
    if let Some(id) = d["approval"]["id"].as_str() {
        let page = b.get(&format!("/console/approvals/{id}")).await;
        assert!(!page.body.contains("<script>alert"), "{}", page.body);
        assert!(page.body.contains("&lt;script&gt;"), "escaped");
    }
    assert!(!queue.body.contains("<script>alert"));
}

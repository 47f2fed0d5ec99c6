#![cfg(feature = "console")]
//! The real `cavra serve` with its web console: the one-time login link it prints on loopback
//! signs a browser in once, to the tenant `--console-tenant` names.

use std::process::Command;

use assert_cmd::cargo::cargo_bin;

mod support;

#[test]
fn cavra_serve_prints_a_login_link_that_signs_in_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let created = Command::new(cargo_bin("cavra"))
        .args(["tenant", "create", "acme", "--database-url", &db])
        .output()
        .unwrap();
    assert!(created.status.success());
    let mut serve = support::service::serve(&db, &["--console-tenant", "acme"]);
    let base = serve.url.clone();
    let second = serve.next_line();
    serve.keep_reading();
    let link = second
        .trim()
        .strip_prefix("cavra serve: console sign-in (one-time link): ")
        .unwrap_or_else(|| panic!("no login link in {second:?}"))
        .to_string();
    assert!(
        link.starts_with(&format!("{base}/console/login?link=")),
        "{link}"
    );
    let secret = link.split("link=").nth(1).unwrap().to_string();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let page = http.get(&link).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(
            page.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
        let sign_in = || {
            http.post(format!("{base}/console/login/link"))
                .header("origin", &base)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("link={secret}"))
                .send()
        };
        let signed = sign_in().await.unwrap();
        assert_eq!(signed.status(), 303);
        let cookie = signed.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let approvals = http
            .get(format!("{base}/console/approvals"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(approvals.status(), 200);
        let body = approvals.text().await.unwrap();
        assert!(
            body.contains("local-operator") && body.contains("acme"),
            "{body}"
        );
        let again = sign_in().await.unwrap();
        assert!(
            again.headers()["location"]
                .to_str()
                .unwrap()
                .contains("error="),
            "used once"
        );
    });
}

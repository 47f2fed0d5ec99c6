#![cfg(feature = "console")]
//! The real `cavra serve` with its web console: the one-time login link it prints on loopback
//! signs a browser in once, to the tenant `--console-tenant` names.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use assert_cmd::cargo::cargo_bin;

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn cavra_serve_prints_a_login_link_that_signs_in_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let created = Command::new(cargo_bin("cavra"))
        .args(["tenant", "create", "acme", "--database-url", &db])
        .output()
        .unwrap();
    assert!(created.status.success());
    let mut child = Command::new(cargo_bin("cavra"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--console-tenant",
            "acme",
            "--database-url",
            &db,
        ])
        .env_remove("CAVRA_SERVER_CONFIG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let _guard = Serve(child);
    let (mut first, mut second) = (String::new(), String::new());
    stderr.read_line(&mut first).unwrap();
    stderr.read_line(&mut second).unwrap();
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
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

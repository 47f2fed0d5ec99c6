//! The real `cavra` binary as service and client: tenant and token bootstrap, `cavra serve` on
//! loopback, `cavra evaluate --server`, `cavra approval list|approve --server`.

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

fn cavra(db: &str) -> Command {
    let mut c = Command::new(cargo_bin("cavra"));
    c.env("CAVRA_DATABASE_URL", db)
        .env_remove("CAVRA_SERVER")
        .env_remove("CAVRA_TOKEN");
    c
}

fn token(db: &str, args: &[&str]) -> String {
    let out = cavra(db)
        .args(["token", "create", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["token"].as_str().unwrap().to_string()
}

#[test]
fn the_binary_serves_and_the_cli_is_its_client() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let out = cavra(&db)
        .args(["tenant", "create", "acme"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let refused = cavra(&db)
        .args(["token", "create", "--tenant", "nope", "--role", "agent"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "no such tenant");
    let agent = token(
        &db,
        &["--tenant", "acme", "--role", "agent", "--subject", "bot"],
    );
    let approver = token(
        &db,
        &[
            "--tenant",
            "acme",
            "--role",
            "approver",
            "--subject",
            "carol",
            "--group",
            "Cloud Security",
        ],
    );
    let list = cavra(&db)
        .args(["token", "list", "--json"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        !listed.contains(&agent) && listed.contains("\"bot\""),
        "secrets never listed: {listed}"
    );

    let mut child = cavra(&db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _guard = Serve(child);
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();

    let eval = |token: &str, args: &[&str]| {
        let mut c = Command::new(cargo_bin("cavra"));
        c.env("CAVRA_TOKEN", token)
            .arg("evaluate")
            .args(args)
            .args(["--server", &url]);
        c.output().unwrap()
    };
    let blocked = eval(&agent, &["read_file", ".env"]);
    assert_eq!(
        blocked.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&blocked.stderr)
    );
    let asked = eval(
        &agent,
        &["execute_command", "terraform import a b", "--json"],
    );
    assert_eq!(asked.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&asked.stdout).unwrap();
    let id = v["approval"]["id"].as_str().unwrap().to_string();
    let bad = eval(
        "cavra_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &["read_file", "x"],
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("401"));

    let mut list = Command::new(cargo_bin("cavra"));
    let out = list
        .env("CAVRA_TOKEN", &approver)
        .args(["approval", "list", "--state", "pending", "--server", &url])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id));
    let out = Command::new(cargo_bin("cavra"))
        .env("CAVRA_TOKEN", &approver)
        .args([
            "approval", "approve", &id, "--reason", "fine", "--server", &url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let retry = eval(&agent, &["execute_command", "terraform import a b"]);
    assert_eq!(retry.status.code(), Some(0), "approved once");
    let again = eval(&agent, &["execute_command", "terraform import a b"]);
    assert_eq!(again.status.code(), Some(3), "and only once");
}

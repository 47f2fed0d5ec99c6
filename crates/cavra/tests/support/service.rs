//! The real `cavra serve` on loopback and the `cavra` client beside it: the commands the
//! service tests share (a tenant store named by URL, a token, the served address).

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStderr, Command, Stdio};

/// `cavra` against the store at `db` (`sqlite://…` or `postgres://…`), with none of the
/// caller's settings ([`super::UNSET`]: `CAVRA_SERVER`, `CAVRA_TOKEN`, `CAVRA_SERVER_CONFIG`…).
pub fn cli(db: &str) -> Command {
    let mut c = super::bare();
    c.env("CAVRA_DATABASE_URL", db);
    c
}

/// A new token from `cavra token create --json <args…>` against `db`.
pub fn token(db: &str, args: &[&str]) -> String {
    let out = cli(db)
        .args(["token", "create", "--json"])
        .args(args)
        .output()
        .expect("cavra token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("token JSON");
    v["token"].as_str().expect("a token").to_string()
}

/// A running `cavra serve`, stopped when dropped.
pub struct Serve {
    child: Child,
    /// Its base address (`http://127.0.0.1:PORT`), from the first line it printed.
    pub url: String,
    /// What it prints after that line (the console's login link, polling reports), until
    /// [`Serve::keep_reading`] hands it to a thread.
    stderr: Option<BufReader<ChildStderr>>,
}

impl Serve {
    /// The next line it prints.
    pub fn next_line(&mut self) -> String {
        let mut line = String::new();
        if let Some(r) = self.stderr.as_mut() {
            r.read_line(&mut line).expect("a line from cavra serve");
        }
        line
    }

    /// Reads the rest of what it prints on a thread, so it never blocks on a full pipe.
    pub fn keep_reading(&mut self) {
        if let Some(r) = self.stderr.take() {
            std::thread::spawn(move || for _ in r.lines() {});
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cavra serve --listen 127.0.0.1:0 <args…>` on the store at `db`, once it listens.
pub fn serve<S: AsRef<OsStr>>(db: &str, args: &[S]) -> Serve {
    let mut child = cli(db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .expect("cavra serve");
    let stderr = child.stderr.take().expect("its stderr");
    let mut serve = Serve {
        child,
        url: String::new(),
        stderr: Some(BufReader::new(stderr)),
    };
    // Lines before the one with the address (warnings) are kept for the panic.
    let mut said = String::new();
    serve.url = loop {
        let line = serve.next_line();
        assert!(
            !line.is_empty(),
            "cavra serve ended without an address: {said:?}"
        );
        if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            break url.to_string();
        }
        said.push_str(&line);
    };
    serve
}

/// `method path` with the JSON `body` and `token` over a plain socket to the service at `base`
/// (`http://127.0.0.1:PORT`), the connection closed after: the status code (0 when none came)
/// and the response's body (null when it is not JSON).
pub fn request(
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    use std::io::{Read as _, Write as _};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null);
    (status, json)
}

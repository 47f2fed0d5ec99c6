//! A loopback SMTP server for tests (feature `testing`), written against the protocol: real
//! TLS (rustls, a private CA the connector is told to trust), STARTTLS on a plain port and
//! implicit TLS, `AUTH PLAIN`, the envelope (`MAIL FROM`, `RCPT TO`) and `DATA`; and helpers
//! that read a received message as a mail reader would. The connector's own tests and the
//! crates that send mail through it (the operating review's reports) use the same server.
//! Never enable it in a shipped binary.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncBufRead, AsyncBufReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// A private CA and a server certificate it issued for `localhost` and 127.0.0.1.
pub struct Pki {
    /// The CA's certificate file (PEM), for a connector's `ca_file`.
    pub ca_file: std::path::PathBuf,
    /// The server's TLS configuration.
    pub server: Arc<rustls::ServerConfig>,
    _dir: tempfile::TempDir,
}

impl Pki {
    /// A new CA and server certificate (panics when they cannot be made: a test set-up).
    pub fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "cavra test CA");
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("server params");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).expect("write CA");
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("server TLS config");
        Pki {
            ca_file,
            server: Arc::new(server),
            _dir: dir,
        }
    }
}

impl Default for Pki {
    fn default() -> Self {
        Pki::new()
    }
}

/// One message as the server received it.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Whether it came over TLS.
    pub tls: bool,
    /// The authenticated user, when any.
    pub user: Option<String>,
    /// `MAIL FROM`.
    pub from: String,
    /// `RCPT TO`, each.
    pub to: Vec<String>,
    /// The message as sent (`DATA`, dot-unstuffed).
    pub data: String,
}

/// How the server offers TLS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// A plain port that offers `STARTTLS`.
    Starttls,
    /// TLS from the first byte.
    Implicit,
}

/// A running server.
pub struct Server {
    mode: Mode,
    /// `AUTH PLAIN` user and password, when the server requires authentication.
    login: Option<(String, String)>,
    tls: tokio_rustls::TlsAcceptor,
    mails: Mutex<Vec<Mail>>,
}

impl Server {
    /// The messages received so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

async fn reply<W: AsyncWrite + Unpin>(w: &mut W, text: &str) -> std::io::Result<()> {
    w.write_all(text.as_bytes()).await?;
    w.write_all(b"\r\n").await?;
    w.flush().await
}

fn address(arg: &str) -> String {
    let a = arg.split_once(':').map(|x| x.1).unwrap_or(arg).trim();
    a.trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or("")
        .to_string()
}

/// What a session ended with: done, or the client asked for TLS.
enum Ended {
    Quit,
    StartTls,
}

/// Speaks SMTP on `s` until QUIT (or STARTTLS, on a plain connection).
async fn session<S: AsyncBufRead + AsyncWrite + Unpin>(
    server: &Server,
    s: &mut S,
    tls: bool,
) -> std::io::Result<Ended> {
    let mut user = None;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if s.read_line(&mut line).await? == 0 {
            return Ok(Ended::Quit);
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            let mut caps = vec!["250-localhost"];
            if !tls && server.mode == Mode::Starttls {
                caps.push("250-STARTTLS");
            }
            if tls && server.login.is_some() {
                caps.push("250-AUTH PLAIN");
            }
            caps.push("250 8BITMIME");
            reply(s, &caps.join("\r\n")).await?;
        } else if upper == "STARTTLS" && !tls {
            reply(s, "220 2.0.0 go ahead").await?;
            return Ok(Ended::StartTls);
        } else if upper.starts_with("AUTH PLAIN") {
            let b64 = cmd.split_whitespace().nth(2).unwrap_or("");
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap_or_default();
            let parts: Vec<String> = raw
                .split(|b| *b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            match (&server.login, parts.as_slice()) {
                (Some((u, p)), [_, gu, gp]) if gu == u && gp == p && tls => {
                    user = Some(u.clone());
                    reply(s, "235 2.7.0 authenticated").await?;
                }
                _ => reply(s, "535 5.7.8 authentication failed").await?,
            }
        } else if upper.starts_with("MAIL FROM") {
            if server.login.is_some() && user.is_none() {
                reply(s, "530 5.7.0 authentication required").await?;
                continue;
            }
            from = address(&cmd);
            to.clear();
            reply(s, "250 2.1.0 ok").await?;
        } else if upper.starts_with("RCPT TO") {
            to.push(address(&cmd));
            reply(s, "250 2.1.5 ok").await?;
        } else if upper == "DATA" {
            reply(s, "354 end with <CRLF>.<CRLF>").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if s.read_line(&mut line).await? == 0 {
                    return Ok(Ended::Quit);
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            let mail = Mail {
                tls,
                user: user.clone(),
                from: from.clone(),
                to: std::mem::take(&mut to),
                data,
            };
            // The guard is dropped before the next await.
            server
                .mails
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .push(mail);
            reply(s, "250 2.0.0 queued").await?;
        } else if upper == "RSET" || upper == "NOOP" {
            reply(s, "250 2.0.0 ok").await?;
        } else if upper == "QUIT" {
            reply(s, "221 2.0.0 bye").await?;
            return Ok(Ended::Quit);
        } else {
            reply(s, "502 5.5.2 not implemented").await?;
        }
    }
}

async fn connection(server: Arc<Server>, tcp: TcpStream) -> std::io::Result<()> {
    if server.mode == Mode::Implicit {
        let tls = server.tls.accept(tcp).await?;
        let mut s = BufReader::new(tls);
        reply(&mut s, "220 localhost ESMTP cavra-test").await?;
        session(&server, &mut s, true).await?;
        return Ok(());
    }
    let mut plain = BufReader::new(tcp);
    reply(&mut plain, "220 localhost ESMTP cavra-test").await?;
    if let Ended::StartTls = session(&server, &mut plain, false).await? {
        let tls = server.tls.accept(plain.into_inner()).await?;
        let mut s = BufReader::new(tls);
        session(&server, &mut s, true).await?;
    }
    Ok(())
}

/// Starts a server on a loopback port with `pki`'s certificate; returns it and its port.
pub async fn smtp_server(pki: &Pki, mode: Mode, login: Option<(&str, &str)>) -> (Arc<Server>, u16) {
    let server = Arc::new(Server {
        mode,
        login: login.map(|(u, p)| (u.to_string(), p.to_string())),
        tls: tokio_rustls::TlsAcceptor::from(pki.server.clone()),
        mails: Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let s = server.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let s = s.clone();
            tokio::spawn(async move {
                let _ = connection(s, tcp).await;
            });
        }
    });
    (server, port)
}

/// Decodes quoted-printable text (RFC 2045 6.7): `=XX` octets and `=` soft line breaks.
fn quoted_printable(text: &str) -> Option<Vec<u8>> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b.get(i + 1..i + 3) == Some(b"\r\n") {
                i += 3;
                continue;
            }
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The decoded body of the attachment named `name` in a MIME message.
pub fn attachment(data: &str, name: &str) -> Option<Vec<u8>> {
    part(data, &format!("filename=\"{name}\""))
}

/// The decoded body of the first MIME part whose headers hold `marker`.
pub fn part(data: &str, marker: &str) -> Option<Vec<u8>> {
    let at = data.find(marker)?;
    let rest = &data[at..];
    let header_end = rest.find("\r\n\r\n")?;
    let headers = &rest[..header_end];
    let body = &rest[header_end + 4..];
    let body = &body[..body.find("\r\n--").unwrap_or(body.len())];
    if headers.contains("Content-Transfer-Encoding: base64") {
        base64::engine::general_purpose::STANDARD
            .decode(body.replace("\r\n", ""))
            .ok()
    } else if headers.contains("Content-Transfer-Encoding: quoted-printable") {
        quoted_printable(body)
    } else {
        Some(body.as_bytes().to_vec())
    }
}

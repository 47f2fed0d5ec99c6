//! Peers that never authenticate are capped apart from clients that do (issue 16: 10,000
//! half-sent unauthenticated requests held the service). With `max_unauthenticated` below
//! `max_connections`, a flood of half-sent requests far larger than either cap neither keeps
//! a new client out nor closes a connection that has authenticated; the oldest
//! unauthenticated peers are closed to make room.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Sends half a request head and nothing more.
async fn half_sent(addr: std::net::SocketAddr) -> Option<TcpStream> {
    let mut c = tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    c.write_all(b"POST /v1/decisions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nX-Pad: ")
        .await
        .ok()?;
    Some(c)
}

/// Sends one GET on `c` and reads its answer's head and body (Content-Length framed).
async fn get(c: &mut TcpStream, path: &str, token: &str) -> String {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nConnection: keep-alive\r\n\r\n"
    );
    c.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut chunk))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(
            n > 0,
            "closed before answering: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unauthenticated_peers_keeps_neither_new_nor_authenticated_clients_out() {
    let s = sqlite_with(|c| {
        c.connections.max_connections = 64;
        c.connections.max_unauthenticated = 16;
        // Long enough that the timeout cannot be what frees the slots in this test.
        c.connections.header_read_timeout_seconds = 60;
    })
    .await;
    let auditor = s.token("a", "auditor", "auditor-a", &[]).await;

    // A connection that authenticated before the flood.
    let mut kept = TcpStream::connect(s.addr).await.expect("connect");
    assert!(
        get(&mut kept, "/v1/evidence/head", &auditor)
            .await
            .starts_with("HTTP/1.1 200")
    );
    // An unauthenticated one from before the flood.
    let mut early = half_sent(s.addr).await.expect("connect");

    // Ten times the whole connection cap of peers that never finish a request.
    let mut flood = Vec::new();
    for _ in 0..640 {
        if let Some(c) = half_sent(s.addr).await {
            flood.push(c);
        }
    }
    assert!(flood.len() > 600, "{} peers connected", flood.len());

    // A new client gets in at once, and the authenticated connection still works.
    let fresh = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let r = fresh
        .get(format!("{}/v1/evidence/head", s.base))
        .bearer_auth(&auditor)
        .send()
        .await
        .expect("a new client is served while the flood holds its connections");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        get(&mut kept, "/v1/evidence/head", &auditor)
            .await
            .starts_with("HTTP/1.1 200")
    );

    // The oldest unauthenticated peer was closed to make room.
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), early.read(&mut buf))
        .await
        .expect("the oldest unauthenticated peer is closed")
        .unwrap_or(0);
    assert_eq!(n, 0, "{}", String::from_utf8_lossy(&buf[..n]));
    drop(flood);
}

//! Syslog over TLS against a receiver written here: a rustls acceptor (a private CA the
//! connector is told to trust) that reads RFC 5425 octet-counted frames and parses each RFC
//! 5424 message: PRI, version, timestamp, APP-NAME, MSGID, the structured data element and
//! the UTF-8 MSG (the signed envelope).

mod support;

use std::sync::{Arc, Mutex};

use cavra_connectors::event::verify_envelope;
use cavra_tenant_store::Decision;
use cavra_tenant_store::outbox::DeliveryState;
use serde_json::Value;
use support::*;
use tokio::io::{AsyncRead, AsyncReadExt as _};

#[derive(Debug, Clone)]
struct Received {
    pri: u16,
    app: String,
    msgid: String,
    sd: String,
    envelope: Value,
}

#[derive(Default)]
struct Receiver {
    frames: Mutex<Vec<Received>>,
    refused: Mutex<Vec<String>>,
    connections: std::sync::atomic::AtomicUsize,
}

/// Reads one octet-counted frame: `MSG-LEN SP SYSLOG-MSG`.
async fn frame<R: AsyncRead + Unpin>(r: &mut R) -> Option<Vec<u8>> {
    let mut len = 0usize;
    loop {
        let b = r.read_u8().await.ok()?;
        match b {
            b'0'..=b'9' => len = len * 10 + usize::from(b - b'0'),
            b' ' => break,
            _ => return None,
        }
    }
    let mut msg = vec![0; len];
    r.read_exact(&mut msg).await.ok()?;
    Some(msg)
}

/// Parses an RFC 5424 message with one structured data element.
fn parse(msg: &[u8]) -> Result<Received, String> {
    let bom = msg
        .windows(3)
        .position(|w| w == b"\xEF\xBB\xBF")
        .ok_or("MSG does not start with a BOM")?;
    let head = std::str::from_utf8(&msg[..bom]).map_err(|e| e.to_string())?;
    let envelope: Value = serde_json::from_slice(&msg[bom + 3..]).map_err(|e| e.to_string())?;
    let rest = head.strip_prefix('<').ok_or("no PRI")?;
    let (pri, rest) = rest.split_once('>').ok_or("no PRI")?;
    let mut f = rest.splitn(6, ' ');
    let version = f.next().ok_or("no VERSION")?;
    if version != "1" {
        return Err(format!("VERSION {version}"));
    }
    let time = f.next().ok_or("no TIMESTAMP")?;
    time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("TIMESTAMP {time}: {e}"))?;
    let _host = f.next().ok_or("no HOSTNAME")?;
    let app = f.next().ok_or("no APP-NAME")?.to_string();
    let _proc = f.next().ok_or("no PROCID")?;
    let rest = f.next().ok_or("no MSGID")?;
    let (msgid, sd) = rest.split_once(' ').ok_or("no STRUCTURED-DATA")?;
    let sd = sd.trim_end();
    if !(sd.starts_with('[') && sd.ends_with(']')) {
        return Err(format!("STRUCTURED-DATA {sd}"));
    }
    Ok(Received {
        pri: pri.parse().map_err(|_| format!("PRI {pri}"))?,
        app,
        msgid: msgid.to_string(),
        sd: sd.to_string(),
        envelope,
    })
}

async fn receiver(pki: &TestPki) -> (Arc<Receiver>, u16) {
    let r = Arc::new(Receiver::default());
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let rr = r.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (r, acceptor) = (rr.clone(), acceptor.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                r.connections
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                while let Some(msg) = frame(&mut tls).await {
                    match parse(&msg) {
                        Ok(m) => r.frames.lock().unwrap().push(m),
                        Err(e) => r.refused.lock().unwrap().push(e),
                    }
                }
            });
        }
    });
    (r, port)
}

fn yaml(port: u16, ca: &std::path::Path) -> String {
    format!(
        "
- name: logs
  tenant: acme
  events: [\"decision.*\"]
  timeout_ms: 5000
  syslog_tls:
    host: localhost
    port: {port}
    ca_file: {}
",
        ca.display()
    )
}

/// Three decisions, one TLS connection, three valid RFC 5424 messages carrying the signed
/// envelopes, with the severity in PRI and the ids in the structured data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc5424_over_tls_with_octet_counting() {
    let pki = TestPki::new();
    let (r, port) = receiver(&pki).await;
    let store = sqlite().await;
    let clock = Manual::default();
    let mut w = worker(&store.db, &yaml(port, &pki.ca_file), &clock, "w1");
    for i in 0..3 {
        decide(
            &store.db,
            "acme",
            &format!("dec_{i}"),
            Decision::Block,
            "rm -rf /",
        )
        .await;
    }
    let p = drain(&mut w).await;
    assert_eq!(p.delivered, 3, "{p:?}");
    // The receiver reads what was written; wait for it without asserting on time.
    for _ in 0..500 {
        if r.frames.lock().unwrap().len() + r.refused.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        r.refused.lock().unwrap().is_empty(),
        "{:?}",
        r.refused.lock().unwrap()
    );
    let frames = r.frames.lock().unwrap().clone();
    assert_eq!(frames.len(), 3);
    assert_eq!(r.connections.load(std::sync::atomic::Ordering::SeqCst), 1);
    for f in &frames {
        // Facility 13 (log audit), severity 3 (a high rule).
        assert_eq!(f.pri, 13 * 8 + 3);
        assert_eq!(f.app, "cavra");
        assert_eq!(f.msgid, "decision.block");
        verify_envelope(&f.envelope, &signing_key().verifying_key()).expect("signed");
        assert!(f.sd.starts_with("[cavra@32473 tenant=\"acme\""), "{}", f.sd);
        assert!(f.sd.contains(&format!(
            "event_id=\"{}\"",
            f.envelope["id"].as_str().expect("id")
        )));
    }
}

/// A receiver whose certificate is not trusted gets nothing (a retried TLS failure); one
/// that is down is a retried connection failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_or_down_receivers_are_retried() {
    let pki = TestPki::new();
    let (r, port) = receiver(&pki).await;
    let other = TestPki::new();
    let store = sqlite().await;
    let clock = Manual::default();
    let mut w = worker(&store.db, &yaml(port, &other.ca_file), &clock, "w1");
    decide(&store.db, "acme", "dec_1", Decision::Block, "rm -rf /").await;
    let p = w.step().await.expect("step");
    assert_eq!((p.attempted, p.delivered), (1, 0), "{p:?}");
    let d = only_delivery(&store.db, "acme", "logs").await;
    assert_eq!(d.state, DeliveryState::Pending);
    let list = attempts(&store.db, "acme", &d.event_id).await;
    assert!(
        list[0]["response"]
            .as_str()
            .expect("response")
            .contains("TLS"),
        "{list:?}"
    );
    assert!(r.frames.lock().unwrap().is_empty());

    // Down.
    let down = closed_port();
    let store = sqlite().await;
    let mut w = worker(&store.db, &yaml(down, &pki.ca_file), &clock, "w1");
    decide(&store.db, "acme", "dec_1", Decision::Block, "rm -rf /").await;
    let p = w.step().await.expect("step");
    assert_eq!((p.attempted, p.delivered), (1, 0), "{p:?}");
    let list = attempts(
        &store.db,
        "acme",
        &only_delivery(&store.db, "acme", "logs").await.event_id,
    )
    .await;
    assert!(
        list[0]["response"]
            .as_str()
            .expect("response")
            .contains("connect"),
        "{list:?}"
    );
}

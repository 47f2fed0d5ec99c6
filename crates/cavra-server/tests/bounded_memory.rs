//! Resident memory stays under a ceiling while many clients download evidence bundles and
//! thousands of half-sent connections idle (issue 16: four bundle downloads reached 597 MB
//! and 10,000 half-sent requests held 444 MB). The service runs in this test's process (its
//! own test binary, so nothing else shares it), and the process's resident anonymous memory
//! (`RssAnon`; see `common::resident_kib`) is what is measured.
//! The limits are the ones the issue measured against: 16 bundle clients, 10,000 idle peers.

mod common;

use common::*;
use reqwest::StatusCode;

/// Half-sent connections held open at once.
const IDLE_PEERS: usize = 10_000;

/// Raises this process's open-file limit to at least `want` descriptors (the soft limit up to
/// the hard one, and the hard one too when allowed, as for root): the idle peers need one each.
fn raise_descriptor_limit(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur >= want {
            return;
        }
        lim.rlim_cur = want;
        lim.rlim_max = lim.rlim_max.max(want);
        assert_eq!(
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim),
            0,
            "this test needs {want} open files (ulimit -n); raise the limit"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_under_bundle_downloads_and_idle_connections() {
    let s = sqlite_with(|c| {
        c.max_body_bytes = 64 * 1024;
        c.limits.bundle_entries = 1000;
        c.connections.max_connections = 256;
        c.connections.header_read_timeout_seconds = 3;
    })
    .await;
    let agent = s.token("a", "agent", "agent-a", &[]).await;
    let auditor = s.token("a", "auditor", "auditor-a", &[]).await;
    // A tenant log larger than one bundle may hold, each entry near the target limit.
    let mut writers = Vec::new();
    for w in 0..8 {
        let http = s.http.clone();
        let url = format!("{}/v1/decisions", s.base);
        let agent = agent.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..140 {
                let target = format!("src/{w}/{i}/{}", "p".repeat(3000));
                let r = http
                    .post(&url)
                    .bearer_auth(&agent)
                    .json(&decide("read_file", &target, &format!("sess-{}", i % 4)))
                    .send()
                    .await
                    .expect("send");
                assert_eq!(r.status(), StatusCode::OK);
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
    let before = resident_kib();

    // Ten thousand peers that send half a request head and then nothing (issue 16's figure):
    // the cap holds 256 of them, closing the oldest for each newcomer, until the header
    // timeout closes the rest. Each peer is a descriptor of this process.
    raise_descriptor_limit(IDLE_PEERS as u64 + 2048);
    let mut idle = Vec::with_capacity(IDLE_PEERS);
    let mut refused = 0;
    while idle.len() < IDLE_PEERS {
        use tokio::io::AsyncWriteExt as _;
        let Ok(Ok(mut c)) = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio::net::TcpStream::connect(s.addr),
        )
        .await
        else {
            refused += 1;
            assert!(refused < 100, "{refused} connections could not be opened");
            continue;
        };
        let _ = c
            .write_all(b"POST /v1/decisions HTTP/1.1\r\nContent-Length: 1000000\r\nX-Pad: ")
            .await;
        idle.push(c);
    }
    // Sixteen clients asking for bundles: the whole log (over the cap, refused after a count)
    // and one session each (under it, assembled at most two at a time). They need a free
    // connection, so they go over a connection opened before the idle peers filled the cap.
    let mut clients = Vec::new();
    let mut peak = before;
    for i in 0..16 {
        let http = s.http.clone();
        let base = s.base.clone();
        let auditor = auditor.clone();
        clients.push(tokio::spawn(async move {
            let path = if i % 2 == 0 {
                "/v1/evidence/bundle".to_string()
            } else {
                format!("/v1/evidence/bundle?session_id=sess-{}", i % 4)
            };
            let r = http
                .get(format!("{base}{path}"))
                .bearer_auth(&auditor)
                .send()
                .await
                .expect("send");
            let status = r.status();
            let _ = r.bytes().await;
            status
        }));
    }
    let mut statuses = Vec::new();
    for c in clients {
        statuses.push(c.await.expect("client"));
        peak = peak.max(resident_kib());
    }
    peak = peak.max(resident_kib());
    let idle_peers = idle.len();
    drop(idle);
    for st in &statuses {
        assert!(
            [
                StatusCode::OK,
                StatusCode::UNPROCESSABLE_ENTITY,
                StatusCode::TOO_MANY_REQUESTS
            ]
            .contains(st),
            "{statuses:?}"
        );
    }
    assert!(
        statuses.contains(&StatusCode::UNPROCESSABLE_ENTITY),
        "{statuses:?}"
    );
    let grown_mib = peak.saturating_sub(before) / 1024;
    eprintln!(
        "{} idle peers: resident before {} MiB, peak {} MiB, growth {grown_mib} MiB",
        idle_peers,
        before / 1024,
        peak / 1024
    );
    assert!(grown_mib < 150, "resident memory grew by {grown_mib} MiB");
}

//! The streamable HTTP transport's checks: DNS rebinding (Host, Origin), sessions in the
//! handshake era, routing headers in the stateless era, sizes and methods.

mod common;

use cavra_mcp::http::{HttpAnswer, HttpRequest, HttpService};
use cavra_mcp::server::McpServer;
use serde_json::{Value, json};
use std::collections::BTreeMap;

struct Fixture {
    _dir: tempfile::TempDir,
    service: HttpService,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = McpServer::new(common::governor(dir.path()));
    let bound = "127.0.0.1:8765".parse().expect("addr");
    Fixture {
        service: HttpService::new(server, bound, vec!["https://app.example".into()]),
        _dir: dir,
    }
}

fn post(f: &mut Fixture, headers: &[(&str, &str)], body: &Value) -> HttpAnswer {
    send(f, "POST", headers, body.to_string().into_bytes())
}

fn send(f: &mut Fixture, method: &str, headers: &[(&str, &str)], body: Vec<u8>) -> HttpAnswer {
    let mut h: BTreeMap<String, String> = BTreeMap::new();
    h.insert("host".into(), "127.0.0.1:8765".into());
    for (k, v) in headers {
        h.insert(k.to_ascii_lowercase(), v.to_string());
    }
    h.retain(|_, v| !v.is_empty());
    f.service.handle(&HttpRequest {
        method: method.into(),
        path: "/mcp".into(),
        headers: h,
        body,
    })
}

fn header<'a>(a: &'a HttpAnswer, name: &str) -> Option<&'a str> {
    a.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn init(version: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
}

fn modern(method: &str, params: Value) -> Value {
    let mut p = params;
    p["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    json!({"jsonrpc": "2.0", "id": 9, "method": method, "params": p})
}

#[test]
fn dns_rebinding_is_refused() {
    let mut f = fixture();
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    assert_eq!(
        post(&mut f, &[("host", "evil.example:8765")], &ping).status,
        403
    );
    assert_eq!(post(&mut f, &[("host", "")], &ping).status, 403);
    assert_eq!(
        post(
            &mut f,
            &[("origin", "http://evil.example")],
            &init("2025-11-25")
        )
        .status,
        403
    );
    assert_eq!(
        post(
            &mut f,
            &[("origin", "https://app.example")],
            &init("2025-11-25")
        )
        .status,
        200
    );
    assert_eq!(
        post(
            &mut f,
            &[
                ("host", "localhost:8765"),
                ("origin", "http://localhost:8765")
            ],
            &init("2025-11-25")
        )
        .status,
        200
    );
}

#[test]
fn handshake_sessions() {
    let mut f = fixture();
    let a = post(&mut f, &[], &init("2025-06-18"));
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body
            .as_ref()
            .map(|b| b["result"]["protocolVersion"].clone()),
        Some(json!("2025-06-18"))
    );
    let session = header(&a, "mcp-session-id")
        .expect("a session id")
        .to_string();
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    assert_eq!(post(&mut f, &[], &list).status, 400, "no session id");
    assert_eq!(
        post(&mut f, &[("mcp-session-id", "nope")], &list).status,
        404
    );
    let ok = post(
        &mut f,
        &[
            ("mcp-session-id", &session),
            ("mcp-protocol-version", "2025-06-18"),
        ],
        &list,
    );
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.body
            .as_ref()
            .map(|b| b["result"]["tools"].as_array().map(Vec::len)),
        Some(Some(8))
    );
    let wrong = post(
        &mut f,
        &[
            ("mcp-session-id", &session),
            ("mcp-protocol-version", "2025-11-25"),
        ],
        &list,
    );
    assert_eq!(wrong.status, 400);
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(
        post(&mut f, &[("mcp-session-id", &session)], &note).status,
        202
    );
    assert_eq!(
        send(
            &mut f,
            "DELETE",
            &[("mcp-session-id", &session)],
            Vec::new()
        )
        .status,
        200
    );
    assert_eq!(
        post(&mut f, &[("mcp-session-id", &session)], &list).status,
        404,
        "ended"
    );
    assert_eq!(send(&mut f, "GET", &[], Vec::new()).status, 405);
}

#[test]
fn stateless_requests_and_routing_headers() {
    let mut f = fixture();
    let call = modern(
        "tools/call",
        json!({"name": "evaluate_action", "arguments": {"action": "read_file", "target": ".env"}}),
    );
    let h = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "evaluate_action"),
    ];
    let a = post(&mut f, &h, &call);
    assert_eq!(a.status, 200);
    let body = a.body.expect("body");
    assert_eq!(body["result"]["structuredContent"]["decision"], "block");
    assert_eq!(body["result"]["resultType"], "complete");
    for bad in [
        [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/list"),
            ("mcp-name", "evaluate_action"),
        ],
        [
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "list_policies"),
        ],
        [
            ("mcp-protocol-version", "2025-11-25"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "evaluate_action"),
        ],
    ] {
        let a = post(&mut f, &bad, &call);
        assert_eq!(a.status, 400);
        assert_eq!(
            a.body.map(|b| b["error"]["code"].clone()),
            Some(json!(-32020))
        );
    }
    let mut future = modern("tools/list", json!({}));
    future["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let a = post(
        &mut f,
        &[
            ("mcp-protocol-version", "2099-01-01"),
            ("mcp-method", "tools/list"),
        ],
        &future,
    );
    assert_eq!(a.status, 400);
    assert_eq!(
        a.body.map(|b| b["error"]["code"].clone()),
        Some(json!(-32022))
    );
    let discover = modern("server/discover", json!({}));
    let a = post(
        &mut f,
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "server/discover"),
        ],
        &discover,
    );
    assert_eq!(
        a.body.map(|b| b["result"]["supportedVersions"].clone()),
        Some(json!(["2026-07-28"]))
    );
}

#[test]
fn malformed_and_oversized_bodies() {
    let mut f = fixture();
    let a = send(&mut f, "POST", &[], b"{nope".to_vec());
    assert_eq!(
        (a.status, a.body.map(|b| b["error"]["code"].clone())),
        (400, Some(json!(-32700)))
    );
    let big = vec![b' '; cavra_mcp::jsonrpc::MAX_MESSAGE_BYTES + 1];
    assert_eq!(send(&mut f, "POST", &[], big).status, 413);
}

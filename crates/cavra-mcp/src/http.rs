//! The MCP streamable HTTP transport for `cavra mcp serve --http`.
//!
//! One endpoint (`/mcp`). A POST carries one JSON-RPC message; a request is answered with
//! `application/json`, a notification or response with `202 Accepted`. GET (a server-initiated
//! event stream) is not offered: `405`.
//!
//! - Handshake era: `initialize` opens a session whose id is returned in `Mcp-Session-Id`;
//!   every later request must carry it (missing: `400`; unknown or ended: `404`), and DELETE
//!   ends it. `MCP-Protocol-Version`, when sent, must be a version cavra speaks.
//! - Stateless 2026-07-28: no session; `MCP-Protocol-Version` must equal the request's `_meta`
//!   version, `Mcp-Method` its method and, for `tools/call`, `Mcp-Name` its tool, else
//!   `400` with JSON-RPC error -32020.
//! - DNS rebinding: the server binds to loopback unless told otherwise; a request whose
//!   `Host` is not the bound loopback address or `localhost` is refused (`403`) while bound
//!   to loopback, and a request with an `Origin` that is not allowed is refused (`403`).

use crate::McpError;
use crate::jsonrpc::{self, Era, MAX_MESSAGE_BYTES, Message};
use crate::server::McpServer;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;

/// How the HTTP transport is set up.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Where to listen (default `127.0.0.1:8765`).
    pub bind: SocketAddr,
    /// Origins allowed besides the server's own loopback origins (`http://localhost:PORT`, …).
    pub allowed_origins: Vec<String>,
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpAnswer {
    /// The status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The JSON body, when any.
    pub body: Option<Value>,
}

impl HttpAnswer {
    fn json(status: u16, body: Value) -> Self {
        HttpAnswer {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    fn empty(status: u16) -> Self {
        HttpAnswer {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    fn refuse(status: u16, message: &str) -> Self {
        HttpAnswer::json(
            status,
            jsonrpc::error(Value::Null, jsonrpc::INVALID_REQUEST, message, None),
        )
    }
}

/// One incoming HTTP request, transport-neutral (header names lower-cased).
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// GET, POST, DELETE, …
    pub method: String,
    /// The path (without the query).
    pub path: String,
    /// Headers by lower-cased name.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

/// The transport's state: sessions and the checks, around an [`McpServer`].
pub struct HttpService {
    server: McpServer,
    bound: SocketAddr,
    allowed_origins: Vec<String>,
    sessions: BTreeMap<String, &'static str>,
    /// The cavra session of stateless requests; an MCP session `S` records under `BASE.S`.
    base_session: String,
}

/// The MCP endpoint's path.
pub const ENDPOINT: &str = "/mcp";

impl HttpService {
    /// A service for a server bound to `bound`.
    pub fn new(mut server: McpServer, bound: SocketAddr, allowed_origins: Vec<String>) -> Self {
        let base_session = server.governor().session_id().to_string();
        HttpService {
            server,
            bound,
            allowed_origins,
            sessions: BTreeMap::new(),
            base_session,
        }
    }

    fn host_ok(&self, host: Option<&str>) -> bool {
        if !self.bound.ip().is_loopback() {
            return true;
        }
        let Some(host) = host else { return false };
        let port = self.bound.port();
        let allowed = [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
            self.bound.to_string(),
        ];
        allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
    }

    fn origin_ok(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        let port = self.bound.port();
        let own = [
            format!("http://127.0.0.1:{port}"),
            format!("http://localhost:{port}"),
            format!("http://[::1]:{port}"),
        ];
        own.iter()
            .chain(self.allowed_origins.iter())
            .any(|o| o.eq_ignore_ascii_case(origin.trim_end_matches('/')))
    }

    /// Answers one HTTP request.
    pub fn handle(&mut self, req: &HttpRequest) -> HttpAnswer {
        let header = |name: &str| req.headers.get(name).map(String::as_str);
        if !self.host_ok(header("host")) {
            return HttpAnswer::refuse(403, "the Host header is not this loopback server's");
        }
        if !self.origin_ok(header("origin")) {
            return HttpAnswer::refuse(403, "this Origin is not allowed");
        }
        if req.path != ENDPOINT {
            return HttpAnswer::refuse(404, "the MCP endpoint is /mcp");
        }
        match req.method.as_str() {
            "POST" => self.post(req),
            "DELETE" => match header("mcp-session-id") {
                Some(id) if self.sessions.remove(id).is_some() => HttpAnswer::empty(200),
                Some(_) => HttpAnswer::refuse(404, "no such session"),
                None => HttpAnswer::refuse(400, "DELETE needs an Mcp-Session-Id"),
            },
            _ => {
                let mut a = HttpAnswer::refuse(
                    405,
                    "cavra offers no server-initiated event stream; POST JSON-RPC messages",
                );
                a.headers.push(("Allow".into(), "POST, DELETE".into()));
                a
            }
        }
    }

    fn post(&mut self, req: &HttpRequest) -> HttpAnswer {
        let header = |name: &str| req.headers.get(name).map(String::as_str);
        if req.body.len() > MAX_MESSAGE_BYTES {
            return HttpAnswer::refuse(
                413,
                &format!("message larger than the limit of {MAX_MESSAGE_BYTES} bytes"),
            );
        }
        let message = match jsonrpc::parse(&req.body) {
            Ok(m) => m,
            Err(answer) => return HttpAnswer::json(400, answer),
        };
        let (id, method, params) = match &message {
            Message::Request { id, method, params } => (id.clone(), method.clone(), params.clone()),
            // Notifications and responses are accepted; none needs an answer here.
            _ => {
                self.server.handle(message);
                return HttpAnswer::empty(202);
            }
        };
        match jsonrpc::era(&params) {
            Era::Modern(version) => {
                let name = params.get("name").and_then(Value::as_str);
                let mismatch = if header("mcp-protocol-version") != Some(version.as_str()) {
                    Some("MCP-Protocol-Version does not match the request's protocol version")
                } else if header("mcp-method") != Some(method.as_str()) {
                    Some("Mcp-Method does not match the request's method")
                } else if method == "tools/call" && header("mcp-name") != name {
                    Some("Mcp-Name does not match the tool called")
                } else {
                    None
                };
                if let Some(why) = mismatch {
                    return HttpAnswer::json(
                        400,
                        jsonrpc::error(id, jsonrpc::HEADER_MISMATCH, why, None),
                    );
                }
                self.answer(message, None)
            }
            Era::Unsupported(_) => {
                let mut a = self.answer(message, None);
                a.status = 400;
                a
            }
            Era::Handshake if method == "initialize" => {
                let mut answer = self.answer(message, None);
                if let Some(version) = self.server.negotiated() {
                    let session = format!("{}", uuid::Uuid::new_v4().simple());
                    self.sessions.insert(session.clone(), version);
                    answer.headers.push(("Mcp-Session-Id".into(), session));
                }
                answer
            }
            Era::Handshake => {
                let Some(session) = header("mcp-session-id") else {
                    return HttpAnswer::json(
                        400,
                        jsonrpc::error(
                            id,
                            jsonrpc::INVALID_REQUEST,
                            "missing Mcp-Session-Id: initialize first, or send a 2026-07-28 request",
                            None,
                        ),
                    );
                };
                let Some(version) = self.sessions.get(session).copied() else {
                    return HttpAnswer::json(
                        404,
                        jsonrpc::error(id, jsonrpc::INVALID_REQUEST, "no such session", None),
                    );
                };
                if let Some(v) = header("mcp-protocol-version")
                    && v != version
                {
                    return HttpAnswer::json(
                        400,
                        jsonrpc::error(
                            id,
                            jsonrpc::INVALID_REQUEST,
                            &format!("MCP-Protocol-Version {v} is not this session's ({version})"),
                            None,
                        ),
                    );
                }
                let session = session.to_string();
                self.answer(message, Some(&session))
            }
        }
    }

    /// Answers under the cavra session of the MCP session, if any.
    fn answer(&mut self, message: Message, mcp_session: Option<&str>) -> HttpAnswer {
        let session = match mcp_session {
            Some(s) => format!("{}.{s}", self.base_session),
            None => self.base_session.clone(),
        };
        self.server.governor().set_session_id(session);
        match self.server.handle(message) {
            Some(v) => HttpAnswer::json(200, v),
            None => HttpAnswer::empty(202),
        }
    }
}

/// Serves MCP over streamable HTTP until the process ends. `ready` is called with the bound
/// address once listening (port 0 picks a free port).
pub fn serve(
    server: McpServer,
    config: &HttpConfig,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), McpError> {
    let http = tiny_http::Server::http(config.bind)
        .map_err(|e| McpError::Invalid(format!("cannot listen on {}: {e}", config.bind)))?;
    let bound = http
        .server_addr()
        .to_ip()
        .ok_or_else(|| McpError::Invalid("not listening on an IP address".into()))?;
    ready(bound);
    let mut service = HttpService::new(server, bound, config.allowed_origins.clone());
    for mut request in http.incoming_requests() {
        let mut body = Vec::new();
        let limit = (MAX_MESSAGE_BYTES + 1) as u64;
        let read = request.as_reader().take(limit).read_to_end(&mut body);
        let answer = match read {
            Err(e) => HttpAnswer::refuse(400, &format!("cannot read the body: {e}")),
            Ok(_) => {
                let headers = request
                    .headers()
                    .iter()
                    .map(|h| {
                        (
                            h.field.as_str().as_str().to_ascii_lowercase(),
                            h.value.as_str().to_string(),
                        )
                    })
                    .collect();
                let url = request.url();
                let path = url.split('?').next().unwrap_or(url).to_string();
                service.handle(&HttpRequest {
                    method: request.method().as_str().to_ascii_uppercase(),
                    path,
                    headers,
                    body,
                })
            }
        };
        let text = answer
            .body
            .as_ref()
            .map(|b| b.to_string())
            .unwrap_or_default();
        let mut response = tiny_http::Response::from_string(text).with_status_code(answer.status);
        if answer.body.is_some()
            && let Ok(h) = tiny_http::Header::from_bytes("Content-Type", "application/json")
        {
            response.add_header(h);
        }
        for (k, v) in &answer.headers {
            if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                response.add_header(h);
            }
        }
        if let Err(e) = request.respond(response) {
            eprintln!("cavra mcp serve: could not answer an HTTP request: {e}");
        }
    }
    Ok(())
}

//! JSON-RPC 2.0 as MCP frames it: parsing one message, building answers, and telling the two
//! protocol eras apart.

use serde_json::{Map, Value, json};

/// Invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// An internal error.
pub const INTERNAL_ERROR: i64 = -32603;
/// HTTP headers and body disagree (2026-07-28).
pub const HEADER_MISMATCH: i64 = -32020;
/// The requested protocol version is not supported (2026-07-28).
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// The handshake-era versions cavra negotiates through `initialize`, oldest first.
pub const HANDSHAKE_VERSIONS: &[&str] = &["2025-06-18", "2025-11-25"];
/// The newest handshake-era version (offered when the client asks for one cavra lacks).
pub const LATEST_HANDSHAKE: &str = "2025-11-25";
/// The stateless revisions (per-request `_meta` envelope, `server/discover`).
pub const MODERN_VERSIONS: &[&str] = &["2026-07-28"];
/// The `_meta` key carrying a stateless request's protocol version.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// The `_meta` key carrying the server's identity on stateless results.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// The largest message accepted (bytes of one JSON-RPC message).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// One parsed message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request: it has an id and wants an answer.
    Request {
        /// Its id (string or number).
        id: Value,
        /// The method.
        method: String,
        /// The parameters (an object, or null when absent).
        params: Value,
    },
    /// A notification: no id, no answer.
    Notification {
        /// The method.
        method: String,
        /// The parameters.
        params: Value,
    },
    /// An answer to a request (from the peer).
    Response {
        /// The id it answers.
        id: Value,
        /// The whole message.
        body: Value,
    },
}

/// Parses one message. A message that is not valid JSON-RPC yields the error answer to send
/// back (with the request's id when one could be read, else null).
pub fn parse(bytes: &[u8]) -> Result<Message, Value> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        error(
            Value::Null,
            PARSE_ERROR,
            &format!("not valid JSON: {e}"),
            None,
        )
    })?;
    classify(value)
}

/// Classifies an already parsed value.
pub fn classify(value: Value) -> Result<Message, Value> {
    let Value::Object(mut obj) = value else {
        let what = if value.is_array() {
            "JSON-RPC batches are not supported by MCP; send one message at a time"
        } else {
            "a JSON-RPC message must be an object"
        };
        return Err(error(Value::Null, INVALID_REQUEST, what, None));
    };
    let id = obj.get("id").cloned();
    let valid_id = |id: &Value| id.is_string() || id.is_i64() || id.is_u64();
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(error(
            id.filter(valid_id).unwrap_or(Value::Null),
            INVALID_REQUEST,
            "`jsonrpc` must be \"2.0\"",
            None,
        ));
    }
    match obj.get("method") {
        Some(Value::String(method)) => {
            let method = method.clone();
            let params = obj.remove("params").unwrap_or(Value::Null);
            if !(params.is_object() || params.is_null()) {
                return Err(error(
                    id.filter(valid_id).unwrap_or(Value::Null),
                    INVALID_PARAMS,
                    "`params` must be an object",
                    None,
                ));
            }
            match id {
                None => Ok(Message::Notification { method, params }),
                Some(id) if valid_id(&id) => Ok(Message::Request { id, method, params }),
                Some(_) => Err(error(
                    Value::Null,
                    INVALID_REQUEST,
                    "`id` must be a string or an integer",
                    None,
                )),
            }
        }
        Some(_) => Err(error(
            id.filter(valid_id).unwrap_or(Value::Null),
            INVALID_REQUEST,
            "`method` must be a string",
            None,
        )),
        None => match id {
            Some(id) if obj.contains_key("result") || obj.contains_key("error") => {
                Ok(Message::Response {
                    id,
                    body: Value::Object(obj),
                })
            }
            _ => Err(error(
                Value::Null,
                INVALID_REQUEST,
                "a message needs a `method` (request) or a `result`/`error` with an `id` (response)",
                None,
            )),
        },
    }
}

/// An error answer.
pub fn error(id: Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut err = Map::new();
    err.insert("code".into(), json!(code));
    err.insert("message".into(), json!(message));
    if let Some(d) = data {
        err.insert("data".into(), d);
    }
    json!({"jsonrpc": "2.0", "id": id, "error": Value::Object(err)})
}

/// A result answer.
pub fn result(id: Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// The protocol era of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Era {
    /// No `_meta` protocol version: the handshake era (its version was set by `initialize`).
    Handshake,
    /// A stateless request at this supported version.
    Modern(String),
    /// A stateless request at a version cavra does not speak.
    Unsupported(String),
}

/// The era of a request, from its `_meta`.
pub fn era(params: &Value) -> Era {
    match params
        .get("_meta")
        .and_then(|m| m.get(META_PROTOCOL_VERSION))
    {
        None => Era::Handshake,
        Some(Value::String(v)) if MODERN_VERSIONS.contains(&v.as_str()) => Era::Modern(v.clone()),
        Some(other) => Era::Unsupported(
            other
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| other.to_string()),
        ),
    }
}

/// The error for a stateless request at an unsupported version.
pub fn unsupported_version(id: Value, requested: &str) -> Value {
    error(
        id,
        UNSUPPORTED_PROTOCOL_VERSION,
        &format!("protocol version {requested} is not supported"),
        Some(json!({"supported": MODERN_VERSIONS, "requested": requested})),
    )
}

/// The version to answer an `initialize` with: the client's when cavra speaks it, else the
/// newest handshake version (the client then decides whether to go on).
pub fn negotiate(requested: Option<&str>) -> &'static str {
    requested
        .and_then(|r| HANDSHAKE_VERSIONS.iter().find(|v| **v == r))
        .copied()
        .unwrap_or(LATEST_HANDSHAKE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_and_rejects() {
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Ok(Message::Request { .. })
        ));
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(Message::Notification { .. })
        ));
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            Ok(Message::Response { .. })
        ));
        let code = |b: &[u8]| parse(b).err().and_then(|e| e["error"]["code"].as_i64());
        assert_eq!(code(b"{not json"), Some(PARSE_ERROR));
        assert_eq!(code(b"[]"), Some(INVALID_REQUEST));
        assert_eq!(code(br#"{"id":1,"method":"x"}"#), Some(INVALID_REQUEST));
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#),
            Some(INVALID_REQUEST)
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#),
            Some(INVALID_PARAMS)
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":7,"method":3}"#)
                .err()
                .map(|e| e["id"].clone()),
            Some(json!(7))
        );
    }

    #[test]
    fn eras_and_negotiation() {
        assert_eq!(era(&json!({})), Era::Handshake);
        assert_eq!(
            era(&json!({"_meta": {META_PROTOCOL_VERSION: "2026-07-28"}})),
            Era::Modern("2026-07-28".into())
        );
        assert_eq!(
            era(&json!({"_meta": {META_PROTOCOL_VERSION: "2099-01-01"}})),
            Era::Unsupported("2099-01-01".into())
        );
        assert_eq!(negotiate(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate(Some("2024-11-05")), LATEST_HANDSHAKE);
        assert_eq!(negotiate(None), LATEST_HANDSHAKE);
    }
}

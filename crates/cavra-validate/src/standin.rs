//! A stand-in for an agent's model API on loopback: the Anthropic Messages API (Claude Code,
//! `ANTHROPIC_BASE_URL`), the OpenAI Responses API (Codex, a custom model provider's
//! `base_url`) or the Gemini API (Gemini CLI, `GOOGLE_GEMINI_BASE_URL`).
//!
//! Each model request carries the whole conversation so far; the number of tool results in it
//! is the step the agent is at, and the stand-in answers with that step's scripted tool call
//! (streamed as server-sent events), or with the final text once the script is done. Before it
//! answers a step for the first time it runs the caller's `between` action (an approver
//! deciding, a monitor checking the hook, a drill disturbing the session) — the agent is then
//! waiting for its model, so the action happens exactly between two tool calls.
//!
//! Bounded: a request line, headers and body are read up to fixed limits; anything larger is
//! dropped unanswered. It binds 127.0.0.1 only.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// The largest request body read (Claude Code's requests carry its system prompt and tools).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// The largest request line or header line read.
const MAX_LINE: usize = 64 * 1024;

/// One scripted tool call: the tool's name and its input.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The tool, as the agent names it (`Write`, `Bash`, `mcp__files__read_text_file`).
    pub name: String,
    /// Its input.
    pub input: Value,
}

/// What runs before step `n` is answered the first time, with the request that asked for it.
pub type Between = dyn Fn(usize, &Value) + Send + Sync;

/// The model API the stand-in speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// Anthropic Messages (`POST /v1/messages`, `tool_use` / `tool_result` blocks).
    Anthropic,
    /// OpenAI Responses (`POST …/responses`, `function_call` / `function_call_output` items).
    OpenAiResponses,
    /// Gemini (`POST …:streamGenerateContent`, `functionCall` / `functionResponse` parts).
    Gemini,
}

impl Wire {
    /// Whether a request line asks the model for a turn.
    fn is_turn(self, line: &str) -> bool {
        match self {
            Wire::Anthropic => {
                line.starts_with("POST /v1/messages") && !line.contains("count_tokens")
            }
            Wire::OpenAiResponses => line.starts_with("POST ") && line.contains("/responses"),
            Wire::Gemini => {
                line.starts_with("POST ")
                    && (line.contains(":generateContent")
                        || line.contains(":streamGenerateContent"))
            }
        }
    }

    /// How many tool results a turn request holds: the step the agent is at.
    pub fn step(self, body: &Value) -> usize {
        match self {
            Wire::Anthropic => tool_results(body),
            Wire::OpenAiResponses => body["input"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| i["type"] == "function_call_output")
                .count(),
            Wire::Gemini => body["contents"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["parts"].as_array())
                .flatten()
                .filter(|p| p.get("functionResponse").is_some())
                .count(),
        }
    }
}

/// A running stand-in; it stops taking connections when dropped.
pub struct StandIn {
    port: u16,
    seen: Arc<Mutex<Vec<Value>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl StandIn {
    /// Binds 127.0.0.1 on a free port and serves `script` from a thread.
    pub fn start(
        wire: Wire,
        script: Vec<ToolCall>,
        between: Arc<Between>,
    ) -> std::io::Result<StandIn> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (log, halt) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            // The highest step whose `between` action already ran (+1).
            let mut reached = 0usize;
            for stream in listener.incoming() {
                if halt.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                serve(wire, &stream, &script, between.as_ref(), &mut reached, &log);
            }
        });
        Ok(StandIn { port, seen, stop })
    }

    /// The base URL to give the agent.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every Messages request body the stand-in answered, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(
    wire: Wire,
    mut stream: &TcpStream,
    script: &[ToolCall],
    between: &Between,
    reached: &mut usize,
    log: &Mutex<Vec<Value>>,
) {
    let Some((line, body)) = read_request(stream) else {
        return;
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (content_type, payload) = if wire == Wire::Gemini && wants_json(&body) {
        // Gemini CLI's side questions (its model router, its checks) ask for JSON, not a
        // turn: an empty object, and the session's step is left alone.
        (
            "application/json",
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "{}"}]},
                "finishReason": "STOP", "index": 0}]})
            .to_string(),
        )
    } else if wire.is_turn(&line) {
        let step = wire.step(&body);
        while *reached <= step {
            between(*reached, &body);
            *reached += 1;
        }
        let model = body["model"].as_str().unwrap_or("model").to_string();
        if let Ok(mut l) = log.lock() {
            l.push(body);
        }
        let call = script.get(step);
        match wire {
            Wire::Anthropic => ("text/event-stream", answer(step, call, &model)),
            Wire::OpenAiResponses => ("text/event-stream", answer_responses(step, call)),
            Wire::Gemini if line.contains("streamGenerateContent") => (
                "text/event-stream",
                format!("data: {}\r\n\r\n", answer_gemini(call)),
            ),
            Wire::Gemini => ("application/json", answer_gemini(call).to_string()),
        }
    } else if line.contains("count_tokens") {
        ("application/json", json!({"input_tokens": 1}).to_string())
    } else if line.contains("countTokens") {
        ("application/json", json!({"totalTokens": 1}).to_string())
    } else if wire == Wire::OpenAiResponses {
        // Codex lists models; none here beyond the configured one.
        ("application/json", json!({"data": []}).to_string())
    } else {
        ("application/json", json!({}).to_string())
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        payload.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(payload.as_bytes());
}

/// Whether a Gemini request asks for a JSON answer rather than a conversation turn.
fn wants_json(body: &Value) -> bool {
    let config = &body["generationConfig"];
    config["responseMimeType"] == "application/json"
        || config.get("responseJsonSchema").is_some()
        || config.get("responseSchema").is_some()
}

/// How many tool results the conversation holds: the step the agent is at.
pub fn tool_results(body: &Value) -> usize {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|c| c["type"] == "tool_result")
        .count()
}

/// The text of the tool result for `tool_use_id` in a request, when there is one.
pub fn tool_result_text(body: &Value, tool_use_id: &str) -> Option<String> {
    let block = body["messages"]
        .as_array()?
        .iter()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .find(|c| c["type"] == "tool_result" && c["tool_use_id"] == tool_use_id)?;
    Some(match &block["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    })
}

/// The id the stand-in gives step `n`'s tool call.
pub fn tool_use_id(step: usize) -> String {
    format!("toolu_validate_{step:02}")
}

fn sse(out: &mut String, event: &str, data: Value) {
    out.push_str(&format!("event: {event}\ndata: {data}\n\n"));
}

/// The streamed answer for step `step`: its tool call, or (past the script) the final text.
fn answer(step: usize, call: Option<&ToolCall>, model: &str) -> String {
    let mut out = String::new();
    sse(
        &mut out,
        "message_start",
        json!({"type": "message_start", "message": {"id": format!("msg_{step}"), "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}}}),
    );
    let stop = match call {
        Some(call) => {
            sse(
                &mut out,
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": tool_use_id(step), "name": call.name, "input": {}}}),
            );
            sse(
                &mut out,
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": call.input.to_string()}}),
            );
            "tool_use"
        }
        None => {
            sse(
                &mut out,
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            );
            sse(
                &mut out,
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "validation session done"}}),
            );
            "end_turn"
        }
    };
    sse(
        &mut out,
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    );
    sse(
        &mut out,
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 1}}),
    );
    sse(&mut out, "message_stop", json!({"type": "message_stop"}));
    out
}

/// The streamed Responses API answer for step `step` (Codex).
fn answer_responses(step: usize, call: Option<&ToolCall>) -> String {
    let mut out = String::new();
    sse(
        &mut out,
        "response.created",
        json!({"type": "response.created", "response": {"id": format!("resp_{step}")}}),
    );
    let item = match call {
        Some(call) => json!({"type": "function_call", "id": format!("fc_{step}"),
            "call_id": tool_use_id(step), "name": call.name, "arguments": call.input.to_string()}),
        None => json!({"type": "message", "role": "assistant", "id": format!("msg_{step}"),
            "content": [{"type": "output_text", "text": "validation session done"}]}),
    };
    sse(
        &mut out,
        "response.output_item.done",
        json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
    );
    sse(
        &mut out,
        "response.completed",
        json!({"type": "response.completed", "response": {"id": format!("resp_{step}"),
            "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0}}}}),
    );
    out
}

/// The Gemini API answer for a step (Gemini CLI): one candidate with the call or the text.
fn answer_gemini(call: Option<&ToolCall>) -> Value {
    let part = match call {
        Some(call) => json!({"functionCall": {"name": call.name, "args": call.input}}),
        None => json!({"text": "validation session done"}),
    };
    json!({"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}})
}

/// Reads one bounded line (without its line ending); none past [`MAX_LINE`].
fn read_line(reader: &mut impl BufRead) -> Option<String> {
    let mut buf = Vec::new();
    let n = reader
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut buf)
        .ok()?;
    if n == 0 || n > MAX_LINE {
        return None;
    }
    Some(String::from_utf8_lossy(&buf).trim_end().to_string())
}

/// Reads one HTTP/1.1 request: (request line, body).
fn read_request(stream: &TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(stream);
    let line = read_line(&mut reader)?;
    let mut length = 0usize;
    for _ in 0..256 {
        let header = read_line(&mut reader)?;
        if header.is_empty() {
            let mut body = vec![0; length];
            reader.read_exact(&mut body).ok()?;
            return Some((line, body));
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
            if length > MAX_BODY {
                return None;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_is_the_number_of_tool_results_and_results_are_found_by_id() {
        let body = json!({"messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_validate_00"}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_validate_00",
                "content": [{"type": "text", "text": "Pending approval apr_1"}]}]},
        ]});
        assert_eq!(tool_results(&body), 1);
        assert_eq!(
            tool_result_text(&body, "toolu_validate_00").as_deref(),
            Some("Pending approval apr_1")
        );
        assert_eq!(tool_result_text(&body, "toolu_validate_01"), None);
    }

    #[test]
    fn a_step_is_answered_with_its_tool_call_and_the_end_with_text() {
        let call = ToolCall {
            name: "Read".into(),
            input: json!({"file_path": "/r/a"}),
        };
        let a = answer(3, Some(&call), "m");
        assert!(
            a.contains("\"tool_use\"") && a.contains("toolu_validate_03"),
            "{a}"
        );
        assert!(a.contains(r#"\"file_path\":\"/r/a\""#), "{a}");
        let end = answer(4, None, "m");
        assert!(
            end.contains("end_turn") && !end.contains("tool_use\""),
            "{end}"
        );
    }

    #[test]
    fn each_wire_counts_its_own_tool_results() {
        let responses = json!({"input": [{"type": "message"}, {"type": "function_call"},
            {"type": "function_call_output", "call_id": "toolu_validate_00"}]});
        assert_eq!(Wire::OpenAiResponses.step(&responses), 1);
        let gemini = json!({"contents": [{"role": "user", "parts": [{"text": "go"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "x"}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "x"}}]},
            {"role": "model", "parts": [{"functionCall": {"name": "y"}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "y"}}]}]});
        assert_eq!(Wire::Gemini.step(&gemini), 2);
        assert!(Wire::Gemini.is_turn(
            "POST /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse HTTP/1.1"
        ));
        assert!(Wire::Gemini.is_turn("POST /v1beta/models/m:generateContent HTTP/1.1"));
        assert!(!Wire::Gemini.is_turn("POST /v1beta/models/m:countTokens HTTP/1.1"));
        assert!(wants_json(
            &json!({"generationConfig": {"responseMimeType": "application/json"}})
        ));
        let call = ToolCall {
            name: "exec_command".into(),
            input: json!({"cmd": "ls"}),
        };
        let r = answer_responses(0, Some(&call));
        assert!(r.contains("\"call_id\":\"toolu_validate_00\""), "{r}");
        assert!(r.contains("response.completed"), "{r}");
        assert_eq!(
            answer_gemini(Some(&call))["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
            "exec_command"
        );
    }

    #[test]
    fn between_runs_once_per_step_before_the_answer() {
        let ran: Arc<Mutex<Vec<usize>>> = Arc::default();
        let r = ran.clone();
        let s = StandIn::start(
            Wire::Anthropic,
            vec![ToolCall {
                name: "Read".into(),
                input: json!({}),
            }],
            Arc::new(move |n, _| r.lock().expect("lock").push(n)),
        )
        .expect("starts");
        let post = |body: &str| {
            let mut c = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
            write!(
                c,
                "POST /v1/messages HTTP/1.1\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .expect("write");
            let mut out = String::new();
            c.read_to_string(&mut out).expect("read");
            out
        };
        let first = post(r#"{"messages":[]}"#);
        assert!(first.contains("toolu_validate_00"), "{first}");
        // The same step asked again (a retry): its action does not run twice.
        post(r#"{"messages":[]}"#);
        let end = post(
            r#"{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_validate_00","content":"x"}]}]}"#,
        );
        assert!(end.contains("end_turn"), "{end}");
        assert_eq!(*ran.lock().expect("lock"), vec![0, 1]);
        assert_eq!(s.requests().len(), 3);
    }
}

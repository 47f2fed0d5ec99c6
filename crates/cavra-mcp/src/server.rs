//! `cavra mcp serve`: an MCP server through which an agent asks cavra.
//!
//! Eight tools, each with a JSON input schema and structured output, each doing the work it
//! names against the repository's policy and store. Every `evaluate_action` is recorded like a
//! hook decision; `evidence_bundle` writes a real signed bundle of the session.

use crate::governor::Governor;
use crate::jsonrpc::{self, Era, Message};
use cavra_engine::{ActionType, Request};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::{Component, Path, PathBuf};

/// The server's name in `initialize` and `server/discover`.
pub const SERVER_NAME: &str = "cavra";

const INSTRUCTIONS: &str = "cavra decides whether an agent's action may proceed. Call evaluate_action before \
reading or writing files, running commands, pushing, opening pull requests or calling other MCP tools; \
follow its decision. A require_approval decision names a pending approval: check it with approval_status \
and retry once a person approved it.";

/// A tool's definition.
fn tool(
    name: &str,
    title: &str,
    description: &str,
    input: Value,
    output: Value,
    read_only: bool,
) -> Value {
    json!({
        "name": name,
        "title": title,
        "description": description,
        "inputSchema": input,
        "outputSchema": output,
        "annotations": {"readOnlyHint": read_only, "openWorldHint": false},
    })
}

fn action_properties() -> Value {
    let actions: Vec<&str> = ActionType::ALL.iter().map(|a| a.as_str()).collect();
    json!({
        "action": {"type": "string", "enum": actions, "description": "The kind of action."},
        "target": {"type": "string", "description": "The file path, command line, git target (origin/main), URL or PR title."},
        "operation": {"type": "string", "description": "For git_operation: push, commit, merge, tag, reset, rebase, …"},
        "force": {"type": "boolean", "description": "For git_operation: a force push."},
        "branch": {"type": "string", "description": "The branch worked on or pushed to."},
        "server": {"type": "string", "description": "For mcp_tool_call: the MCP server's name."},
        "tool": {"type": "string", "description": "For mcp_tool_call: the tool's name."},
        "capability": {"type": "string", "enum": ["filesystem", "shell", "network", "cloud", "secrets", "repository"], "description": "For mcp_tool_call: the tool's capability, when known."},
        "arguments": {"type": "object", "description": "For mcp_tool_call: the call's arguments."},
        "cwd": {"type": "string", "description": "The working folder (absolute); default the repository root."},
        "environment": {"type": "string", "description": "The deployment environment."},
        "repository": {"type": "string", "description": "The repository (org/name)."},
    })
}

fn decision_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "decision": {"type": "string", "enum": ["allow", "block", "require_approval", "warn", "audit_only", "allow_with_attestation"]},
            "may_proceed": {"type": "boolean"},
            "rule_id": {"type": "string"},
            "reason": {"type": "string"},
            "message": {"type": "string"},
            "decision_id": {"type": "string"},
            "approval_id": {"type": ["string", "null"]},
            "approver_group": {"type": ["string", "null"]},
            "policy": {"type": "object"},
            "matched_rules": {"type": "array"},
            "recorded": {"type": "boolean"}
        },
        "required": ["decision", "may_proceed", "rule_id", "reason", "decision_id", "recorded"]
    })
}

/// Every tool cavra serves.
pub fn tools() -> Vec<Value> {
    let action_input = json!({
        "type": "object",
        "properties": action_properties(),
        "required": ["action"],
        "additionalProperties": false,
    });
    let mut explain_props = action_properties();
    if let Some(obj) = explain_props.as_object_mut() {
        obj.insert(
            "decision_id".into(),
            json!({"type": "string", "description": "A recorded decision to explain; otherwise the action given is explained without being recorded."}),
        );
    }
    vec![
        tool(
            "evaluate_action",
            "Evaluate an action",
            "Decide whether an action may proceed under the repository's policy (and MCP registry for mcp_tool_call). The decision is recorded as evidence. require_approval creates or names a pending approval.",
            action_input.clone(),
            decision_output(),
            false,
        ),
        tool(
            "explain_decision",
            "Explain a decision",
            "Explain a recorded decision (by decision_id) or how an action would be decided: the deciding rule, every matched rule and what the request was normalised into. Records nothing.",
            json!({"type": "object", "properties": explain_props, "additionalProperties": false}),
            json!({"type": "object", "properties": {
                "decision": {"type": "string"}, "rule_id": {"type": "string"}, "reason": {"type": "string"},
                "matched_rules": {"type": "array"}, "subjects": {"type": "array"}, "considered": {"type": "array"},
                "recorded": {"type": "boolean"}
            }, "required": ["decision", "rule_id", "reason", "matched_rules", "recorded"]}),
            true,
        ),
        tool(
            "request_approval",
            "Request approval",
            "Ask in advance for approval of an action that needs it. Returns the pending approval (or says none is needed, or that the action is blocked and cannot be approved). The request is recorded.",
            action_input,
            decision_output(),
            false,
        ),
        tool(
            "approval_status",
            "Approval status",
            "The state of an approval: pending, approved, denied, expired, consumed; who decided and why.",
            json!({"type": "object", "properties": {"approval_id": {"type": "string", "pattern": "^apr_[0-9a-f]+$"}}, "required": ["approval_id"], "additionalProperties": false}),
            json!({"type": "object", "properties": {
                "approval_id": {"type": "string"}, "state": {"type": "string"}, "summary": {"type": "string"},
                "approver_group": {"type": "string"}, "requested_at": {"type": "string"}, "expires_at": {"type": "string"},
                "decided_by": {"type": ["string", "null"]}, "reason": {"type": ["string", "null"]}, "history": {"type": "array"}
            }, "required": ["approval_id", "state"]}),
            true,
        ),
        tool(
            "list_policies",
            "List policies",
            "The policy in force for this repository and the built-in policy packs.",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            json!({"type": "object", "properties": {"active": {"type": "object"}, "builtin": {"type": "array"}}, "required": ["active", "builtin"]}),
            true,
        ),
        tool(
            "validate_policy",
            "Validate a policy",
            "Validate a policy pack given as YAML text or as a path inside the repository: errors with line and column, or the pack's id, version, digest and rule count.",
            json!({"type": "object", "properties": {
                "yaml": {"type": "string", "description": "The pack's YAML text."},
                "path": {"type": "string", "description": "A pack file inside the repository (relative to its root)."}
            }, "additionalProperties": false}),
            json!({"type": "object", "properties": {
                "valid": {"type": "boolean"}, "error": {"type": ["string", "null"]}, "line": {"type": ["integer", "null"]},
                "column": {"type": ["integer", "null"]}, "id": {"type": ["string", "null"]}, "version": {"type": ["string", "null"]},
                "digest": {"type": ["string", "null"]}, "rules": {"type": ["integer", "null"]}
            }, "required": ["valid"]}),
            true,
        ),
        tool(
            "session_summary",
            "Session summary",
            "This MCP session's recorded decisions (or another session's, by id): counts, pending approvals and the most recent decisions.",
            json!({"type": "object", "properties": {"session_id": {"type": "string"}}, "additionalProperties": false}),
            json!({"type": "object", "properties": {
                "session_id": {"type": "string"}, "found": {"type": "boolean"}, "decisions": {"type": "integer"},
                "blocked": {"type": "integer"}, "approvals": {"type": "integer"}, "warned": {"type": "integer"},
                "outcomes": {"type": "integer"}, "pending_approvals": {"type": "array"}, "recent": {"type": "array"}
            }, "required": ["session_id", "found", "decisions"]}),
            true,
        ),
        tool(
            "evidence_bundle",
            "Evidence bundle",
            "Write a signed evidence bundle of this session (its recorded entries with Merkle proofs, the policies and approvals) to a new folder inside the repository; verify it with `cavra evidence verify`.",
            json!({"type": "object", "properties": {
                "output": {"type": "string", "description": "A new folder, relative to the repository root (default .cavra/bundles/<session>-<time>)."},
                "session_id": {"type": "string"}
            }, "additionalProperties": false}),
            json!({"type": "object", "properties": {
                "dir": {"type": "string"}, "entries": {"type": "integer"}, "tree_size": {"type": "integer"},
                "root_hash": {"type": "string"}, "signed_by": {"type": ["string", "null"]}, "decisions": {"type": "object"},
                "files": {"type": "integer"}
            }, "required": ["dir", "entries", "root_hash", "signed_by"]}),
            false,
        ),
    ]
}

/// The arguments an agent may give for an action (never its session, mode or break glass).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionInput {
    action: ActionType,
    #[serde(default)]
    target: String,
    operation: Option<String>,
    force: Option<bool>,
    branch: Option<String>,
    server: Option<String>,
    tool: Option<String>,
    capability: Option<String>,
    arguments: Option<Value>,
    cwd: Option<String>,
    environment: Option<String>,
    repository: Option<String>,
    #[serde(default)]
    decision_id: Option<String>,
}

impl ActionInput {
    fn into_request(self) -> Request {
        let mut r = Request::new(self.action, self.target);
        r.operation = self.operation;
        r.force = self.force;
        r.branch = self.branch;
        r.server = self.server;
        r.tool = self.tool;
        r.capability = self.capability;
        r.arguments = self.arguments;
        r.cwd = self.cwd;
        r.environment = self.environment;
        r.repository = self.repository;
        r
    }
}

/// A tool's failure: reported to the client as a tool error result.
struct ToolFailure(String);

impl From<crate::McpError> for ToolFailure {
    fn from(e: crate::McpError) -> Self {
        ToolFailure(e.to_string())
    }
}

/// The MCP server: protocol state and the governor.
pub struct McpServer {
    governor: Governor,
    /// The version agreed by `initialize` (handshake era).
    negotiated: Option<&'static str>,
}

impl McpServer {
    /// A server deciding through this governor.
    pub fn new(governor: Governor) -> Self {
        McpServer {
            governor,
            negotiated: None,
        }
    }

    /// The governor.
    pub fn governor(&mut self) -> &mut Governor {
        &mut self.governor
    }

    /// The version `initialize` agreed on, if any.
    pub fn negotiated(&self) -> Option<&'static str> {
        self.negotiated
    }

    /// Answers one raw message (None for notifications and responses).
    pub fn handle_bytes(&mut self, bytes: &[u8]) -> Option<Value> {
        match jsonrpc::parse(bytes) {
            Ok(m) => self.handle(m),
            Err(answer) => Some(answer),
        }
    }

    /// Answers one message (None for notifications and responses).
    pub fn handle(&mut self, message: Message) -> Option<Value> {
        let (id, method, params) = match message {
            Message::Request { id, method, params } => (id, method, params),
            // Notifications (initialized, cancelled) and stray responses need no answer.
            Message::Notification { .. } | Message::Response { .. } => return None,
        };
        let era = jsonrpc::era(&params);
        if let Era::Unsupported(v) = &era {
            return Some(jsonrpc::unsupported_version(id, v));
        }
        let modern = matches!(era, Era::Modern(_));
        let answer = match method.as_str() {
            "initialize" => {
                let requested = params.get("protocolVersion").and_then(Value::as_str);
                let version = jsonrpc::negotiate(requested);
                self.negotiated = Some(version);
                Ok(json!({
                    "protocolVersion": version,
                    "capabilities": {"tools": {"listChanged": false}},
                    "serverInfo": server_info(),
                    "instructions": INSTRUCTIONS,
                }))
            }
            "server/discover" => Ok(json!({
                "supportedVersions": jsonrpc::MODERN_VERSIONS,
                "capabilities": {"tools": {"listChanged": false}},
                "instructions": INSTRUCTIONS,
                "ttlMs": 0,
                "cacheScope": "private",
            })),
            "ping" => Ok(json!({})),
            "tools/list" => {
                let mut r = json!({"tools": tools()});
                if modern {
                    r["ttlMs"] = json!(0);
                    r["cacheScope"] = json!("private");
                }
                Ok(r)
            }
            "tools/call" => Ok(self.call_tool(&params)),
            other => Err(jsonrpc::error(
                id.clone(),
                jsonrpc::METHOD_NOT_FOUND,
                &format!(
                    "method `{other}` is not served by cavra (it serves tools: tools/list, tools/call)"
                ),
                None,
            )),
        };
        Some(match answer {
            Ok(mut result) => {
                if modern && let Some(obj) = result.as_object_mut() {
                    obj.insert("resultType".into(), json!("complete"));
                    let meta = obj.entry("_meta").or_insert_with(|| json!({}));
                    meta[jsonrpc::META_SERVER_INFO] = server_info();
                }
                jsonrpc::result(id, result)
            }
            Err(error) => error,
        })
    }

    fn call_tool(&mut self, params: &Value) -> Value {
        let name = params.get("name").and_then(Value::as_str).unwrap_or("");
        let args = params
            .get("arguments")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let outcome = if !args.is_object() {
            Err(ToolFailure("`arguments` must be an object".into()))
        } else {
            match name {
                "evaluate_action" => self.evaluate_action(args, false),
                "request_approval" => self.evaluate_action(args, true),
                "explain_decision" => self.explain_decision(args),
                "approval_status" => self.approval_status(&args),
                "list_policies" => Ok(self.list_policies()),
                "validate_policy" => self.validate_policy(&args),
                "session_summary" => self.session_summary(&args),
                "evidence_bundle" => self.evidence_bundle(&args),
                "" => Err(ToolFailure("tools/call needs a tool `name`".into())),
                other => Err(ToolFailure(format!(
                    "cavra has no tool `{other}`; tools/list names them"
                ))),
            }
        };
        match outcome {
            Ok(structured) => json!({
                "content": [{"type": "text", "text": structured.to_string()}],
                "structuredContent": structured,
                "isError": false,
            }),
            Err(ToolFailure(message)) => json!({
                "content": [{"type": "text", "text": message}],
                "isError": true,
            }),
        }
    }

    fn parse_action(args: Value) -> Result<ActionInput, ToolFailure> {
        serde_json::from_value::<ActionInput>(args)
            .map_err(|e| ToolFailure(format!("invalid arguments: {e}")))
    }

    fn evaluate_action(&mut self, args: Value, asking: bool) -> Result<Value, ToolFailure> {
        let input = Self::parse_action(args)?;
        if input.decision_id.is_some() {
            return Err(ToolFailure(
                "invalid arguments: unknown field `decision_id`".into(),
            ));
        }
        let request = input.into_request();
        let tool = if asking {
            "request_approval"
        } else {
            "evaluate_action"
        };
        let governed = self
            .governor
            .decide(request, json!({"via": "mcp serve", "tool": tool}))?;
        let r = governed.record();
        let (proceed, mut message) = governed.verdict();
        let approval = governed.approval();
        if asking {
            message = match (r.decision, approval) {
                (cavra_engine::Decision::Block, _) => format!(
                    "the action is blocked ({}); a block cannot be approved: {}",
                    r.rule_id, r.reason
                ),
                (_, Some(a)) if proceed => format!(
                    "approval {} was granted and is now used for this action",
                    a.id
                ),
                (_, Some(_)) => message,
                _ => format!("no approval is needed: the action is {}", r.decision),
            };
        }
        Ok(json!({
            "decision": r.decision.as_str(),
            "may_proceed": proceed,
            "rule_id": r.rule_id,
            "reason": r.reason,
            "message": message,
            "decision_id": r.decision_id,
            "approval_id": approval.map(|a| a.id.clone()),
            "approver_group": r.approver_group,
            "policy": {"id": r.policy_pack, "version": r.policy_version, "digest": r.policy_digest},
            "matched_rules": r.matched_rules,
            "recorded": true,
        }))
    }

    fn explain_decision(&mut self, args: Value) -> Result<Value, ToolFailure> {
        if let Some(id) = args.get("decision_id").and_then(Value::as_str) {
            if args.as_object().is_some_and(|o| o.len() > 1) {
                return Err(ToolFailure(
                    "give either a decision_id or an action, not both".into(),
                ));
            }
            let stored = self
                .governor
                .store()
                .decision(id)
                .map_err(crate::McpError::from)?
                .ok_or_else(|| ToolFailure(format!("no recorded decision `{id}`")))?;
            let rec = &stored.record;
            return Ok(json!({
                "decision": stored.decision,
                "rule_id": stored.rule_id,
                "reason": rec.get("reason").cloned().unwrap_or(Value::Null),
                "target": rec.get("target").cloned().unwrap_or(Value::Null),
                "action_type": stored.action_type,
                "timestamp": stored.timestamp,
                "policy": {"id": rec.get("policy_pack"), "digest": rec.get("policy_digest")},
                "matched_rules": rec.get("matched_rules").cloned().unwrap_or(json!([])),
                "subjects": [],
                "considered": [],
                "recorded": true,
            }));
        }
        let input = Self::parse_action(args)?;
        let explanation = self.governor.explain(input.into_request())?;
        let r = &explanation.record;
        let subjects: Vec<Value> = explanation
            .normalization
            .subjects
            .iter()
            .map(|s| json!({"describe": s.describe(), "subject": s}))
            .collect();
        Ok(json!({
            "decision": r.decision.as_str(),
            "rule_id": r.rule_id,
            "reason": r.reason,
            "matched_rules": r.matched_rules,
            "subjects": subjects,
            "considered": explanation.considered,
            "recorded": false,
        }))
    }

    fn approval_status(&mut self, args: &Value) -> Result<Value, ToolFailure> {
        let id = args
            .get("approval_id")
            .and_then(Value::as_str)
            .ok_or_else(|| ToolFailure("approval_status needs `approval_id`".into()))?;
        let a = self
            .governor
            .approval(id)?
            .ok_or_else(|| ToolFailure(format!("no approval `{id}`")))?;
        Ok(json!({
            "approval_id": a.id,
            "state": a.state.as_str(),
            "summary": a.summary,
            "approver_group": a.approver_group,
            "requested_at": a.requested_at,
            "expires_at": a.expires_at,
            "decided_by": a.decided_by,
            "reason": a.reason,
            "history": a.history,
        }))
    }

    fn list_policies(&mut self) -> Value {
        let builtin: Vec<Value> = cavra_policy::builtin::builtin_packs()
            .iter()
            .map(|p| json!({"id": p.id, "title": p.title, "description": p.description}))
            .collect();
        json!({"active": self.governor.policy(), "builtin": builtin})
    }

    fn validate_policy(&mut self, args: &Value) -> Result<Value, ToolFailure> {
        let yaml = args.get("yaml").and_then(Value::as_str);
        let path = args.get("path").and_then(Value::as_str);
        let root = self.governor.repo_root().to_path_buf();
        let loaded = match (yaml, path) {
            (Some(text), None) => cavra_policy::load_pack_str(text, "<validate_policy>", &root),
            (None, Some(p)) => {
                let full = inside(&root, p)?;
                cavra_policy::load_pack(&full.to_string_lossy(), &root)
            }
            _ => {
                return Err(ToolFailure(
                    "give exactly one of `yaml` (the pack's text) or `path`".into(),
                ));
            }
        };
        let compiled = match loaded {
            Ok(resolved) => cavra_policy::compile(&resolved).map(|c| (resolved, c)),
            Err(e) => Err(e),
        };
        Ok(match compiled {
            Ok((resolved, c)) => json!({
                "valid": true, "error": null, "line": null, "column": null,
                "id": c.id, "version": c.version, "digest": resolved.digest, "rules": c.rules.len(),
            }),
            Err(e) => json!({
                "valid": false,
                "error": e.to_string(),
                "line": e.location.as_ref().map(|l| l.line),
                "column": e.location.as_ref().map(|l| l.column),
                "id": null, "version": null, "digest": null, "rules": null,
            }),
        })
    }

    fn session_summary(&mut self, args: &Value) -> Result<Value, ToolFailure> {
        let id = args.get("session_id").and_then(Value::as_str);
        Ok(self.governor.session_summary(id)?)
    }

    fn evidence_bundle(&mut self, args: &Value) -> Result<Value, ToolFailure> {
        let root = self.governor.repo_root().to_path_buf();
        let session = args
            .get("session_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let out = match args.get("output").and_then(Value::as_str) {
            Some(p) => inside(&root, p)?,
            None => {
                let stamp = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
                let sid = session.as_deref().unwrap_or(self.governor.session_id());
                let safe: String = sid
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                root.join(".cavra/bundles").join(format!("{safe}-{stamp}"))
            }
        };
        let written = self.governor.evidence_bundle(session.as_deref(), &out)?;
        Ok(json!({
            "dir": written.dir.to_string_lossy(),
            "entries": written.entries,
            "tree_size": written.tree_size,
            "root_hash": written.root_hash,
            "signed_by": written.signed_by,
            "decisions": written.decisions,
            "files": written.files.len(),
        }))
    }
}

fn server_info() -> Value {
    json!({"name": SERVER_NAME, "version": env!("CARGO_PKG_VERSION")})
}

/// `rel` resolved inside `root`; absolute paths and `..` that would leave it are refused, so
/// an agent cannot read or write elsewhere through these tools.
fn inside(root: &Path, rel: &str) -> Result<PathBuf, ToolFailure> {
    let p = Path::new(rel);
    let candidate = if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    };
    let mut out = PathBuf::new();
    for c in candidate.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    if !out.starts_with(root) {
        return Err(ToolFailure(format!(
            "`{rel}` is outside the repository; give a path inside it"
        )));
    }
    Ok(out)
}

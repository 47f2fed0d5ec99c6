//! The sandbox: a pack (built-in, the demo's, one of the tenant's, or pasted) and an input (a
//! shell line, an action, a request as the API takes it, or an agent's hook payload), decided
//! by the engine exactly as the service's decide step does, and shown with the normalisation
//! and every rule considered. Nothing is written: no decision, no approval, no log entry; the
//! page reads the tenant's packs and MCP registry only. Every input is in the query string, so
//! a result is shared by its URL.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cavra_agents::{Agent, Context, Mapping};
use cavra_engine::paths::NoSymlinks;
use cavra_engine::registry::McpRegistry;
use cavra_engine::{ActionType, Decision, Env, Explanation, Request};
use cavra_policy::{CompiledPack, PolicyError};
use cavra_tenant_store::Configuration;
use maud::{Markup, html};
use serde::Deserialize;

use crate::layout::{self, Section, badge};
use crate::login::url_encode;
use crate::session::Signed;
use crate::{Console, PREFIX};

/// The largest pasted pack, in bytes.
pub const PACK_BYTES: usize = 32 * 1024;
/// The longest shell line, in bytes (the service's own bound when it is lower): a line must
/// fit in a URL to be shared.
pub const LINE_BYTES: usize = 16 * 1024;
/// The largest hook payload or JSON request, in bytes.
pub const PAYLOAD_BYTES: usize = 16 * 1024;
/// The pack reference of the demo's policy.
pub const DEMO_PACK: &str = "demo";
/// The pack reference meaning "the pasted document".
pub const PASTED: &str = "pasted";
/// The folder hook payloads and actions are resolved against when they name none.
pub const ROOT: &str = "/repo";

/// The sandbox's query: every field optional, so a bare `/console/sandbox` is the empty form.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Input {
    /// `builtin:<id>`, `demo`, a tenant pack's digest, or `pasted`.
    pub pack: Option<String>,
    /// The pasted pack's YAML.
    pub document: Option<String>,
    /// Which input decides: `shell`, `action`, `request` or `hook`.
    pub input: Option<String>,
    /// A shell line.
    pub line: Option<String>,
    /// An action type.
    pub action: Option<String>,
    /// Its target.
    pub target: Option<String>,
    /// Branch.
    pub branch: Option<String>,
    /// Git operation.
    pub operation: Option<String>,
    /// MCP server.
    pub server: Option<String>,
    /// MCP tool.
    pub tool: Option<String>,
    /// Repository (org/name).
    pub repository: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// A request as JSON, as `POST /v1/decisions` takes its `request`.
    pub request: Option<String>,
    /// The agent of a hook payload.
    pub agent: Option<String>,
    /// A hook payload (JSON).
    pub payload: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.trim().is_empty())
}

impl Input {
    /// The query string that reproduces this input (empty fields left out).
    pub fn query(&self) -> String {
        [
            ("pack", &self.pack),
            ("document", &self.document),
            ("input", &self.input),
            ("line", &self.line),
            ("action", &self.action),
            ("target", &self.target),
            ("branch", &self.branch),
            ("operation", &self.operation),
            ("server", &self.server),
            ("tool", &self.tool),
            ("repository", &self.repository),
            ("environment", &self.environment),
            ("request", &self.request),
            ("agent", &self.agent),
            ("payload", &self.payload),
        ]
        .iter()
        .filter_map(|(k, v)| given(v).map(|v| format!("{k}={}", url_encode(v))))
        .collect::<Vec<_>>()
        .join("&")
    }

    fn kind(&self) -> &str {
        given(&self.input).unwrap_or("shell")
    }

    fn is_empty(&self) -> bool {
        match self.kind() {
            "action" => given(&self.action).is_none() && given(&self.target).is_none(),
            "request" => given(&self.request).is_none(),
            "hook" => given(&self.payload).is_none(),
            _ => given(&self.line).is_none(),
        }
    }
}

/// A scenario: a named input with the pack it is shown under.
pub struct Scenario {
    /// What it shows.
    pub title: String,
    /// Where it comes from.
    pub source: &'static str,
    /// Its input.
    pub input: Input,
}

/// The built-in scenarios: the tool calls of `cavra demo` (as Claude Code hook payloads,
/// under the demo's policy) and the README's `cavra evaluate` examples (under
/// `cavra-baseline`).
pub fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    for step in cavra_validate::demo::steps(ROOT) {
        let payload = serde_json::json!({
            "hook_event_name": "PreToolUse",
            "session_id": "sandbox",
            "cwd": ROOT,
            "tool_name": step.tool,
            "tool_input": step.input,
        });
        out.push(Scenario {
            title: format!("demo: {}", step.title),
            source: "cavra demo",
            input: Input {
                pack: Some(DEMO_PACK.into()),
                input: Some("hook".into()),
                agent: Some("claude-code".into()),
                payload: serde_json::to_string_pretty(&payload).ok(),
                ..Input::default()
            },
        });
    }
    type Example = (
        &'static str,
        ActionType,
        &'static str,
        &'static [(&'static str, &'static str)],
    );
    let readme: [Example; 6] = [
        ("a secret read", ActionType::ReadFile, ".env", &[]),
        (
            "make deploy",
            ActionType::ExecuteCommand,
            "make deploy",
            &[],
        ),
        ("a source write", ActionType::WriteFile, "src/lib.rs", &[]),
        (
            "a direct push to main",
            ActionType::GitOperation,
            "origin/main",
            &[("operation", "push")],
        ),
        (
            "an MCP tool call",
            ActionType::McpToolCall,
            "x",
            &[("server", "github"), ("tool", "create_issue")],
        ),
        (
            "a paste site",
            ActionType::NetworkRequest,
            "https://pastebin.com/raw/x",
            &[],
        ),
    ];
    for (title, action, target, extra) in readme {
        let field = |k: &str| {
            extra
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        let input = if action == ActionType::ExecuteCommand {
            Input {
                input: Some("shell".into()),
                line: Some(target.into()),
                ..Input::default()
            }
        } else {
            Input {
                input: Some("action".into()),
                action: Some(action.as_str().into()),
                target: Some(target.into()),
                operation: field("operation"),
                server: field("server"),
                tool: field("tool"),
                ..Input::default()
            }
        };
        out.push(Scenario {
            title: format!("README: {title}"),
            source: "README quick tour",
            input: Input {
                pack: Some("builtin:cavra-baseline".into()),
                ..input
            },
        });
    }
    out
}

/// Why an input cannot be decided; shown above the form with status 422.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The pack does not load; the place when known.
    Pack {
        /// What is wrong.
        message: String,
        /// 1-based line and column.
        at: Option<(usize, usize)>,
        /// The line it points at.
        excerpt: Option<String>,
    },
    /// The input is malformed or too large.
    Input(String),
}

impl Refusal {
    fn pack(e: PolicyError, text: &str) -> Refusal {
        let at = e.location.as_ref().map(|l| (l.line, l.column));
        let excerpt =
            at.and_then(|(line, _)| text.lines().nth(line.saturating_sub(1)).map(str::to_string));
        let mut message = e.message.clone();
        if let Some(help) = &e.help {
            message.push_str(&format!(" ({help})"));
        }
        Refusal::Pack {
            message,
            at,
            excerpt,
        }
    }
}

/// The pack a reference names, and its label. Reads the tenant's packs; never caches a
/// pasted one (the service's cache would grow with every paste).
async fn pack_of(
    console: &Console,
    tenant: &str,
    input: &Input,
) -> Result<(Arc<CompiledPack>, String), Refusal> {
    let reference = given(&input.pack).unwrap_or("builtin:cavra-baseline");
    if reference == PASTED {
        let text = input.document.as_deref().unwrap_or_default();
        return compile_pasted(text).map(|p| {
            let label = format!("pasted pack {}", p.document.metadata.id);
            (Arc::new(p), label)
        });
    }
    if reference == DEMO_PACK {
        return compile_pasted(cavra_validate::demo::DEMO_POLICY)
            .map(|p| (Arc::new(p), "the demo's policy (cavra-demo)".to_string()));
    }
    if let Some(builtin) = cavra_server::packs::builtin_reference(reference) {
        return console
            .state
            .packs
            .builtin(&builtin)
            .map(|p| (p, format!("built-in {builtin}")))
            .map_err(Refusal::Input);
    }
    if cavra_server::api::check_id(reference).is_err() {
        return Err(Refusal::Input(format!(
            "no pack `{reference}`: give a built-in id, `demo`, `pasted`, or the digest of one of the tenant's packs"
        )));
    }
    // Another tenant's digest reads as one that does not exist.
    match console.state.db.pack(tenant, reference).await {
        Ok(Some(stored)) => console
            .state
            .packs
            .uploaded(&stored.digest, &stored.document)
            .map(|p| {
                (
                    p,
                    format!("the tenant's pack {} ({})", stored.pack_id, stored.digest),
                )
            })
            .map_err(Refusal::Input),
        Ok(None) => Err(Refusal::Input(format!(
            "no pack `{reference}` in this tenant"
        ))),
        Err(e) => Err(Refusal::Input(e.to_string())),
    }
}

/// A pasted pack compiled as the service compiles an upload: inheriting only built-in packs.
pub fn compile_pasted(text: &str) -> Result<CompiledPack, Refusal> {
    if text.trim().is_empty() {
        return Err(Refusal::Input(
            "paste a pack's YAML, or pick another pack".into(),
        ));
    }
    if text.len() > PACK_BYTES {
        return Err(Refusal::Input(format!(
            "the pasted pack has {} bytes; the sandbox takes at most {PACK_BYTES}",
            text.len()
        )));
    }
    let document =
        cavra_policy::parse_document(text, "pasted").map_err(|e| Refusal::pack(e, text))?;
    for parent in &document.metadata.inherits {
        if cavra_server::packs::builtin_reference(parent).is_none() {
            return Err(Refusal::Input(format!(
                "metadata.inherits: `{parent}` is not a built-in pack; packs on the service may inherit only built-in packs"
            )));
        }
    }
    let resolved =
        cavra_policy::load_pack_str(text, "pasted", Path::new("/nonexistent-cavra-sandbox"))
            .map_err(|e| Refusal::pack(e, text))?;
    cavra_policy::compile(&resolved).map_err(|e| Refusal::pack(e, text))
}

fn bounded<'a>(what: &str, v: &'a Option<String>, max: usize) -> Result<&'a str, Refusal> {
    let v = given(v).ok_or_else(|| Refusal::Input(format!("{what} is empty")))?;
    if v.len() > max {
        return Err(Refusal::Input(format!(
            "{what} has {} bytes; the sandbox takes at most {max}",
            v.len()
        )));
    }
    Ok(v)
}

/// What the input asks: the requests to decide, or a decision that needs no evaluation (a
/// hook payload's harmless, unknown or malformed tool).
pub enum Asked {
    /// Decide these; the strictest decides.
    Requests(Vec<Request>),
    /// Decided without evaluation, as the hook decides it.
    Plain {
        /// The decision.
        decision: Option<Decision>,
        /// The hook's rule id for it.
        rule_id: &'static str,
        /// Why.
        reason: String,
    },
}

/// The requests an input names, checked against the service's request limits.
pub fn requests(console: &Console, pack: &CompiledPack, input: &Input) -> Result<Asked, Refusal> {
    let limits = &console.state.config.limits;
    let opt = |v: &Option<String>| given(v).map(|s| s.trim().to_string());
    let mut list = match input.kind() {
        "shell" => {
            let line = bounded(
                "the shell line",
                &input.line,
                limits.command_bytes.min(LINE_BYTES),
            )?;
            let mut r = Request::new(ActionType::ExecuteCommand, line);
            r.repo_root = Some(ROOT.into());
            r.cwd = Some(ROOT.into());
            vec![r]
        }
        "action" => {
            let word = given(&input.action).unwrap_or("read_file");
            let action: ActionType = word
                .parse()
                .map_err(|_| Refusal::Input(format!("`{word}` is not an action type")))?;
            let target = given(&input.target).unwrap_or_default();
            let mut r = Request::new(action, target);
            r.branch = opt(&input.branch);
            r.operation = opt(&input.operation);
            r.server = opt(&input.server);
            r.tool = opt(&input.tool);
            r.repository = opt(&input.repository);
            r.environment = opt(&input.environment);
            r.repo_root = Some(ROOT.into());
            r.cwd = Some(ROOT.into());
            vec![r]
        }
        "request" => {
            let text = bounded("the request", &input.request, PAYLOAD_BYTES)?;
            let r: Request = serde_json::from_str(text).map_err(|e| {
                Refusal::Input(format!(
                    "the request is not a request as POST /v1/decisions takes it: line {}, column {}: {e}",
                    e.line(),
                    e.column()
                ))
            })?;
            vec![r]
        }
        "hook" => {
            let word = given(&input.agent).unwrap_or("claude-code");
            let agent: Agent = word
                .parse()
                .map_err(|e: cavra_agents::AdapterError| Refusal::Input(e.to_string()))?;
            let text = bounded("the hook payload", &input.payload, PAYLOAD_BYTES)?;
            let payload: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                Refusal::Input(format!(
                    "the hook payload is not JSON: line {}, column {}: {e}",
                    e.line(),
                    e.column()
                ))
            })?;
            let event = cavra_agents::parse_event(agent, &payload)
                .map_err(|e| Refusal::Input(e.to_string()))?;
            if !event.kind.decides() {
                return Ok(Asked::Plain {
                    decision: None,
                    rule_id: "(no decision)",
                    reason: format!(
                        "`{}` is not an event cavra decides; the hook answers it neutrally",
                        event.event_name
                    ),
                });
            }
            let cwd = event.cwd.clone().unwrap_or_else(|| ROOT.to_string());
            let mut ctx = Context {
                cwd: cwd.clone(),
                repo_root: cwd,
                home: None,
                known_mcp_servers: Vec::new(),
            };
            if cavra_agents::needs_known_servers(&event) {
                ctx.known_mcp_servers = pack.document.mcp.allowed_servers.clone();
            }
            match cavra_agents::map_tool(&event, &ctx) {
                Mapping::Requests(mut list) => {
                    for r in &mut list {
                        r.session_id.clone_from(&event.session_id);
                        r.agent_id = Some(agent.as_str().to_string());
                    }
                    let derived: Vec<Request> = list
                        .iter()
                        .filter(|r| r.action == ActionType::McpToolCall)
                        .flat_map(cavra_mcp::catalogue::derived_requests)
                        .collect();
                    list.extend(derived);
                    list
                }
                Mapping::Harmless { reason } => {
                    return Ok(Asked::Plain {
                        decision: Some(Decision::Allow),
                        rule_id: "agent.harmless_tool",
                        reason,
                    });
                }
                Mapping::Unknown { reason } => {
                    let decision = pack.document.agents.unknown_tool_decision();
                    return Ok(Asked::Plain {
                        decision: Some(decision),
                        rule_id: "agents.unknown_tool",
                        reason: format!(
                            "{reason}; the pack's agents.unknown_tool decides such calls ({decision})"
                        ),
                    });
                }
                Mapping::Invalid { reason } => {
                    return Ok(Asked::Plain {
                        decision: Some(Decision::Block),
                        rule_id: "agents.invalid_input",
                        reason,
                    });
                }
            }
        }
        other => {
            return Err(Refusal::Input(format!(
                "`{other}` is not an input kind (shell, action, request or hook)"
            )));
        }
    };
    for r in &mut list {
        // The sandbox decides for nobody's tenant and asks no approver.
        r.tenant = None;
        limits
            .check_request(r)
            .map_err(|p| Refusal::Input(p.detail.clone()))?;
    }
    Ok(Asked::Requests(list))
}

/// Every request explained under `pack` at `timestamp`, and which decides (the strictest, the
/// first on a tie, as the hook and the service take it).
pub fn explain_all(
    pack: &CompiledPack,
    requests: &[Request],
    registry: Option<&McpRegistry>,
    timestamp: &str,
) -> (Vec<Explanation>, usize) {
    let explained: Vec<Explanation> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let id = format!("sandbox-{}", i + 1);
            let env = Env {
                timestamp,
                decision_id: &id,
                resolver: &NoSymlinks,
            };
            cavra_engine::explain_with_registry(pack, r, &env, registry)
        })
        .collect();
    let deciding = cavra_runtime::strictest(&explained, |e| e.record.decision).unwrap_or(0);
    (explained, deciding)
}

/// `GET /console/sandbox`.
pub async fn page(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Query(input): Query<Input>,
) -> Response {
    let tenant = signed.caller.tenant().to_string();
    let packs = console.state.db.packs(&tenant).await.unwrap_or_default();
    let outcome = if input.is_empty() {
        None
    } else {
        Some(run(&console, &tenant, &input).await)
    };
    let status = match &outcome {
        Some(Err(_)) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    let body = html! {
        h1 { "Sandbox" }
        p.muted { "Decides an input under a pack exactly as the service's decide step does, and shows how it was understood. Nothing is recorded: no decision, no approval, no evidence entry. The URL holds every input, so a result is shared by its link; do not paste secrets." }
        @match &outcome {
            Some(Err(refusal)) => (refusal_box(refusal)),
            Some(Ok(shown)) => (shown.clone()),
            None => {},
        }
        (form(&input, &packs))
        h2 #scenarios { "Scenarios" }
        ul.scenarios {
            @for s in scenarios() {
                li { a href={ (PREFIX) "/sandbox?" (s.input.query()) "#result" } { (s.title) } " " span.muted { "(" (s.source) ")" } }
            }
        }
    };
    (
        status,
        layout::page(&signed, Section::Sandbox, "Sandbox", body),
    )
        .into_response()
}

async fn run(console: &Console, tenant: &str, input: &Input) -> Result<Markup, Refusal> {
    let (pack, label) = pack_of(console, tenant, input).await?;
    let asked = requests(console, &pack, input)?;
    let timestamp = cavra_server::now_text();
    let share = format!("{PREFIX}/sandbox?{}#result", input.query());
    let list = match asked {
        Asked::Requests(list) => list,
        Asked::Plain {
            decision,
            rule_id,
            reason,
        } => {
            return Ok(html! {
                section #result aria-labelledby="result-h" {
                    h2 #result-h { "Decision" }
                    dl.facts {
                        dt { "Pack" } dd { (label) }
                        dt { "Decision" } dd { @match decision { Some(d) => (badge(d.as_str())), None => span.muted { "none" } } }
                        dt { "Rule" } dd { code { (rule_id) } }
                        dt { "Reason" } dd { (reason) }
                    }
                    p.muted { "The hook decides this tool call without the engine: nothing to normalise." }
                    p { a href=(share) { "Link to this result" } }
                }
            });
        }
    };
    let registry = if list.iter().any(|r| r.action == ActionType::McpToolCall) {
        cavra_server::api::decisions::mcp_registry(&console.state, tenant)
            .await
            .map_err(|p| Refusal::Input(p.detail))?
    } else {
        None
    };
    let (explained, deciding) = explain_all(&pack, &list, registry.as_ref(), &timestamp);
    Ok(result(&label, &list, &explained, deciding, &share))
}

fn refusal_box(r: &Refusal) -> Markup {
    html! {
        div.error #result role="alert" {
            @match r {
                Refusal::Pack { message, at, excerpt } => {
                    p { strong { "The pack does not load" } @if let Some((l, c)) = at { ": line " (l) ", column " (c) } }
                    p { (message) }
                    @if let (Some(text), Some((_, c))) = (excerpt, at) {
                        pre.mono { (text) "\n" (" ".repeat(c.saturating_sub(1))) "^" }
                    }
                }
                Refusal::Input(message) => {
                    p { strong { "The input cannot be decided" } }
                    p { (message) }
                }
            }
        }
    }
}

fn result(
    label: &str,
    requests: &[Request],
    explained: &[Explanation],
    deciding: usize,
    share: &str,
) -> Markup {
    let top = &explained[deciding].record;
    html! {
        section #result aria-labelledby="result-h" {
            h2 #result-h { "Decision" }
            dl.facts {
                dt { "Pack" } dd { (label) " " code { (top.policy_digest) } }
                dt { "Decision" } dd { (badge(top.decision.as_str())) }
                dt { "Rule" } dd { code { (top.rule_id) } }
                dt { "Severity" } dd { (top.severity.as_str()) }
                dt { "Reason" } dd { (top.reason) }
                @if let Some(g) = &top.approver_group { dt { "Approver group" } dd { (g) } }
                @if requests.len() > 1 { dt { "Requests" } dd { (requests.len()) " decided; request " (deciding + 1) " is the strictest and decides" } }
            }
            p { a href=(share) { "Link to this result" } }
            @for (i, (r, e)) in requests.iter().zip(explained).enumerate() {
                h3 { "Request " (i + 1) ": " (r.action.as_str()) " " code { (r.target) } " " (badge(e.record.decision.as_str())) }
                h4 { "Normalisation" }
                table {
                    caption.muted { "What the request was understood as; each subject is matched on its own" }
                    thead { tr { th.num scope="col" { "#" } th scope="col" { "Subject" } } }
                    tbody {
                        @for (n, s) in e.normalization.subjects.iter().enumerate() {
                            tr { td.num { (n) } td { (s.describe()) } }
                        }
                    }
                }
                @if let Some(a) = &e.normalization.analysis {
                    @if !a.problems.is_empty() {
                        p { "Shell analysis problems: " (a.problems.join("; ")) }
                    }
                }
                h4 { "Rules considered" }
                @if e.considered.is_empty() {
                    p.muted { "No rule applies to these subjects' action types; the pack's defaults decided." }
                } @else {
                    table {
                        caption.muted { "Every rule for a subject's action type, and what came of it" }
                        thead { tr { th scope="col" { "Rule" } th.num scope="col" { "Subject" } th scope="col" { "Outcome" } } }
                        tbody {
                            @for c in &e.considered {
                                tr { td { code { (c.rule_id) } } td.num { (c.subject) } td { (c.outcome) } }
                            }
                        }
                    }
                }
                h4 { "Rules matched" }
                (crate::approvals::explain(&serde_json::to_value(&e.record).unwrap_or_default()))
                details {
                    summary { "The request and the full explanation (JSON)" }
                    pre { (serde_json::to_string_pretty(&serde_json::json!({"request": r, "explanation": e})).unwrap_or_default()) }
                }
            }
        }
    }
}

fn form(input: &Input, packs: &[cavra_tenant_store::StoredPack]) -> Markup {
    let pack = given(&input.pack).unwrap_or("builtin:cavra-baseline");
    let kind = input.kind();
    let action = given(&input.action).unwrap_or("read_file");
    let agent = given(&input.agent).unwrap_or("claude-code");
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let field = |id: &str, name: &str, label: &str, v: &Option<String>| {
        html! { div { label for=(id) { (label) } input #(id) type="text" name=(name) value=(text(v)); } }
    };
    html! {
        form.stack method="get" action={ (PREFIX) "/sandbox#result" } aria-label="Sandbox input" {
            fieldset {
                legend { "Pack" }
                label for="s-pack" { "Decide under" }
                select #s-pack name="pack" {
                    @for p in cavra_policy::builtin::builtin_packs() {
                        @let r = format!("builtin:{}", p.id);
                        option value=(r) selected[pack == r] { "built-in " (p.id) }
                    }
                    option value=(DEMO_PACK) selected[pack == DEMO_PACK] { "the demo's policy" }
                    @for p in packs {
                        option value=(p.digest) selected[pack == p.digest] { "tenant pack " (p.pack_id) " " (crate::registry::pack_version(&p.document).unwrap_or("")) " (" (p.digest.get(..19).unwrap_or(&p.digest)) "…)" }
                    }
                    option value=(PASTED) selected[pack == PASTED] { "the pack pasted below" }
                }
                label for="s-document" { "Pasted pack (YAML, at most " (PACK_BYTES / 1024) " KiB; may inherit built-in packs)" }
                textarea #s-document name="document" rows="6" spellcheck="false" { (text(&input.document)) }
            }
            fieldset {
                legend { "Input" }
                div role="radiogroup" aria-label="Input kind" {
                    @for (k, l) in [("shell", "Shell line"), ("action", "Action"), ("request", "Request (JSON)"), ("hook", "Hook payload")] {
                        label.inline { input type="radio" name="input" value=(k) checked[kind == k]; " " (l) }
                    }
                }
                (field("s-line", "line", "Shell line", &input.line))
                div {
                    label for="s-action" { "Action" }
                    select #s-action name="action" {
                        @for a in ActionType::ALL {
                            option value=(a.as_str()) selected[action == a.as_str()] { (a.as_str()) }
                        }
                    }
                }
                (field("s-target", "target", "Target (path, command, git target, URL)", &input.target))
                (field("s-operation", "operation", "Git operation", &input.operation))
                (field("s-branch", "branch", "Branch", &input.branch))
                (field("s-server", "server", "MCP server", &input.server))
                (field("s-tool", "tool", "MCP tool", &input.tool))
                (field("s-repository", "repository", "Repository (org/name)", &input.repository))
                (field("s-environment", "environment", "Environment", &input.environment))
                label for="s-request" { "Request (JSON, as POST /v1/decisions takes its request)" }
                textarea #s-request name="request" rows="4" spellcheck="false" { (text(&input.request)) }
                div {
                    label for="s-agent" { "Agent of the hook payload" }
                    select #s-agent name="agent" {
                        @for a in Agent::ALL {
                            option value=(a.as_str()) selected[agent == a.as_str()] { (a.as_str()) }
                        }
                    }
                }
                label for="s-payload" { "Hook payload (JSON, as the agent sends it)" }
                textarea #s-payload name="payload" rows="6" spellcheck="false" { (text(&input.payload)) }
            }
            button type="submit" { "Decide" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_pack_is_refused_with_its_line_and_column() {
        let text =
            "metadata: {id: p, title: p, version: '1'}\nfilesystem:\n  block_reed: [\".env\"]\n";
        match compile_pasted(text) {
            Err(Refusal::Pack {
                at,
                excerpt,
                message,
            }) => {
                assert_eq!(at.map(|a| a.0), Some(3), "{message}");
                assert_eq!(excerpt.as_deref(), Some("  block_reed: [\".env\"]"));
            }
            Err(other) => panic!("not a located pack error: {other:?}"),
            Ok(_) => panic!("a misspelt key loads"),
        }
        let big = format!(
            "metadata: {{id: p, title: p, version: '1'}}\n#{}\n",
            "x".repeat(PACK_BYTES)
        );
        assert!(matches!(compile_pasted(&big), Err(Refusal::Input(m)) if m.contains("at most")));
        let inherits = "metadata: {id: p, title: p, version: '1', inherits: [../other.yaml]}\n";
        assert!(
            matches!(compile_pasted(inherits), Err(Refusal::Input(m)) if m.contains("built-in"))
        );
    }

    #[test]
    fn the_query_round_trips_through_the_form_decoder() {
        let input = Input {
            pack: Some(PASTED.into()),
            document: Some("a: b & c\n#x=y".into()),
            input: Some("shell".into()),
            line: Some("rm -rf / && echo 'ok'".into()),
            ..Input::default()
        };
        let back: Input = serde_urlencoded_like(&input.query());
        assert_eq!(back.document, input.document);
        assert_eq!(back.line, input.line);
        assert_eq!(back.pack, input.pack);
        assert_eq!(back.target, None);
    }

    fn serde_urlencoded_like(q: &str) -> Input {
        let pairs: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect();
        serde_json::from_value(serde_json::to_value(pairs).unwrap()).unwrap()
    }

    #[test]
    fn the_demo_scenarios_decide_as_the_demo_says() {
        let pack = compile_pasted(cavra_validate::demo::DEMO_POLICY).unwrap();
        let ts = "2026-01-01T00:00:00Z";
        let decide = |line: &str| {
            let mut r = Request::new(ActionType::ExecuteCommand, line);
            r.cwd = Some(ROOT.into());
            r.repo_root = Some(ROOT.into());
            let (e, i) = explain_all(&pack, &[r], None, ts);
            e[i].record.decision
        };
        assert_eq!(decide("npm test"), Decision::Allow);
        assert_eq!(
            decide("terraform plan && terraform apply -auto-approve"),
            Decision::Block
        );
        assert!(scenarios().len() >= 13);
    }
}

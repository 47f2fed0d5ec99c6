//! A tool call about to run (PreToolUse, PermissionRequest): mapped to requests, decided by the
//! runtime's governor, and answered in the agent's format. Calls that need no evaluation (a
//! harmless, unknown or malformed tool) are recorded as plain decisions.

use crate::answer::{LoadedPack, Resources};
use crate::options::{ApprovalMode, HookEnv, HookOptions, ServerFallback};
use cavra_agents::{Agent, Answer, Context, HookEvent, Mapping, Verdict};
use cavra_engine::{ActionType, Decision, DecisionRecord, Request};
use cavra_runtime::decide::{ApprovalNote, Call, Fallback, Governor, Service};
use cavra_runtime::local::Ask;
use cavra_runtime::record::{Caller, Context as StoredContext};
use cavra_runtime::repo::FsResolver;
use cavra_store::Store;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

pub(crate) fn pre_tool_use(
    args: &HookOptions,
    env: &HookEnv,
    res: &mut dyn Resources,
    event: &HookEvent,
    ctx: &Context,
    repo_root: &Path,
) -> Result<Answer, String> {
    let (store, loaded) = res.store_and_policy(args, env, repo_root);
    let loaded = loaded?;
    let store = store?;
    let (pack, resolved) = (&loaded.compiled, &loaded.resolved);
    // A flattened MCP tool name that reads more than one way is split by the servers cavra
    // knows: the registry's and the pack's. Loaded only for such names.
    let known;
    let ctx = if cavra_agents::needs_known_servers(event) {
        let mut with_servers = ctx.clone();
        with_servers.known_mcp_servers = known_mcp_servers(store, pack)?;
        known = with_servers;
        &known
    } else {
        ctx
    };
    let mapping = cavra_agents::map_tool(event, ctx);
    let now = time::OffsetDateTime::now_utc();
    let timestamp = cavra_store::format_time(now).map_err(|e| e.to_string())?;
    let caller = caller(event);
    let plain = |decision: Decision, rule_id: &'static str, reason: String| Plain {
        decision,
        rule_id,
        reason,
    };
    // A call no request stands for is decided by a built-in rule and recorded as one: a
    // harmless tool (no decision shown to the agent), an unknown tool (never allowed
    // silently: the pack's agents.unknown_tool decides whether a person approves it or it is
    // blocked) and input that cannot be judged.
    let (decided, harmless) = match mapping {
        Mapping::Requests(r) => (Ok(r), false),
        Mapping::Harmless { reason } => (
            Err(plain(Decision::Allow, "agent.harmless_tool", reason)),
            true,
        ),
        Mapping::Unknown { reason } => {
            let decision = pack.document.agents.unknown_tool_decision();
            let reason = format!(
                "{reason}; the pack's agents.unknown_tool decides such calls ({decision}); report the tool, or deny it in the agent's own settings"
            );
            (Err(plain(decision, "agents.unknown_tool", reason)), false)
        }
        Mapping::Invalid { reason } => (
            Err(plain(Decision::Block, "agents.invalid_input", reason)),
            false,
        ),
    };
    let requests = match decided {
        Ok(requests) => requests,
        Err(p) => {
            let record = record_plain(store, &loaded, event, &caller, &timestamp, p)?;
            let verdict = if harmless {
                Verdict::NoDecision
            } else {
                cavra_agents::verdict_for(&record)
            };
            return Ok(cavra_agents::render(args.agent, event, &verdict));
        }
    };

    let branch = cavra_runtime::repo::current_branch(repo_root);
    let mut requests = requests;
    for request in &mut requests {
        request.session_id = event.session_id.clone();
        if request.branch.is_none() {
            request.branch.clone_from(&branch);
        }
        request.agent_id = Some(args.agent.as_str().to_string());
    }
    // An MCP call's arguments are requests too (the filesystem server's path, the fetch
    // server's URL, …), decided with the call (17.2).
    let derived: Vec<Request> = requests
        .iter()
        .filter(|r| r.action == ActionType::McpToolCall)
        .flat_map(cavra_mcp::catalogue::derived_requests)
        .collect();
    requests.extend(derived);
    // A content search over a folder reads the protected files inside it too (15.6): Claude
    // Code's Grep is rewritten to leave them out, any other search is judged by them as well.
    let mut excluded: Option<(Value, Vec<String>)> = None;
    if let Some(search) = cavra_agents::folder_search(event, ctx)
        && let Some(template) = requests.first()
    {
        let protected = protected_in_search(pack, &search, ctx, template, &timestamp);
        if !protected.is_empty() {
            let globs: Vec<String> = protected.iter().map(|(g, _)| g.clone()).collect();
            match cavra_agents::exclude_from_search(event, &search, &globs) {
                Some(input) => excluded = Some((input, globs)),
                None => requests.extend(protected.into_iter().map(|(_, r)| r)),
            }
        }
    }
    let service = args
        .server
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|base| Service {
            base: base.to_string(),
            token: env.var("CAVRA_TOKEN").map(str::to_string),
            fallback: match args.server_fallback {
                ServerFallback::Local => Fallback::Local,
                ServerFallback::Deny => Fallback::Deny,
            },
            timeout: Duration::from_secs(3),
        });
    let context = context(event);
    let call = Call {
        caller: &caller,
        context: &context,
        requested_by: requested_by(args.agent, event),
        approval_ttl: Duration::from_secs(args.approval_ttl.saturating_mul(60)),
        ask: match args.approval_mode {
            ApprovalMode::Store => Ask::Approver,
            // The question put to the person at the agent's prompt is recorded too, where the
            // agent's answer can carry one (Codex's cannot: it is a deny there).
            ApprovalMode::Ask if cavra_agents::supports_ask(args.agent, &event.event_name) => {
                Ask::AgentPrompt {
                    tool_use_id: event.tool_use_id.clone(),
                }
            }
            ApprovalMode::Ask => Ask::Nowhere,
        },
        service: service.as_ref(),
    };
    let mut governor = Governor {
        store: &mut *store,
        pack,
        resolved,
        resolver: &FsResolver,
    };
    let governed = governor
        .decide(requests, &call, now, |_| {})
        .map_err(|e| e.to_string())?;
    if let Some(why) = &governed.fell_back {
        eprintln!("cavra hook: {why}; deciding with the local policy");
    }
    // In ask mode a pending approval of the service's is the person's to answer at the agent.
    let from_service = matches!(governed.approval, ApprovalNote::Service { .. });
    let verdict = match governed.approval_verdict() {
        Some(_) if from_service && args.approval_mode != ApprovalMode::Store => {
            cavra_agents::verdict_for(governed.record())
        }
        Some((true, message)) => Verdict::Allow(message),
        Some((false, message)) => Verdict::Deny(message),
        None => cavra_agents::verdict_for(governed.record()),
    };
    if !from_service
        && let Some((input, globs)) = excluded
        && matches!(
            verdict,
            Verdict::NoDecision | Verdict::Allow(_) | Verdict::Warn(_)
        )
    {
        let reason = format!(
            "cavra: the search leaves out the protected files it would read ({}); recorded",
            globs.join(", ")
        );
        record_plain(
            store,
            &loaded,
            event,
            &caller,
            &timestamp,
            plain(
                Decision::Allow,
                "agents.search_excludes_protected",
                reason.clone(),
            ),
        )?;
        return Ok(cavra_agents::render_rewritten(&reason, &input));
    }
    Ok(cavra_agents::render(args.agent, event, &verdict))
}

/// Who calls, as stored beside the hook's records.
fn caller(event: &HookEvent) -> Caller {
    Caller {
        agent: event.agent.as_str().to_string(),
        session_id: event.session_id.clone(),
        cwd: event.cwd.clone(),
        tool_use_id: event.tool_use_id.clone(),
    }
}

/// What the hook stores beside each record: the tool's name, call id and input.
fn context(event: &HookEvent) -> StoredContext {
    vec![
        ("tool_name".into(), Value::String(event.tool_name.clone())),
        (
            "tool_use_id".into(),
            event
                .tool_use_id
                .clone()
                .map(Value::String)
                .unwrap_or(Value::Null),
        ),
        ("tool_input".into(), event.tool_input.clone()),
    ]
}

/// A decision the hook makes without evaluating a request.
struct Plain {
    decision: Decision,
    rule_id: &'static str,
    reason: String,
}

/// Records a decision that needed no evaluation (a harmless or an unknown tool, bad input).
fn record_plain(
    store: &mut Store,
    loaded: &LoadedPack,
    event: &HookEvent,
    caller: &Caller,
    timestamp: &str,
    plain: Plain,
) -> Result<DecisionRecord, String> {
    let pack = &loaded.compiled;
    cavra_runtime::record::remember_policy(store, &loaded.resolved, timestamp)
        .map_err(|e| e.to_string())?;
    let (request, record) = cavra_runtime::record::plain_record(
        pack,
        caller,
        cavra_runtime::record::Plain {
            decision: plain.decision,
            rule_id: plain.rule_id,
            reason: &plain.reason,
            target: format!("tool {}", event.tool_name),
            arguments: event.tool_input.clone(),
            correlation_id: event.tool_use_id.clone().unwrap_or_default(),
        },
        timestamp,
    );
    cavra_runtime::record::record_decision(
        store,
        pack.redactor(),
        caller,
        &context(event),
        &request,
        &record,
        false,
    )
    .map_err(|e| e.to_string())?;
    Ok(record)
}

/// The protected read patterns of the pack that can match inside a searched folder, each as
/// the glob relative to the folder and the witness read decided block or require_approval.
fn protected_in_search(
    pack: &cavra_policy::CompiledPack,
    search: &cavra_agents::FolderSearch,
    ctx: &Context,
    template: &Request,
    timestamp: &str,
) -> Vec<(String, Request)> {
    let mut out: Vec<(String, Request)> = Vec::new();
    let approval = Decision::RequireApproval.strictness();
    for rule in pack
        .rules
        .iter()
        .filter(|r| r.actions.contains(ActionType::ReadFile) && r.decision.strictness() >= approval)
    {
        for pattern in &rule.patterns {
            let Some(inside) = cavra_agents::pattern_inside(pattern, &search.folder, ctx) else {
                continue;
            };
            if out.iter().any(|(g, _)| *g == inside)
                || search
                    .filter
                    .as_deref()
                    .is_some_and(|f| !cavra_agents::filter_reaches(f, &inside))
            {
                continue;
            }
            let mut request = template.clone();
            request.action = ActionType::ReadFile;
            request.target = cavra_agents::witness(&search.folder, &inside);
            let decision_id = cavra_runtime::new_decision_id();
            let record = cavra_runtime::decide::decide_one(
                pack,
                &request,
                None,
                timestamp,
                &decision_id,
                &FsResolver,
            );
            if record.decision.strictness() >= approval {
                out.push((inside, request));
            }
        }
    }
    out
}

fn requested_by(agent: Agent, event: &HookEvent) -> String {
    match &event.session_id {
        Some(s) => format!("{agent}:{s}"),
        None => agent.as_str().to_string(),
    }
}

/// The MCP server names cavra knows: the registry's entries and the literal (glob-free)
/// names in the pack's `mcp.allowed_servers` and `mcp.blocked_servers`.
fn known_mcp_servers(
    store: &Store,
    pack: &cavra_policy::CompiledPack,
) -> Result<Vec<String>, String> {
    let mut known: Vec<String> = cavra_runtime::decide::registry_of(store)
        .map_err(|e| e.to_string())?
        .map(|r| r.servers.keys().cloned().collect())
        .unwrap_or_default();
    let mcp = &pack.document.mcp;
    known.extend(
        mcp.allowed_servers
            .iter()
            .chain(&mcp.blocked_servers)
            .filter(|s| !s.contains(['*', '?', '[', '{']))
            .cloned(),
    );
    known.sort();
    known.dedup();
    Ok(known)
}

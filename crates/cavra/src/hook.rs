//! `cavra hook <agent>`: answers an agent's hook on stdin, and never fails open.
//!
//! Agents let the tool run when a hook crashes, exits with an unexpected code or times out. So
//! everything here runs under `catch_unwind`, with a panic hook that prints nothing to stdout,
//! with stdin capped at [`MAX_INPUT_BYTES`], and against a watchdog that answers deny on its
//! own when the deadline passes. Every failure is answered with a deny that says what to fix.
//!
//! Every decision is written to the local store (redacted) before the answer is printed.

use crate::support::{self, FsResolver};
use cavra_agents::{Agent, Answer, Context, EventKind, HookEvent, Mapping, Verdict};
use cavra_engine::{ActionType, Decision, DecisionRecord, Env, Request};
use cavra_redact::Redactor;
use cavra_runtime::decide::{ApprovalNote, Call, Fallback, Governor, Service};
use cavra_runtime::local::Ask;
use cavra_runtime::record::{Caller, Context as StoredContext};
use cavra_store::{NewDecision, Outcome, Store};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most stdin the hook reads; more is refused (deny).
pub const MAX_INPUT_BYTES: u64 = 1024 * 1024;
/// The hook timeout `cavra init` registers, in seconds.
pub const HOOK_TIMEOUT_SECS: u64 = 10;
/// The default deadline, well inside [`HOOK_TIMEOUT_SECS`].
pub const DEFAULT_DEADLINE_MS: u64 = 8000;
/// How long an approval asked for in store mode stays valid, by default (minutes).
pub const DEFAULT_APPROVAL_TTL_MINUTES: u64 = 24 * 60;

/// What to do with require_approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApprovalMode {
    /// Ask the person at the agent (Claude Code's `ask`).
    Ask,
    /// Headless: create a pending approval in the local store and deny with its id; once
    /// approved, the same request is allowed once.
    Store,
}

/// What the hook does when the API service cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServerFallback {
    /// Decide with the local policy (and record locally).
    Local,
    /// Deny the tool call.
    Deny,
}

/// `cavra hook` arguments.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// The agent whose hook format is on stdin: claude-code, codex, cursor, gemini, copilot.
    #[arg(value_parser = parse_agent)]
    pub agent: Agent,
    /// What require_approval does: ask a person at the agent, or create a pending approval in
    /// the local store (headless runs, CI).
    #[arg(long, value_enum, default_value_t = ApprovalMode::Ask)]
    pub approval_mode: ApprovalMode,
    /// The policy: a path or a built-in id (default: CAVRA_POLICY, else the repository's
    /// .cavra/policy.yaml; with neither, every tool call is denied).
    #[arg(long, short = 'p', value_name = "PATH|ID")]
    pub policy: Option<String>,
    /// How long an approval stays valid, in minutes: one created in store mode, or the
    /// question recorded in ask mode (unanswered by then, it closes as declined or abandoned).
    #[arg(long, value_name = "MINUTES", default_value_t = DEFAULT_APPROVAL_TTL_MINUTES)]
    pub approval_ttl: u64,
    /// Answer deny if no decision is made within this many milliseconds (keep it below the
    /// agent's hook timeout).
    #[arg(long, value_name = "MS", env = "CAVRA_HOOK_DEADLINE_MS", default_value_t = DEFAULT_DEADLINE_MS)]
    pub deadline_ms: u64,
    /// Refuse (deny every tool call) unless every pack file of the policy carries a valid
    /// signature (PACK.sig) by a key of the trust root. Also on with
    /// CAVRA_REQUIRE_SIGNED_POLICY=1 or `metadata.require_signature: true`.
    #[arg(long)]
    pub require_signed_policy: bool,
    /// The trust root for policy signatures (default: CAVRA_TRUST_ROOT, else
    /// .cavra/trust-root.json).
    #[arg(long, value_name = "FILE")]
    pub trust_root: Option<PathBuf>,
    /// The API service that decides (token from CAVRA_TOKEN); the local policy decides only
    /// when it cannot be reached, as --server-fallback says.
    #[arg(long, env = "CAVRA_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// When the service cannot be reached: decide with the local policy (`local`), or deny
    /// (`deny`). A service that answers with an error (a bad token, say) is always a deny.
    #[arg(long, env = "CAVRA_SERVER_FALLBACK", value_enum, default_value_t = ServerFallback::Local)]
    pub server_fallback: ServerFallback,
    /// Ask this repository's hook server (started on first use, stopped after
    /// CAVRA_HOOK_DAEMON_IDLE_SECS idle) instead of loading the policy and store in this
    /// process; when it cannot be reached the hook decides in process, exactly as without.
    #[arg(long)]
    pub daemon: bool,
    /// Answer deny with this message and exit (how the slim `cavra-hook` client renders its
    /// fail-closed answers in the agent's format).
    #[arg(long, hide = true, value_name = "MESSAGE")]
    pub fail_closed: Option<String>,
}

/// What a hook decision reads from its surroundings besides stdin: the current folder and the
/// environment variables that can change it. The in-process hook takes them from its own
/// process; the hook server from the client's request, so that both decide alike whatever
/// environment the server itself was started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEnv {
    /// The current folder, or why it could not be read.
    pub cwd: Result<PathBuf, String>,
    /// The variables in [`HookEnv::wanted`], by name.
    pub vars: BTreeMap<String, OsString>,
}

impl HookEnv {
    /// Whether a variable can change a hook decision: every `CAVRA_*`, and what the home
    /// folder and the pack cache's place derive from.
    pub fn wanted(name: &str) -> bool {
        crate::hook_daemon::client_core::wanted_var(name)
    }

    /// This process's folder and environment.
    pub fn from_process() -> HookEnv {
        HookEnv {
            cwd: std::env::current_dir().map_err(|e| e.to_string()),
            vars: std::env::vars_os()
                .filter_map(|(k, v)| {
                    let k = k.into_string().ok()?;
                    HookEnv::wanted(&k).then_some((k, v))
                })
                .collect(),
        }
    }

    /// A variable as `std::env::var_os` gives it.
    pub fn var_os(&self, name: &str) -> Option<&OsStr> {
        self.vars.get(name).map(OsString::as_os_str)
    }

    /// A variable as `std::env::var` gives it: only when set and valid UTF-8.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.var_os(name).and_then(OsStr::to_str)
    }

    /// The home folder, when known (as [`support::home_dir`]).
    fn home(&self) -> Option<String> {
        self.var("HOME")
            .filter(|h| h.starts_with('/'))
            .map(str::to_string)
    }
}

pub use cavra_runtime::policy::LoadedPack;

/// Where a hook decision gets its store and policy. The in-process hook opens both for the
/// one call; the hook server keeps them between calls.
pub trait Resources {
    /// The repository's store and the policy, for a PreToolUse decision.
    fn store_and_policy(
        &mut self,
        args: &HookArgs,
        env: &HookEnv,
        repo_root: &Path,
    ) -> (Result<&mut Store, String>, Result<Arc<LoadedPack>, String>);
    /// The repository's store alone.
    fn store(&mut self, repo_root: &Path) -> Result<&mut Store, String>;
}

/// The in-process hook's resources: opened for one call, closed when the process exits.
#[derive(Default)]
pub struct OneShot {
    store: Option<Store>,
}

impl Resources for OneShot {
    fn store_and_policy(
        &mut self,
        args: &HookArgs,
        env: &HookEnv,
        repo_root: &Path,
    ) -> (Result<&mut Store, String>, Result<Arc<LoadedPack>, String>) {
        // The store opens while the policy loads: two independent halves of the latency.
        let (store, pack) = std::thread::scope(|scope| {
            let store = scope.spawn(|| open_store(repo_root));
            let pack = load_policy(args, env, repo_root, None);
            let store = store
                .join()
                .unwrap_or_else(|_| Err("opening the decision store panicked".into()));
            (store, pack)
        });
        let store = match store {
            Ok(s) => Ok(self.store.insert(s)),
            Err(e) => Err(e),
        };
        (store, pack)
    }

    fn store(&mut self, repo_root: &Path) -> Result<&mut Store, String> {
        let store = open_store(repo_root)?;
        Ok(self.store.insert(store))
    }
}

/// `cavra hook`: answer an agent's hook, or manage this repository's hook server.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HookCommand {
    /// `cavra hook daemon status|stop`.
    #[command(subcommand)]
    pub sub: Option<HookSub>,
    /// The hook's own arguments.
    #[command(flatten)]
    pub args: Option<HookArgs>,
}

/// Subcommands of `cavra hook`.
#[derive(Debug, clap::Subcommand)]
pub enum HookSub {
    /// This repository's hook server (`--daemon`): status, stop.
    #[command(subcommand)]
    Daemon(crate::hook_daemon::DaemonCommand),
}

/// Runs `cavra hook …`.
pub fn command(cmd: &HookCommand) -> Result<i32, crate::support::Failure> {
    match &cmd.sub {
        Some(HookSub::Daemon(d)) => crate::hook_daemon::command(d),
        None => match &cmd.args {
            Some(args) => run(args),
            // clap requires the agent when no subcommand is given; kept for exhaustiveness.
            None => Err(crate::support::Failure::Usage(
                "name the agent: cavra hook <agent>".into(),
            )),
        },
    }
}

fn parse_agent(s: &str) -> Result<Agent, String> {
    s.parse::<Agent>().map_err(|e| e.to_string())
}

/// Guards the single answer: whoever takes it first (the hook or the watchdog) prints.
static ANSWERED: Mutex<bool> = Mutex::new(false);

/// Set while the client waits on the hook server, so that the watchdog's deny names it.
pub static WAITING_ON_SERVER: AtomicBool = AtomicBool::new(false);

/// Prints the answer and exits with its code, unless the other side (hook or watchdog)
/// already did.
pub fn emit(answer: &Answer) -> ! {
    // A poisoned lock still guards the flag; the answer must go out either way.
    let mut done = ANSWERED.lock().unwrap_or_else(|p| p.into_inner());
    if !*done {
        *done = true;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(answer.stdout.as_bytes());
        if !answer.stdout.is_empty() {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
        if !answer.stderr.is_empty() {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{}", answer.stderr);
            let _ = err.flush();
        }
        std::process::exit(answer.exit_code);
    }
    // The other side is answering and will exit the process.
    drop(done);
    loop {
        std::thread::park();
    }
}

/// Runs the hook. Never returns: the process exits with the agent's exit code.
pub fn run(args: &HookArgs) -> ! {
    let agent = args.agent;
    if let Some(message) = &args.fail_closed {
        emit(&cavra_agents::render_failure(agent, message));
    }
    install_crash_guard();
    // Panics print one line to stderr and nothing to stdout; catch_unwind turns them into a deny.
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(std::io::stderr(), "cavra hook: internal error: {info}");
    }));
    let deadline = Duration::from_millis(args.deadline_ms.max(1));
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        let message = if WAITING_ON_SERVER.load(Ordering::SeqCst) {
            crate::hook_daemon::client_core::deadline_message(deadline.as_millis())
        } else {
            format!(
                "no decision within {} ms (the hook's deadline); check that .cavra/ is on a local disk and not locked by another process",
                deadline.as_millis()
            )
        };
        emit(&cavra_agents::render_failure(agent, &message));
    });
    let input = read_input();
    let env = HookEnv::from_process();
    if args.daemon
        && let Ok(bytes) = &input
        && let Some(answer) = crate::hook_daemon::ask(args, bytes, &env)
    {
        emit(&answer);
    }
    emit(&answer(
        args,
        input.as_deref(),
        &env,
        &mut OneShot::default(),
    ))
}

/// The answer for one hook call, from its arguments, its input (stdin as read, or why it
/// could not be) and its environment: the same function in process and in the hook server.
pub fn answer(
    args: &HookArgs,
    input: Result<&[u8], &String>,
    env: &HookEnv,
    res: &mut dyn Resources,
) -> Answer {
    guarded(args.agent, env, res, |res| {
        let input = input.map_err(String::clone)?;
        handle(args, input, env, res)
    })
}

/// The answer for a hook run: its own, or a deny for a failure or a panic.
fn guarded(
    agent: Agent,
    env: &HookEnv,
    res: &mut dyn Resources,
    f: impl FnOnce(&mut dyn Resources) -> Result<Answer, String>,
) -> Answer {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *res))) {
        Ok(Ok(answer)) => answer,
        Ok(Err(message)) => {
            record_failure(agent, &message, env, res);
            cavra_agents::render_failure(agent, &message)
        }
        Err(_) => cavra_agents::render_failure(
            agent,
            "cavra hit an internal error (see the message above); run `cavra hook` by hand with this payload to reproduce, and report it",
        ),
    }
}

/// Reads stdin, at most [`MAX_INPUT_BYTES`]; more is an error.
pub fn read_input() -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("could not read the hook input on stdin: {e}"))?;
    if buf.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "the hook input is larger than {} KiB; cavra refuses inputs it will not read whole",
            MAX_INPUT_BYTES / 1024
        ));
    }
    Ok(buf)
}

/// The answer for one hook call, or a failure message (answered as a deny).
fn handle(
    args: &HookArgs,
    input: &[u8],
    env: &HookEnv,
    res: &mut dyn Resources,
) -> Result<Answer, String> {
    if input.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "the hook input is larger than {} KiB; cavra refuses inputs it will not read whole",
            MAX_INPUT_BYTES / 1024
        ));
    }
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err("the hook input on stdin is empty; cavra expects the agent's hook JSON (is `cavra hook` registered as a command hook?)".into());
    }
    let payload: Value = serde_json::from_slice(input).map_err(|e| {
        format!(
            "the hook input is not valid JSON ({e}); cavra expects the {} hook JSON on stdin",
            args.agent
        )
    })?;
    let event = cavra_agents::parse_event(args.agent, &payload).map_err(|e| e.to_string())?;
    if event.kind == EventKind::Lifecycle {
        // A prompt, a stop, a session start: nothing to decide or record, and a deny here
        // would block the person's prompt or keep the agent from stopping.
        return Ok(cavra_agents::render_neutral(args.agent, &event.event_name));
    }
    let cwd = match event.cwd.as_deref().filter(|c| Path::new(c).is_absolute()) {
        Some(c) => PathBuf::from(c),
        None => env.cwd.clone().map_err(|e| {
            format!("no `cwd` in the hook input and the current folder is unreadable: {e}")
        })?,
    };
    let repo_root = support::find_repo_root(&cwd);
    let ctx = Context {
        cwd: cwd.to_string_lossy().into_owned(),
        repo_root: repo_root.to_string_lossy().into_owned(),
        home: env.home(),
        known_mcp_servers: Vec::new(),
    };
    match event.kind {
        EventKind::PreToolUse | EventKind::PermissionRequest => {
            let answer = pre_tool_use(args, env, res, &event, &ctx, &repo_root)?;
            // A commit the agent may make gets its session as a trailer (see `trailer`).
            let allowed = answer.exit_code == 0 && !answer.stdout.contains("\"deny\"");
            if allowed
                && let (Some(session), Some(command)) = (
                    event.session_id.as_deref(),
                    event.tool_input.get("command").and_then(Value::as_str),
                )
                // The cheap test first: a second shell parse only for lines that mention it.
                && command.contains("commit")
                && crate::trailer::runs_git_commit(command)
            {
                crate::trailer::note_commit(&repo_root, session);
            }
            Ok(answer)
        }
        EventKind::PostToolUse | EventKind::PostToolUseFailure => {
            post_tool_use(res, &event, &ctx, &repo_root, env)
        }
        EventKind::Lifecycle => Ok(cavra_agents::render_neutral(args.agent, &event.event_name)),
    }
}

/// Opens the repository's store with its log key, or says why not (a deny).
pub fn open_store(repo_root: &Path) -> Result<Store, String> {
    let mut store = Store::open_repo(repo_root).map_err(|e| {
        format!("cannot open the decision store under {}/.cavra: {e}; decisions must be recorded before cavra answers", repo_root.display())
    })?;
    crate::keyfiles::attach_log_key(&mut store, repo_root);
    Ok(store)
}

/// A crash in native code (a C library's segmentation fault) cannot be caught as a panic,
/// and an agent lets its tool run when a hook dies of a signal. So the fatal signals answer
/// the one way every agent reads as a block: the reason on stderr and exit code 2. The
/// handler only calls async-signal-safe functions, and runs on the alternate signal stack that
/// Rust sets up, so a stack overflow is answered too.
fn install_crash_guard() {
    extern "C" fn on_fatal_signal(_signal: libc::c_int) {
        const MESSAGE: &[u8] =
            b"cavra blocked this tool call: cavra crashed while deciding (a fatal signal); nothing was decided, so nothing may run\n";
        // SAFETY: write(2) and _exit(2) are async-signal-safe; MESSAGE is a static buffer.
        unsafe {
            libc::write(2, MESSAGE.as_ptr().cast(), MESSAGE.len());
            libc::_exit(2);
        }
    }
    for signal in [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGABRT,
    ] {
        // SAFETY: a zeroed sigaction is a valid start; the handler is an `extern "C" fn(c_int)`.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_fatal_signal as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Loads and compiles the policy that decides (the runtime's loader, with the hook's
/// environment). With a cache (the hook server), a pack whose every source still has the same
/// content is not parsed and compiled again; a signed-policy requirement always takes the full
/// path, since signatures and trust roots can change too. Unlike `cavra evaluate`, the hook
/// has no built-in fallback: a repository whose policy went missing must not silently change
/// rules.
pub fn load_policy(
    args: &HookArgs,
    env: &HookEnv,
    repo_root: &Path,
    cache: Option<&mut crate::hook_daemon::PolicyCache>,
) -> Result<Arc<LoadedPack>, String> {
    let base = env.cwd.clone().unwrap_or_else(|_| repo_root.to_path_buf());
    let var = |name: &str| env.var_os(name).map(OsStr::to_os_string);
    let source = cavra_runtime::policy::Source {
        explicit: args.policy.as_deref(),
        repo_root,
        base: &base,
        builtin_fallback: false,
        require_signed: args.require_signed_policy,
        trust_root: args.trust_root.as_deref(),
        var: &var,
    };
    let reference = source
        .reference()
        .map_err(|e| e.to_string().replace("<agent>", args.agent.as_str()))?;
    let signing_required = source.signing_required();
    let mut cache = cache;
    if !signing_required
        && let Some(cache) = cache.as_deref_mut()
        && let Some(hit) = cache.get(&reference, &base)
    {
        return Ok(hit);
    }
    let loaded = Arc::new(source.load(&reference).map_err(|e| e.to_string())?);
    let signed = signing_required || loaded.resolved.document.metadata.require_signature;
    if !signed && let Some(cache) = cache {
        cache.put(&reference, &base, loaded.clone());
    }
    Ok(loaded)
}

fn pre_tool_use(
    args: &HookArgs,
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
    let requests = match mapping {
        Mapping::Requests(r) => r,
        Mapping::Harmless { reason } => {
            record_plain(
                store,
                &loaded,
                event,
                &caller,
                &timestamp,
                plain(Decision::Allow, "agent.harmless_tool", reason),
            )?;
            return Ok(cavra_agents::render(
                args.agent,
                event,
                &Verdict::NoDecision,
            ));
        }
        Mapping::Unknown { reason } => {
            // Never allowed silently: the pack says whether a person approves or it is blocked.
            let decision = pack.document.agents.unknown_tool_decision();
            let reason = format!(
                "{reason}; the pack's agents.unknown_tool decides such calls ({decision}); report the tool, or deny it in the agent's own settings"
            );
            let record = record_plain(
                store,
                &loaded,
                event,
                &caller,
                &timestamp,
                plain(decision, "agents.unknown_tool", reason),
            )?;
            return Ok(cavra_agents::render(
                args.agent,
                event,
                &cavra_agents::verdict_for(&record),
            ));
        }
        Mapping::Invalid { reason } => {
            let record = record_plain(
                store,
                &loaded,
                event,
                &caller,
                &timestamp,
                plain(Decision::Block, "agents.invalid_input", reason),
            )?;
            return Ok(cavra_agents::render(
                args.agent,
                event,
                &cavra_agents::verdict_for(&record),
            ));
        }
    };

    let branch = support::current_branch(repo_root);
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
            let decision_id = support::new_decision_id();
            let env = Env {
                timestamp,
                decision_id: &decision_id,
                resolver: &FsResolver,
            };
            let record = cavra_engine::evaluate_with_registry(pack, &request, &env, None);
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

/// What store failures start with; they are not recorded in the store that just failed.
const STORE_FAILURES: [&str; 2] = ["cannot open the decision store", "could not record"];

/// Best effort: a call denied for bad input or a bad policy is evidence too. Recorded only
/// where the repository already has a `.cavra/` folder, so a stray call creates nothing.
fn record_failure(agent: Agent, message: &str, env: &HookEnv, res: &mut dyn Resources) {
    if STORE_FAILURES.iter().any(|p| message.starts_with(p)) {
        return;
    }
    let Ok(cwd) = env.cwd.clone() else {
        return;
    };
    let root = support::find_repo_root(&cwd);
    if !root.join(cavra_store::STORE_DIR).is_dir() {
        return;
    }
    let Ok(store) = res.store(&root) else {
        return;
    };
    let Ok(timestamp) = cavra_store::format_time(time::OffsetDateTime::now_utc()) else {
        return;
    };
    let decision_id = support::new_decision_id();
    let reason = Redactor::builtin().redact_text(message).value;
    let record = json!({
        "decision_id": decision_id,
        "timestamp": timestamp,
        "agent_id": agent.as_str(),
        "action_type": "hook_input",
        "target": "",
        "decision": "block",
        "rule_id": "hook.failure",
        "reason": reason,
        "explicit": false,
    });
    let _ = store.record_decision(&NewDecision {
        decision_id,
        session_id: None,
        agent: Some(agent.as_str().to_string()),
        cwd: Some(cwd.to_string_lossy().into_owned()),
        tool_use_id: None,
        action_type: cavra_store::Subject::HookInput,
        decision: cavra_engine::Decision::Block,
        rule_id: "hook.failure".into(),
        timestamp,
        fingerprint: String::new(),
        record,
    });
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

/// Whether a written path names one file whose content can be hashed: not `/dev/null`, and not
/// `FOLDER/**` or `**`, which stand for a folder (or the working tree) moved or rewritten as a
/// whole.
fn names_one_file(path: &str) -> bool {
    path != "/dev/null" && path != "**" && !path.ends_with("/**")
}

fn sha256_file(path: &Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).ok()?;
    Some(format!("sha256:{}", hex::encode(hasher.finalize())))
}

fn post_tool_use(
    res: &mut dyn Resources,
    event: &HookEvent,
    ctx: &Context,
    repo_root: &Path,
    env: &HookEnv,
) -> Result<Answer, String> {
    let reported = event.tool_response.as_ref().and_then(|r| {
        r.get("success")
            .and_then(Value::as_bool)
            .or_else(|| r.get("is_error").and_then(Value::as_bool).map(|e| !e))
            .or_else(|| r.get("error").map(|e| e.is_null()))
    });
    // A failure event (PostToolUseFailure) is a failed outcome whatever its payload says.
    let success = if event.kind == EventKind::PostToolUseFailure {
        Some(false)
    } else {
        reported
    };
    let mut written: Vec<PathBuf> = Vec::new();
    let mut shell = false;
    if let Mapping::Requests(reqs) = cavra_agents::map_tool(event, ctx) {
        for r in reqs {
            match r.action {
                ActionType::WriteFile if names_one_file(&r.target) => {
                    written.push(Path::new(&ctx.cwd).join(&r.target))
                }
                ActionType::ExecuteCommand => shell = true,
                _ => {}
            }
        }
    }
    if shell && let Some(command) = event.tool_input.get("command").and_then(Value::as_str) {
        // Files a shell command wrote get their post-write hash too, so that the CI gate can
        // bind them. Only literal paths: a path with an expansion cannot be named reliably.
        for access in cavra_shell::analyze(command).file_accesses {
            if access.kind == cavra_shell::AccessKind::Write
                && access.literal
                && !access.path.starts_with('~')
                && names_one_file(&access.path)
            {
                written.push(Path::new(&ctx.cwd).join(&access.path));
            }
        }
    }
    written.dedup();
    let store = res.store(repo_root)?;
    let timestamp =
        cavra_store::format_time(time::OffsetDateTime::now_utc()).map_err(|e| e.to_string())?;
    let targets: Vec<Option<PathBuf>> = if written.is_empty() {
        vec![None]
    } else {
        written.into_iter().map(Some).collect()
    };
    for target in targets {
        let sha256 = target.as_deref().and_then(sha256_file);
        store
            .record_outcome(&Outcome {
                tool_use_id: event.tool_use_id.clone(),
                decision_id: None,
                session_id: event.session_id.clone(),
                success,
                sha256,
                // The pack is not loaded after the tool ran; the built-in rules mask the path.
                path: target.map(|p| Redactor::builtin().redact_text(&p.to_string_lossy()).value),
                timestamp: timestamp.clone(),
            })
            .map_err(|e| format!("could not record the outcome: {e}"))?;
    }
    close_prompt_approvals(store, event, env)?;
    Ok(cavra_agents::render(
        event.agent,
        event,
        &Verdict::NoDecision,
    ))
}

/// Ask mode: the tool ran, so the person at the agent's prompt approved it — its pending
/// agent-prompt approval is closed as approved by them (the user this hook runs as, where
/// known) and used by the call. Questions whose result never came are closed at their expiry
/// as declined or abandoned, here and wherever the store expires approvals.
fn close_prompt_approvals(
    store: &mut Store,
    event: &HookEvent,
    env: &HookEnv,
) -> Result<(), String> {
    let person = env
        .var("USER")
        .or_else(|| env.var("LOGNAME"))
        .filter(|u| !u.trim().is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("the person at the {} prompt", event.agent));
    // A failed call may have been declined in the prompt: only a result closes as approved.
    let ran = match event.kind {
        EventKind::PostToolUse => event.tool_use_id.as_deref(),
        _ => None,
    };
    store
        .answered_at_prompt(ran, &person, time::OffsetDateTime::now_utc())
        .map_err(|e| format!("could not record the prompt's answer: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_answered_with_a_deny() {
        for agent in Agent::ALL {
            let env = HookEnv {
                cwd: Err("none".into()),
                vars: BTreeMap::new(),
            };
            let answer = guarded(agent, &env, &mut OneShot::default(), |_| {
                panic!("simulated bug")
            });
            assert!(answer.stdout.contains("deny"), "{agent}: {answer:?}");
            assert!(
                answer.stderr.contains("internal error") || agent == Agent::Copilot,
                "{agent}: {answer:?}"
            );
            assert!(
                answer.stdout.contains("internal error"),
                "{agent}: {answer:?}"
            );
            // Copilot honours the JSON deny at exit 0; every other agent gets exit 2.
            let blocking = if agent == Agent::Copilot { 0 } else { 2 };
            assert_eq!(answer.exit_code, blocking, "{agent}");
        }
    }
}

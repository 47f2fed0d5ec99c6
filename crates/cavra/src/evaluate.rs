//! `cavra evaluate` and the request arguments `cavra policy explain` shares with it.

use crate::support::{self, Failure, FsResolver};
use cavra_engine::{ActionType, Env, Mode, Request};
use clap::Args;
use std::path::PathBuf;

/// A request given as arguments or as JSON.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// The action: read_file, write_file, delete_file, execute_command, git_operation,
    /// mcp_tool_call, pull_request, network_request.
    // Required unless --request (checked when the request is built, so that `policy explain
    // --decision` can do without both).
    #[arg(value_name = "ACTION")]
    pub action: Option<ActionType>,
    /// The target: a path, a command line, a git target (origin/main), a URL, a PR title.
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,
    /// Read the request as JSON from FILE, or from stdin with `-`. Arguments given as well
    /// override its fields.
    #[arg(long, value_name = "FILE", conflicts_with = "action")]
    pub request: Option<PathBuf>,
    /// The policy: a path or a built-in id (default: .cavra/policy.yaml, else cavra-baseline).
    #[arg(long, short = 'p', value_name = "PATH|ID")]
    pub policy: Option<String>,
    /// Override the mode: enforce, audit_only, strict, break_glass.
    #[arg(long, value_name = "MODE")]
    pub policy_mode: Option<Mode>,
    /// The repository root (default: the git top level of the current folder).
    #[arg(long, value_name = "DIR")]
    pub repo_root: Option<PathBuf>,
    /// The folder relative paths and commands are resolved against (default: current folder).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Git operation (push, commit, merge, …).
    #[arg(long)]
    pub operation: Option<String>,
    /// A force push (git_operation).
    #[arg(long)]
    pub force: bool,
    /// The branch the agent works on, or pushes to.
    #[arg(long)]
    pub branch: Option<String>,
    /// MCP server name; or, as an http(s) URL, the API service that decides instead of this
    /// process (token from CAVRA_TOKEN).
    #[arg(long)]
    pub server: Option<String>,
    /// MCP tool.
    #[arg(long)]
    pub tool: Option<String>,
    /// MCP capability.
    #[arg(long)]
    pub capability: Option<String>,
    /// Who is acting.
    #[arg(long)]
    pub actor: Option<String>,
    /// Which agent.
    #[arg(long)]
    pub agent_id: Option<String>,
    /// The tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// The repository (org/name).
    #[arg(long)]
    pub repository: Option<String>,
    /// The environment (prod, staging, …).
    #[arg(long)]
    pub environment: Option<String>,
    /// The agent session.
    #[arg(long)]
    pub session_id: Option<String>,
    /// Break glass: who.
    #[arg(long, value_name = "ACTOR")]
    pub break_glass_actor: Option<String>,
    /// Break glass: why (an incident reference).
    #[arg(long, value_name = "REASON")]
    pub break_glass_reason: Option<String>,
}

fn read_request_json(path: &std::path::Path) -> Result<Request, Failure> {
    use cavra_runtime::repo::RequestFileError;
    cavra_runtime::repo::read_request(path).map_err(|e| match e {
        RequestFileError::Read { .. } => Failure::Other(e.into()),
        other => Failure::Usage(other.to_string()),
    })
}

impl RequestArgs {
    /// Builds the request, filling the folders from the environment where not given.
    pub fn build(&self) -> Result<Request, Failure> {
        let mut request = match (&self.request, self.action) {
            (Some(path), _) => read_request_json(path)?,
            (None, Some(action)) => match &self.target {
                Some(target) => Request::new(action, target.clone()),
                None => {
                    return Err(Failure::Usage(format!(
                        "{action} needs a TARGET (a path, command line, git target, URL or name), or give --request FILE"
                    )));
                }
            },
            (None, None) => {
                return Err(Failure::Usage(
                    "give an ACTION and TARGET, or --request FILE".into(),
                ));
            }
        };
        let cwd = support::current_dir()?;
        let set = |field: &mut Option<String>, value: &Option<String>| {
            if value.is_some() {
                field.clone_from(value);
            }
        };
        set(&mut request.operation, &self.operation);
        set(&mut request.branch, &self.branch);
        if let Some(server) = self
            .server
            .as_deref()
            .filter(|s| !crate::client::is_service_url(s))
        {
            request.server = Some(server.to_string());
        }
        set(&mut request.tool, &self.tool);
        set(&mut request.capability, &self.capability);
        set(&mut request.actor, &self.actor);
        set(&mut request.agent_id, &self.agent_id);
        set(&mut request.tenant, &self.tenant);
        set(&mut request.repository, &self.repository);
        set(&mut request.environment, &self.environment);
        set(&mut request.session_id, &self.session_id);
        set(&mut request.break_glass_actor, &self.break_glass_actor);
        set(&mut request.break_glass_reason, &self.break_glass_reason);
        if self.force {
            request.force = Some(true);
        }
        if let Some(mode) = self.policy_mode {
            request.mode = Some(mode);
        }
        cavra_runtime::repo::complete_request(
            &mut request,
            &cwd,
            self.cwd.as_deref(),
            self.repo_root.as_deref(),
            support::find_repo_root,
        );
        if let Some(mode) = request.mode
            && mode == Mode::BreakGlass
            && (request.break_glass_actor.is_none() || request.break_glass_reason.is_none())
        {
            eprintln!(
                "note: break_glass needs --break-glass-actor and --break-glass-reason; without both nothing changes"
            );
        }
        Ok(request)
    }

    /// The policy reference for this request.
    pub fn policy_reference(&self, request: &Request) -> String {
        let root = request
            .repo_root
            .as_deref()
            .map(PathBuf::from)
            .unwrap_or_default();
        support::policy_reference(self.policy.as_deref(), &root)
    }
}

/// A request built from the arguments, the policy that applies to it, and the id and time the
/// decision is made under.
pub struct Prepared {
    /// The request.
    pub request: Request,
    /// The policy.
    pub policy: support::LoadedPolicy,
    decision_id: String,
    timestamp: String,
}

impl Prepared {
    /// The engine's environment: this decision's id and time, and the file system's symlinks.
    pub fn env(&self) -> Env<'_> {
        Env {
            timestamp: &self.timestamp,
            decision_id: &self.decision_id,
            resolver: &FsResolver,
        }
    }
}

impl RequestArgs {
    /// Builds the request and loads its policy.
    pub fn prepare(&self) -> Result<Prepared, Failure> {
        let request = self.build()?;
        let policy = support::load_policy(&self.policy_reference(&request))?;
        Ok(Prepared {
            request,
            policy,
            decision_id: cavra_runtime::new_decision_id(),
            timestamp: support::now_rfc3339(),
        })
    }
}

/// `cavra evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub request: RequestArgs,
    /// Print the full decision record as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `cavra evaluate`; returns the exit code of the decision.
/// `cavra evaluate --server URL`: the service decides (and records) instead of this process.
fn run_remote(args: &EvaluateArgs, base: &str) -> Result<i32, Failure> {
    let request = args.request.build()?;
    let mut body = serde_json::json!({ "request": request });
    if let Some(policy) = &args.request.policy {
        body["policy"] = serde_json::json!(policy);
    }
    let answer = crate::client::call(base, "POST", "/v1/decisions", Some(&body))?;
    let decision: cavra_engine::Decision = answer
        .get("decision")
        .and_then(|d| d.as_str())
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{base} answered without a decision"))?;
    if args.json {
        support::print_json(&answer)?;
    } else {
        let colour = support::stdout_is_terminal();
        println!(
            "{}",
            cavra_runtime::text::service_decision(decision, &answer, colour)
        );
    }
    Ok(decision.exit_code())
}

pub fn run(args: &EvaluateArgs) -> Result<i32, Failure> {
    if let Some(base) = args
        .request
        .server
        .as_deref()
        .filter(|s| crate::client::is_service_url(s))
    {
        return run_remote(args, base);
    }
    let prepared = args.request.prepare()?;
    // An MCP tool call is also judged by the repository's MCP registry, when it has one.
    let registry = match (&prepared.request.action, &prepared.request.repo_root) {
        (cavra_engine::ActionType::McpToolCall, Some(root)) => {
            cavra_runtime::decide::local_registry(std::path::Path::new(root))
                .map_err(|e| Failure::Other(e.into()))?
        }
        _ => None,
    };
    let env = prepared.env();
    let record = cavra_runtime::decide::decide_one(
        &prepared.policy.compiled,
        &prepared.request,
        registry.as_ref(),
        env.timestamp,
        env.decision_id,
        env.resolver,
    );
    if args.json {
        support::print_json(&record)?;
    } else {
        let colour = support::stdout_is_terminal();
        println!("{}", cavra_runtime::text::evaluated(&record, colour));
    }
    // The process exits next: freeing the compiled pack piece by piece would only cost time.
    std::mem::forget(prepared);
    Ok(record.decision.exit_code())
}

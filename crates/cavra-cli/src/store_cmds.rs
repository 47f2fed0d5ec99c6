//! `cavra session`, `cavra decision` and `cavra approval`: reading the local store and deciding
//! approvals.

use crate::support::{self, Failure};
use anyhow::anyhow;
use cavra_store::{ApprovalState, DecisionFilter, Store};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `cavra session …`
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List agent sessions, most recent first.
    List(JsonFlag),
    /// Show one session: its counts and its decisions.
    Show {
        /// The session id.
        id: String,
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        json: JsonFlag,
    },
}

/// `cavra decision …`
#[derive(Debug, Subcommand)]
pub enum DecisionCommand {
    /// List recorded decisions, newest first.
    List(DecisionListArgs),
}

/// `--json`
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cavra decision list` arguments.
#[derive(Debug, Args)]
pub struct DecisionListArgs {
    /// Only this session.
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Only this decision: allow, block, require_approval, warn, audit_only, allow_with_attestation.
    #[arg(long, value_name = "DECISION")]
    pub decision: Option<cavra_engine::Decision>,
    /// At most this many.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Print JSON (the full, redacted records).
    #[arg(long)]
    pub json: bool,
}

/// `cavra approval …`
#[derive(Debug, Subcommand)]
pub enum ApprovalCommand {
    /// List approvals, newest first.
    List {
        /// Only this state: pending, approved, denied, expired, break_glass, consumed.
        #[arg(long, value_name = "STATE", value_parser = parse_state)]
        state: Option<ApprovalState>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The API service to ask instead of the local store (token from CAVRA_TOKEN).
        #[arg(long, env = "CAVRA_SERVER", value_name = "URL")]
        server: Option<String>,
    },
    /// Approve a pending approval: the same action is then allowed once.
    Approve(DecideArgs),
    /// Deny an approval: the action stays blocked.
    Deny(DecideArgs),
    /// Mark every approval past its expiry as expired.
    Expire(JsonFlag),
}

/// `cavra approval approve|deny` arguments.
#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The approval id (apr_…).
    pub id: String,
    /// Why (recorded in the approval's history).
    #[arg(long)]
    pub reason: String,
    /// Who decides (default: CAVRA_ACTOR, else the login name). The requester cannot approve.
    /// With --server the decider is the token's holder.
    #[arg(long)]
    pub actor: Option<String>,
    /// The API service to decide on instead of the local store (token from CAVRA_TOKEN).
    #[arg(long, env = "CAVRA_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Print the approval as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_state(s: &str) -> Result<ApprovalState, String> {
    s.parse()
}

fn store_path() -> Result<PathBuf, Failure> {
    let root = support::find_repo_root(&support::current_dir()?);
    Ok(cavra_store::store_path(&root))
}

/// Opens the store if it exists; None when nothing was ever recorded here.
fn existing_store() -> Result<Option<Store>, Failure> {
    let root = support::find_repo_root(&support::current_dir()?);
    cavra_runtime::local::open_existing(&root).map_err(store_error)
}

/// Opens the store only to read it (listings); None when nothing was ever recorded here.
fn readable_store() -> Result<Option<Store>, Failure> {
    let root = support::find_repo_root(&support::current_dir()?);
    cavra_runtime::local::open_readable(&root).map_err(store_error)
}

fn store_error(e: cavra_store::StoreError) -> Failure {
    Failure::Other(anyhow!("{e}"))
}

fn none_yet(json: bool) -> Result<i32, Failure> {
    if json {
        println!("[]");
    } else {
        println!(
            "nothing recorded yet (no store at {})",
            store_path()?.display()
        );
    }
    Ok(support::EXIT_OK)
}

/// Runs `cavra session …`.
pub fn session(cmd: &SessionCommand) -> Result<i32, Failure> {
    let Some(store) = readable_store()? else {
        return none_yet(matches!(cmd, SessionCommand::List(JsonFlag { json: true })));
    };
    match cmd {
        SessionCommand::List(JsonFlag { json }) => {
            let sessions = store.sessions().map_err(store_error)?;
            support::show(*json, &sessions, &cavra_runtime::text::sessions(&sessions))
        }
        SessionCommand::Show { id, json } => {
            let Some(s) = store.session(id).map_err(store_error)? else {
                return Err(anyhow!("no session `{id}` in {}", store.path().display()).into());
            };
            let decisions = store
                .decisions(&DecisionFilter {
                    session_id: Some(id.clone()),
                    ..Default::default()
                })
                .map_err(store_error)?;
            let outcomes = store.outcomes(Some(id)).map_err(store_error)?;
            if json.json {
                let value = serde_json::json!({ "session": s, "decisions": decisions, "outcomes": outcomes });
                return support::print_json(&value).map(|_| support::EXIT_OK);
            }
            let colour = support::stdout_is_terminal();
            print!("{}", cavra_runtime::text::session(&s, &decisions, colour));
            Ok(support::EXIT_OK)
        }
    }
}

/// Runs `cavra decision list`.
pub fn decision(cmd: &DecisionCommand) -> Result<i32, Failure> {
    let DecisionCommand::List(args) = cmd;
    let Some(store) = readable_store()? else {
        return none_yet(args.json);
    };
    let decisions = store
        .decisions(&DecisionFilter {
            session_id: args.session.clone(),
            decision: args.decision,
            limit: args.limit,
            ..Default::default()
        })
        .map_err(store_error)?;
    if args.json {
        return support::print_json(&decisions).map(|_| support::EXIT_OK);
    }
    let colour = support::stdout_is_terminal();
    print!(
        "{}",
        cavra_runtime::text::decisions(decisions.iter(), colour)
    );
    Ok(support::EXIT_OK)
}

fn actor(explicit: Option<&str>) -> Result<String, Failure> {
    cavra_runtime::repo::actor(explicit, cavra_runtime::repo::process_var).ok_or_else(|| {
        Failure::Usage("who is deciding? pass --actor NAME (or set CAVRA_ACTOR)".into())
    })
}

/// Runs `cavra approval …`.
pub fn approval(cmd: &ApprovalCommand) -> Result<i32, Failure> {
    let now = time::OffsetDateTime::now_utc();
    if let Some(code) = remote_approval(cmd)? {
        return Ok(code);
    }
    if let ApprovalCommand::List { state, json, .. } = cmd {
        let Some(store) = readable_store()? else {
            return none_yet(*json);
        };
        let approvals = store.approvals(*state).map_err(store_error)?;
        if *json {
            return support::print_json(&approvals).map(|_| support::EXIT_OK);
        }
        print!("{}", cavra_runtime::text::approvals(&approvals));
        return Ok(support::EXIT_OK);
    }
    let Some(mut store) = existing_store()? else {
        return Err(anyhow!("no approvals here: no store at {}", store_path()?.display()).into());
    };
    match cmd {
        ApprovalCommand::Approve(args) | ApprovalCommand::Deny(args) => {
            let who = actor(args.actor.as_deref())?;
            let approve = matches!(cmd, ApprovalCommand::Approve(_));
            let result = if approve {
                store.approve(&args.id, &who, &args.reason, now)
            } else {
                store.deny(&args.id, &who, &args.reason, now)
            };
            let a = result.map_err(store_error)?;
            if args.json {
                return support::print_json(&a).map(|_| support::EXIT_OK);
            }
            print!(
                "{}",
                cavra_runtime::text::decided_approval(&a, approve, &who)
            );
            Ok(support::EXIT_OK)
        }
        ApprovalCommand::Expire(JsonFlag { json }) => {
            let ids = store.expire(now).map_err(store_error)?;
            support::show(
                *json,
                &serde_json::json!({ "expired": ids }),
                &cavra_runtime::text::expired(&ids),
            )
        }
        ApprovalCommand::List { .. } => Ok(support::EXIT_OK),
    }
}

/// `cavra approval … --server URL`: the same commands against the API service.
fn remote_approval(cmd: &ApprovalCommand) -> Result<Option<i32>, Failure> {
    match cmd {
        ApprovalCommand::List {
            state,
            json,
            server: Some(base),
        } => {
            let path = match state {
                Some(s) => format!("/v1/approvals?state={}", s.as_str()),
                None => "/v1/approvals".to_string(),
            };
            let answer = crate::client::call(base, "GET", &path, None)?;
            support::show(
                *json,
                &answer,
                &cavra_runtime::text::service_approvals(&answer),
            )?;
            Ok(Some(support::EXIT_OK))
        }
        ApprovalCommand::Approve(args) | ApprovalCommand::Deny(args) if args.server.is_some() => {
            let base = args.server.as_deref().unwrap_or_default();
            let verb = if matches!(cmd, ApprovalCommand::Approve(_)) {
                "approve"
            } else {
                "deny"
            };
            let answer = crate::client::call(
                base,
                "POST",
                &format!("/v1/approvals/{}/{verb}", args.id),
                Some(&serde_json::json!({ "reason": args.reason })),
            )?;
            if args.json {
                support::print_json(&answer)?;
                return Ok(Some(support::EXIT_OK));
            }
            println!(
                "{} is {}",
                answer["id"].as_str().unwrap_or_default(),
                answer["state"].as_str().unwrap_or_default()
            );
            Ok(Some(support::EXIT_OK))
        }
        _ => Ok(None),
    }
}

//! `cavra connector …`: the API service's connectors of the token's tenant (admins), over
//! `/v1/connectors`.

use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::client::call;
use crate::support::{self, Failure};

/// Where the service is.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The API service (token from CAVRA_TOKEN; an admin's).
    #[arg(long, env = "CAVRA_SERVER", value_name = "URL")]
    pub server: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cavra connector …`
#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// The tenant's connectors: kind, destination, events, secrets (as references), dead
    /// letters.
    List(ServerArgs),
    /// Send a signed test event to one connector and show its delivery record once it is
    /// delivered or given up (exit 1 when it is not delivered).
    Test {
        /// The connector's name.
        name: String,
        /// How long to wait for the delivery, in seconds.
        #[arg(long, default_value_t = 30)]
        wait: u64,
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Deliveries, newest first; with --event, that event's deliveries and every attempt.
    Deliveries {
        /// Only in this state: pending, delivered, dead.
        #[arg(long)]
        state: Option<String>,
        /// Only to this connector.
        #[arg(long)]
        destination: Option<String>,
        /// One event (evt_…): its deliveries and attempts.
        #[arg(long)]
        event: Option<String>,
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Put dead letters back to pending (all of them, one event's, or one connector's).
    Retry {
        /// Only this event's.
        #[arg(long)]
        event: Option<String>,
        /// Only this connector's.
        #[arg(long)]
        destination: Option<String>,
        #[allow(missing_docs)] // flattened: clap takes the help from the inner struct's own fields
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Deliveries given up on: each is a blocker in the tenant's posture until retried.
    DeadLetters(ServerArgs),
}

/// Builds a query string of the given pairs (values percent-encoded).
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    let q = q.finish();
    if q.is_empty() { q } else { format!("?{q}") }
}

fn print_detail(detail: &Value) {
    print!("{}", cavra_runtime::text::delivery_detail(detail));
}

/// `cavra connector …`
pub fn run(command: &ConnectorCommand) -> Result<i32, Failure> {
    match command {
        ConnectorCommand::List(s) => {
            let list = call(&s.server, "GET", "/v1/connectors", None)?;
            crate::support::show(s.json, &list, &cavra_runtime::text::connectors(&list))
        }
        ConnectorCommand::Test { name, wait, server } => test(name, *wait, server),
        ConnectorCommand::Deliveries {
            state,
            destination,
            event,
            limit,
            server,
        } => {
            if let Some(event) = event {
                let detail = call(
                    &server.server,
                    "GET",
                    &format!("/v1/connectors/deliveries/{event}"),
                    None,
                )?;
                let text = cavra_runtime::text::delivery_detail(&detail);
                return support::show(server.json, &detail, &text);
            }
            let path = format!(
                "/v1/connectors/deliveries{}",
                query(&[
                    ("state", state.clone()),
                    ("destination", destination.clone()),
                    ("limit", limit.map(|l| l.to_string())),
                ])
            );
            let list = call(&server.server, "GET", &path, None)?;
            support::show(server.json, &list, &cavra_runtime::text::deliveries(&list))
        }
        ConnectorCommand::Retry {
            event,
            destination,
            server,
        } => {
            let answer = call(
                &server.server,
                "POST",
                "/v1/connectors/retry",
                Some(&json!({"event_id": event, "destination": destination})),
            )?;
            if server.json {
                support::print_json(&answer)?;
            } else {
                println!("{} dead letter(s) back to pending", answer["retried"]);
            }
            Ok(support::EXIT_OK)
        }
        ConnectorCommand::DeadLetters(s) => {
            let list = call(&s.server, "GET", "/v1/connectors/dead-letters", None)?;
            support::show(s.json, &list, &cavra_runtime::text::deliveries(&list))
        }
    }
}

/// Sends a test event, then follows its delivery until it is delivered or dead (or `wait`
/// seconds pass); prints the delivery record.
fn test(name: &str, wait: u64, s: &ServerArgs) -> Result<i32, Failure> {
    let sent = call(
        &s.server,
        "POST",
        &format!("/v1/connectors/{name}/test"),
        None,
    )?;
    let event = sent["event_id"]
        .as_str()
        .ok_or_else(|| Failure::Other(anyhow::anyhow!("the service sent no event id: {sent}")))?
        .to_string();
    let path = format!("/v1/connectors/deliveries/{event}");
    let (detail, delivered) = cavra_runtime::service::follow_deliveries(
        || call(&s.server, "GET", &path, None),
        Duration::from_secs(wait),
    )?;
    if s.json {
        support::print_json(&detail)?;
    } else {
        println!("test event {event} to {name}:");
        print_detail(&detail);
        if !delivered {
            println!("not delivered (yet): see the attempts above");
        }
    }
    Ok(if delivered {
        support::EXIT_OK
    } else {
        support::EXIT_ERROR
    })
}

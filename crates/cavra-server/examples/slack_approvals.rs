//! Issue 20's benchmark: approval requests delivered to Slack and answered from it, through
//! the real service (in process, SQLite, the connectors' worker running as `cavra serve` runs
//! it) and the loopback Slack stand-in of `cavra_connectors::slack::testing`.
//!
//! For each of N requests (default 1,000): *decision → message* is from the moment the
//! decision's answer arrives (the decision, its approval and the `approval.requested` event
//! committed) to the moment the stand-in receives the `chat.postMessage` carrying that
//! approval; *press → grant* is from sending the signed button press to its answer (the
//! approval granted and the press recorded, both durable). Decisions are made one after
//! another, then the presses one after another.
//!
//! ```sh
//! cargo run --release -p cavra-server --example slack_approvals -- 1000
//! ```

use std::time::{Duration, Instant};

use cavra_connectors::slack::testing::{StandIn, signed_press};
use cavra_server::{AppState, ServerConfig};
use serde_json::{Value, json};

const SECRET: &str = "benchmark-signing-secret";
const BOT: &str = "xoxb-benchmark";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn report(name: &str, mut d: Vec<Duration>) {
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    println!(
        "{name}: n {} p50 {:.1} ms p90 {:.1} ms p99 {:.1} ms max {:.1} ms",
        d.len(),
        ms(percentile(&d, 0.50)),
        ms(percentile(&d, 0.90)),
        ms(percentile(&d, 0.99)),
        ms(percentile(&d, 1.0)),
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let slack = StandIn::start(BOT);
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("signing"), SECRET).expect("secret");
    std::fs::write(dir.path().join("bot"), BOT).expect("token");
    let connectors = format!(
        "- name: chat\n  tenant: acme\n  events: [approval.requested]\n  slack:\n    api_url: {}\n    bot_token: file:{}\n    channel: C0APPROVALS\n    signing_secret: file:{}\n    approvers:\n      U0CAROL: {{subject: carol, groups: [Cloud Security]}}\n",
        slack.api_url(),
        dir.path().join("bot").display(),
        dir.path().join("signing").display()
    );
    let config = ServerConfig {
        database_url: format!("sqlite://{}", dir.path().join("bench.db").display()),
        require_signed_packs: false,
        connectors: cavra_connectors::ConnectorsConfig::from_yaml(&connectors).expect("yaml"),
        ..ServerConfig::default()
    };
    let state = AppState::new(config).await.expect("state");
    state.create_tenant("acme", "acme").await.expect("tenant");
    let (_, issued) = cavra_server::admin::create_token(
        &state.db,
        &cavra_server::admin::NewToken {
            tenant: "acme",
            role: cavra_identity::Role::Agent,
            subject: Some("bot"),
            groups: &[],
            expires_in_days: None,
        },
        time::OffsetDateTime::now_utc(),
    )
    .await
    .expect("token");
    let agent = issued.plaintext().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let limits = state.config.connections.clone();
    let app = cavra_server::app(state.clone());
    tokio::spawn(async move {
        cavra_server::serve_on(listener, app, &limits, std::future::pending()).await;
    });
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(
        cavra_server::connector_worker(&state)
            .expect("worker")
            .run(stopped),
    );
    let http = reqwest::Client::new();

    let mut decided: Vec<(String, Instant)> = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let body = json!({"request": {"action": "execute_command",
            "target": format!("terraform import module.m{i} id-{i}"),
            "session_id": "bench", "agent_id": "claude-code", "repository": "acme/infra"}});
        let v: Value = http
            .post(format!("{base}/v1/decisions"))
            .bearer_auth(&agent)
            .json(&body)
            .send()
            .await
            .expect("decide")
            .json()
            .await
            .expect("json");
        let id = v["approval"]["id"]
            .as_str()
            .expect("an approval")
            .to_string();
        decided.push((id, Instant::now()));
    }
    let decisions_took = started.elapsed();
    let posted = slack.until(n, |c| c.method == "chat.postMessage").await;
    assert_eq!(posted.len(), n, "every request reached Slack");
    assert!(
        posted.iter().all(|c| c.refused.is_none()),
        "Slack took every message"
    );
    // Each message by the approval its buttons carry.
    let arrived: std::collections::HashMap<String, Instant> = posted
        .iter()
        .filter_map(|c| {
            let blocks = c.body["blocks"].as_array()?;
            let actions = blocks.iter().find(|b| b["type"] == "actions")?;
            Some((actions["elements"][0]["value"].as_str()?.to_string(), c.at))
        })
        .collect();
    let mut to_message = Vec::with_capacity(n);
    for (id, at) in &decided {
        let got = arrived.get(&format!("acme:{id}")).expect("its message");
        to_message.push(got.saturating_duration_since(*at));
    }

    let mut to_grant = Vec::with_capacity(n);
    let started = Instant::now();
    for (id, _) in &decided {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let (headers, body) = signed_press(
            SECRET,
            now,
            "acme",
            id,
            "U0CAROL",
            true,
            &slack.response_url("bench"),
        );
        let mut req = http
            .post(format!("{base}/v1/integrations/slack/interactions"))
            .body(body);
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        let t0 = Instant::now();
        let v: Value = req.send().await.expect("press").json().await.expect("json");
        to_grant.push(t0.elapsed());
        assert_eq!(v["outcome"], "approved", "{v}");
    }
    let presses_took = started.elapsed();
    let updated = slack.until(n, |c| c.method == "chat.update").await;
    assert_eq!(updated.len(), n, "every message updated");

    println!(
        "{n} approval requests: decisions {:.1} s, presses {:.1} s",
        decisions_took.as_secs_f64(),
        presses_took.as_secs_f64()
    );
    report("decision -> message", to_message);
    report("press -> grant", to_grant);
}

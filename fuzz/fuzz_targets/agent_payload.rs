//! Fuzzes the agents' hook payload adapters and the JSON request parser: arbitrary bytes as a
//! hook's stdin must yield an event, a request set or an error — never a panic.
#![no_main]

use cavra_agents::{map_tool, parse_event, Agent, Context};
use libfuzzer_sys::fuzz_target;

const AGENTS: [Agent; 5] = [Agent::ClaudeCode, Agent::Codex, Agent::Cursor, Agent::Gemini, Agent::Copilot];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let agent = AGENTS[usize::from(selector) % AGENTS.len()];
    let _ = serde_json::from_slice::<cavra_engine::Request>(rest);
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(rest) else { return };
    let ctx = Context { cwd: "/repo".into(), repo_root: "/repo".into(), home: Some("/home/u".into()) };
    if let Ok(event) = parse_event(agent, &payload) {
        let _ = map_tool(&event, &ctx);
    }
});

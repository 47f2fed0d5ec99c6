use super::*;
use crate::events::parse_event;
use crate::tools::tools_of;
use serde_json::json;

fn ctx() -> Context {
    Context {
        cwd: "/repo".into(),
        repo_root: "/repo".into(),
        home: None,
        known_mcp_servers: Vec::new(),
    }
}

/// A payload for the agent's pre-tool event with this tool and input, in the agent's own
/// wire shape.
fn pre(agent: Agent, tool: &str, input: Value) -> HookEvent {
    let payload = match agent {
        Agent::ClaudeCode | Agent::Codex => {
            json!({"hook_event_name": "PreToolUse", "session_id": "s", "cwd": "/repo", "tool_name": tool, "tool_input": input, "tool_use_id": "t"})
        }
        Agent::Gemini => {
            json!({"hook_event_name": "BeforeTool", "session_id": "s", "cwd": "/repo", "tool_name": tool, "tool_input": input})
        }
        Agent::Cursor => {
            json!({"hook_event_name": "preToolUse", "conversation_id": "c", "workspace_roots": ["/repo"], "tool_name": tool, "tool_input": input})
        }
        Agent::Copilot => {
            json!({"timestamp": 1, "cwd": "/repo", "toolName": tool, "toolArgs": input.to_string()})
        }
    };
    parse_event(agent, &payload).expect("valid payload")
}

/// A representative input for a tool of this effect, and the actions it must become.
fn sample(effect: Effect) -> (Value, Vec<ActionType>) {
    use ActionType::*;
    let first = |keys: &[&str]| keys.first().copied().unwrap_or("path").to_string();
    match effect {
        Effect::Command(keys) => (json!({ first(keys): "ls -la" }), vec![ExecuteCommand]),
        Effect::Read(keys) | Effect::ReadOrWorkspace(keys) => {
            (json!({ first(keys): "/repo/src/main.rs" }), vec![ReadFile])
        }
        Effect::Write(keys) => (json!({ first(keys): "/repo/src/main.rs" }), vec![WriteFile]),
        Effect::Delete(keys) => (json!({ first(keys): "/repo/old.rs" }), vec![DeleteFile]),
        Effect::Search { path, filter } => {
            let mut input = json!({"pattern": "x", first(path): "/repo/src"});
            let mut actions = vec![ReadFile];
            if let Some(f) = filter.first() {
                input[*f] = json!("*.rs");
                actions.push(ReadFile);
            }
            (input, actions)
        }
        Effect::ReadList(keys) => (
            json!({ first(keys): ["a.rs", "b.rs"] }),
            vec![ReadFile, ReadFile],
        ),
        Effect::Fetch => (
            json!({"url": "https://example.com/", "prompt": "summarise"}),
            vec![NetworkRequest],
        ),
        Effect::Patch => (
            json!({"command": "*** Begin Patch\n*** Add File: a.rs\n+x\n*** End Patch"}),
            vec![WriteFile],
        ),
        Effect::McpOperation { .. } => (
            json!({"server": "docs", "uri": "file:///x"}),
            vec![McpToolCall],
        ),
        Effect::Monitor => (
            json!({"command": "tail -f log", "timeout_ms": 1000, "description": "d"}),
            vec![ExecuteCommand],
        ),
        Effect::EnterWorktree => (json!({"name": "feature"}), vec![ExecuteCommand]),
        Effect::ExitWorktree => (json!({"action": "remove"}), vec![ExecuteCommand]),
        Effect::Upload => (json!({"file_path": "/repo/report.html"}), vec![ReadFile]),
        Effect::Workflow => (
            json!({"scriptPath": "/repo/.claude/workflows/w.js"}),
            vec![ReadFile],
        ),
        Effect::Harmless(_) | Effect::Opaque(_) => (json!({}), vec![]),
    }
}

/// Every tool of every agent's table, sent in that agent's own payload shape, becomes the
/// requests its effect says; harmless tools no request; opaque ones the unknown-tool
/// decision — none of them is the "cavra does not know" answer.
#[test]
fn every_tool_of_every_agent_maps_by_its_effect() {
    for agent in Agent::ALL {
        for tool in tools_of(agent) {
            let (input, actions) = sample(tool.effect);
            let mapped = map_tool(&pre(agent, tool.name, input.clone()), &ctx());
            match (tool.effect, &mapped) {
                (Effect::Harmless(_), Mapping::Harmless { .. }) => {}
                (Effect::Opaque(why), Mapping::Unknown { reason }) => {
                    assert!(reason.contains(why), "{agent} {}: {reason}", tool.name)
                }
                (_, Mapping::Requests(requests)) => assert_eq!(
                    requests.iter().map(|r| r.action).collect::<Vec<_>>(),
                    actions,
                    "{agent} {} {input}",
                    tool.name
                ),
                _ => panic!("{agent} {}: {mapped:?}", tool.name),
            }
            // The same tool without the input it needs is never allowed silently.
            if !matches!(tool.effect, Effect::Harmless(_) | Effect::Opaque(_))
                && !matches!(
                    tool.effect,
                    Effect::Search { .. }
                        | Effect::ReadOrWorkspace(_)
                        | Effect::McpOperation {
                            needs_server: false,
                            ..
                        }
                        | Effect::EnterWorktree
                        | Effect::ExitWorktree
                        | Effect::Upload
                        | Effect::Workflow
                )
            {
                assert!(
                    matches!(
                        map_tool(&pre(agent, tool.name, json!({})), &ctx()),
                        Mapping::Invalid { .. }
                    ),
                    "{agent} {} without input",
                    tool.name
                );
            }
        }
    }
}

#[test]
fn unknown_tools_are_unknown_in_every_agent() {
    for agent in Agent::ALL {
        match map_tool(&pre(agent, "Teleport", json!({"to": "prod"})), &ctx()) {
            Mapping::Unknown { reason } => {
                assert!(reason.contains("does not know"), "{agent}: {reason}")
            }
            other => panic!("{agent}: {other:?}"),
        }
    }
}

#[test]
fn argv_commands_are_joined_as_the_shell_would_run_them() {
    let e = pre(
        Agent::Codex,
        "shell",
        json!({"command": ["bash", "-lc", "rm -rf 'build dir' && echo ok"]}),
    );
    match map_tool(&e, &ctx()) {
        Mapping::Requests(r) => assert_eq!(
            r[0].target,
            r#"bash -lc 'rm -rf '\''build dir'\'' && echo ok'"#
        ),
        other => panic!("{other:?}"),
    }
}

fn server_and_tool(m: Mapping) -> (String, String) {
    match m {
        Mapping::Requests(r) if r.len() == 1 => (
            r[0].server.clone().unwrap_or_default(),
            r[0].tool.clone().unwrap_or_default(),
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn mcp_names_per_agent() {
    let c = ctx();
    for agent in [Agent::ClaudeCode, Agent::Codex] {
        assert_eq!(
            server_and_tool(map_tool(
                &pre(agent, "mcp__github__create_issue", json!({"title": "t"})),
                &c
            )),
            ("github".into(), "create_issue".into())
        );
    }
    // Gemini: `mcp_<server>_<tool>` with mcp_context naming the server and the tool.
    let e = parse_event(
        Agent::Gemini,
        &json!({"hook_event_name": "BeforeTool", "tool_name": "mcp_git_hub_create_issue", "tool_input": {}, "mcp_context": {"server_name": "git_hub", "tool_name": "create_issue"}}),
    )
    .expect("gemini");
    assert_eq!(
        server_and_tool(map_tool(&e, &c)),
        ("git_hub".into(), "create_issue".into())
    );
    // Without mcp_context a name with one reading is split; one with several needs the
    // known servers.
    assert_eq!(
        server_and_tool(map_tool(
            &pre(Agent::Gemini, "mcp_docs_search", json!({})),
            &c
        )),
        ("docs".into(), "search".into())
    );
    let e = pre(Agent::Gemini, "mcp_github_create_issue", json!({}));
    assert!(needs_known_servers(&e));
    assert!(matches!(map_tool(&e, &c), Mapping::Unknown { .. }));
    let mut known = ctx();
    known.known_mcp_servers = vec!["github".into()];
    assert_eq!(
        server_and_tool(map_tool(&e, &known)),
        ("github".into(), "create_issue".into())
    );
    // Cursor: `MCP:<server>:<tool>` in preToolUse and beforeMCPExecution.
    assert_eq!(
        server_and_tool(map_tool(
            &pre(Agent::Cursor, "MCP:github:create_issue", json!({})),
            &c
        )),
        ("github".into(), "create_issue".into())
    );
    assert!(matches!(
        map_tool(&pre(Agent::Cursor, "MCP:create_issue", json!({})), &c),
        Mapping::Unknown { .. }
    ));
    // Copilot: `<server-key>-<tool>`; its built-in GitHub server is always known.
    assert_eq!(
        server_and_tool(map_tool(
            &pre(Agent::Copilot, "github-mcp-server-list_issues", json!({})),
            &c
        )),
        ("github-mcp-server".into(), "list_issues".into())
    );
    assert_eq!(
        server_and_tool(map_tool(&pre(Agent::Copilot, "docs-search", json!({})), &c)),
        ("docs".into(), "search".into())
    );
    let e = pre(Agent::Copilot, "my-docs-search", json!({}));
    assert!(matches!(map_tool(&e, &c), Mapping::Unknown { .. }));
    let mut known = ctx();
    known.known_mcp_servers = vec!["my-docs".into()];
    assert_eq!(
        server_and_tool(map_tool(&e, &known)),
        ("my-docs".into(), "search".into())
    );
}

/// 15.6: `mcp__github__shady__exec` is not read as server `github` just because that is
/// the first split; it is split by the known servers, else it needs approval.
#[test]
fn an_ambiguous_mcp_name_is_split_by_known_servers_or_needs_approval() {
    let e = pre(Agent::ClaudeCode, "mcp__github__shady__exec", json!({}));
    assert!(needs_known_servers(&e));
    match map_tool(&e, &ctx()) {
        Mapping::Unknown { reason } => {
            assert!(
                reason.contains("server `github` tool `shady__exec`"),
                "{reason}"
            );
            assert!(
                reason.contains("server `github__shady` tool `exec`"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    let mut one = ctx();
    one.known_mcp_servers = vec!["github__shady".into()];
    assert_eq!(
        server_and_tool(map_tool(&e, &one)),
        ("github__shady".into(), "exec".into())
    );
    let mut both = ctx();
    both.known_mcp_servers = vec!["github".into(), "github__shady".into()];
    assert!(matches!(map_tool(&e, &both), Mapping::Unknown { .. }));
    // An unambiguous name needs no lookup.
    assert!(!needs_known_servers(&pre(
        Agent::ClaudeCode,
        "mcp__github__create_issue",
        json!({})
    )));
}

fn mcp_of(agent: Agent, name: &str, known: &[&str]) -> Mapping {
    let mut c = ctx();
    c.known_mcp_servers = known.iter().map(|k| k.to_string()).collect();
    map_tool(&pre(agent, name, json!({})), &c)
}

/// Claude Code names a plugin's MCP tools `mcp__plugin_<plugin>_<server>__<tool>`: the
/// server is the plugin's (`plugin:<plugin>:<server>`, as Claude Code names it), split by
/// the known servers when the plugin or server name holds the separator, else approval.
#[test]
fn claude_code_plugin_tool_names_are_the_plugins_servers() {
    let one = "mcp__plugin_asana_asana__asana_create_task";
    assert_eq!(
        server_and_tool(mcp_of(Agent::ClaudeCode, one, &[])),
        ("plugin:asana:asana".into(), "asana_create_task".into())
    );
    assert!(needs_known_servers(&pre(Agent::ClaudeCode, one, json!({}))));
    // Not the server of the same name configured in .mcp.json.
    assert_eq!(
        server_and_tool(mcp_of(Agent::ClaudeCode, one, &["asana"])),
        ("plugin:asana:asana".into(), "asana_create_task".into())
    );
    assert_eq!(
        server_and_tool(mcp_of(
            Agent::ClaudeCode,
            "mcp__plugin_yellow-linear_linear__list_issues",
            &[]
        )),
        ("plugin:yellow-linear:linear".into(), "list_issues".into())
    );
    // `my_tools` + `db` or `my` + `tools_db`: the registry decides, else approval.
    let two = "mcp__plugin_my_tools_db__query";
    match mcp_of(Agent::ClaudeCode, two, &[]) {
        Mapping::Unknown { reason } => {
            assert!(
                reason.contains("server `plugin:my:tools_db` tool `query`"),
                "{reason}"
            );
            assert!(
                reason.contains("server `plugin:my_tools:db` tool `query`"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        server_and_tool(mcp_of(Agent::ClaudeCode, two, &["plugin:my_tools:db"])),
        ("plugin:my_tools:db".into(), "query".into())
    );
    assert!(matches!(
        mcp_of(
            Agent::ClaudeCode,
            two,
            &["plugin:my_tools:db", "plugin:my:tools_db"]
        ),
        Mapping::Unknown { .. }
    ));
    // A plugin or server name with other characters is flattened by Claude Code.
    assert_eq!(
        server_and_tool(mcp_of(
            Agent::ClaudeCode,
            "mcp__plugin_acme_team_db__query",
            &["plugin:acme.team:db"]
        )),
        ("plugin:acme.team:db".into(), "query".into())
    );
    // A tool name with `__` in a plugin's server: more than one reading.
    assert!(matches!(
        mcp_of(Agent::ClaudeCode, "mcp__plugin_a_b__x__y", &[]),
        Mapping::Unknown { .. }
    ));
    assert_eq!(
        server_and_tool(mcp_of(
            Agent::ClaudeCode,
            "mcp__plugin_a_b__x__y",
            &["plugin:a:b"]
        )),
        ("plugin:a:b".into(), "x__y".into())
    );
    // A server configured under the name `plugin_…` is read so only when it is known;
    // known beside a plugin reading, it is ambiguous.
    assert_eq!(
        server_and_tool(mcp_of(Agent::ClaudeCode, one, &["plugin_asana_asana"])),
        ("plugin_asana_asana".into(), "asana_create_task".into())
    );
    assert!(matches!(
        mcp_of(
            Agent::ClaudeCode,
            one,
            &["plugin_asana_asana", "plugin:asana:asana"]
        ),
        Mapping::Unknown { .. }
    ));
    // Other agents have no plugin namespace: Codex's name is its server's.
    assert_eq!(
        server_and_tool(mcp_of(Agent::Codex, one, &[])),
        ("plugin_asana_asana".into(), "asana_create_task".into())
    );
}

/// Claude Code writes a server name's other characters as `_`: the registry's spelling
/// settles the name and is the server decided.
#[test]
fn claude_code_flattened_server_names_are_matched_in_the_registrys_spelling() {
    let name = "mcp__my_docs__search";
    assert!(needs_known_servers(&pre(
        Agent::ClaudeCode,
        name,
        json!({})
    )));
    assert_eq!(
        server_and_tool(mcp_of(Agent::ClaudeCode, name, &["my.docs"])),
        ("my.docs".into(), "search".into())
    );
    assert_eq!(
        server_and_tool(mcp_of(Agent::ClaudeCode, name, &[])),
        ("my_docs".into(), "search".into())
    );
    assert!(matches!(
        mcp_of(Agent::ClaudeCode, name, &["my.docs", "my_docs"]),
        Mapping::Unknown { .. }
    ));
    assert_eq!(
        flattened_server_name("plugin:acme.team:db"),
        "plugin_acme_team_db"
    );
}

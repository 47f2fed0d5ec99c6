//! `cavra init claude-code --wrap-mcp`: every stdio MCP server of the project's .mcp.json runs
//! behind `cavra mcp proxy`, with a command that starts wherever the file is checked out.

use serde_json::{Value, json};

/// The project's MCP configuration file (Claude Code).
pub const MCP_JSON: &str = ".mcp.json";

/// The program the wrapped servers run: `cavra`, found through PATH. .mcp.json is committed,
/// so a machine-local absolute path would not start on a teammate's machine, in CI or in a
/// cloud agent (and an MCP server that cannot start is simply missing, not governed).
pub const PROXY_PROGRAM: &str = "cavra";

/// Whether a server entry is one `--wrap-mcp` wrote: `<…/cavra> mcp proxy … -- <command …>`.
fn is_wrapped(server: &Value) -> bool {
    let program = server.get("command").and_then(Value::as_str).unwrap_or("");
    let args: Vec<&str> = server
        .get("args")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    program.rsplit('/').next() == Some("cavra")
        && args.first() == Some(&"mcp")
        && args.get(1) == Some(&"proxy")
        && args.contains(&"--")
}

/// Puts every stdio server of an .mcp.json document behind the proxy (or, `undo`, takes it
/// back out). Servers reached by URL are left as they are and named in the notes.
pub fn wrap_mcp_servers(mut doc: Value, undo: bool) -> (Value, Vec<String>) {
    let mut notes = Vec::new();
    let Some(servers) = doc.get_mut("mcpServers").and_then(Value::as_object_mut) else {
        return (doc, notes);
    };
    for (name, server) in servers.iter_mut() {
        let Some(obj) = server.as_object_mut() else {
            continue;
        };
        if undo {
            if !is_wrapped(&Value::Object(obj.clone())) {
                continue;
            }
            let args: Vec<Value> = obj
                .get("args")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let split = args.iter().position(|a| a == "--").map(|i| i + 1);
            let original = split.map(|i| args[i..].to_vec()).unwrap_or_default();
            let Some((command, rest)) = original.split_first() else {
                continue;
            };
            obj.insert("command".into(), command.clone());
            // An original `"args": []` comes back as no `args`: the same command.
            if rest.is_empty() {
                obj.remove("args");
            } else {
                obj.insert("args".into(), Value::Array(rest.to_vec()));
            }
            continue;
        }
        let Some(command) = obj
            .get("command")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            if obj.contains_key("url") {
                notes.push(format!(
                    "MCP server `{name}` is reached by URL and was not wrapped; run `cavra mcp proxy --server-name {name} --upstream-url URL` as its command to govern it"
                ));
            }
            continue;
        };
        if is_wrapped(server) {
            // Wrapped by an older cavra with this machine's absolute path: made portable.
            if command != PROXY_PROGRAM {
                obj_command(server, PROXY_PROGRAM);
            }
            continue;
        }
        let Some(obj) = server.as_object_mut() else {
            continue;
        };
        let original_args: Vec<Value> = obj
            .get("args")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut args = vec![
            json!("mcp"),
            json!("proxy"),
            json!("--server-name"),
            json!(name),
            json!("--"),
            json!(command),
        ];
        args.extend(original_args);
        obj.insert("command".into(), json!(PROXY_PROGRAM));
        obj.insert("args".into(), Value::Array(args));
    }
    (doc, notes)
}

fn obj_command(server: &mut Value, program: &str) {
    if let Some(obj) = server.as_object_mut() {
        obj.insert("command".into(), json!(program));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_run_behind_cavra_found_through_path_and_old_absolute_wrappers_are_upgraded() {
        let doc = json!({"mcpServers": {
            "files": {"command": "npx", "args": ["-y", "pkg", "/tmp"]},
            "old": {"command": "/home/someone/.cargo/bin/cavra",
                "args": ["mcp", "proxy", "--server-name", "old", "--", "my-server"]},
        }});
        let (wrapped, notes) = wrap_mcp_servers(doc, false);
        assert!(notes.is_empty());
        assert_eq!(wrapped["mcpServers"]["files"]["command"], "cavra");
        assert_eq!(
            wrapped["mcpServers"]["files"]["args"],
            json!([
                "mcp",
                "proxy",
                "--server-name",
                "files",
                "--",
                "npx",
                "-y",
                "pkg",
                "/tmp"
            ])
        );
        assert_eq!(wrapped["mcpServers"]["old"]["command"], "cavra");
        assert_eq!(
            wrapped["mcpServers"]["old"]["args"],
            json!(["mcp", "proxy", "--server-name", "old", "--", "my-server"])
        );
        let (restored, _) = wrap_mcp_servers(wrapped, true);
        assert_eq!(restored["mcpServers"]["files"]["command"], "npx");
        assert_eq!(restored["mcpServers"]["old"]["command"], "my-server");
    }
}

"""Drives `cavra mcp serve` with the official Python MCP SDK client and checks every tool.

usage: serve_client.py VERSION (stdio CAVRA REPO | http URL)
VERSION: 2025-06-18 | 2025-11-25 (handshake era) | 2026-07-28 (stateless) | auto
Prints one JSON line with what was observed; exits non-zero on the first failed check.
"""

import asyncio
import json
import sys

import mcp.client.session as client_session
from mcp import Client, StdioServerParameters


def check(cond, what):
    if not cond:
        print(f"CHECK FAILED: {what}", file=sys.stderr)
        sys.exit(1)


async def main(version, transport, rest):
    mode = version
    if version in ("2025-06-18", "2025-11-25"):
        # The SDK offers its newest handshake version; offer the one under test instead.
        client_session.LATEST_HANDSHAKE_VERSION = version
        mode = "legacy"
    if transport == "stdio":
        cavra, repo = rest
        server = StdioServerParameters(command=cavra, args=["mcp", "serve"], cwd=repo)
    else:
        server = rest[0]
    seen = {}
    async with Client(server, mode=mode, cache=None) as c:
        seen["protocol_version"] = c.protocol_version
        if version != "auto":
            check(c.protocol_version == version, f"negotiated {c.protocol_version}, wanted {version}")
        tools = (await c.list_tools()).tools
        names = [t.name for t in tools]
        seen["tools"] = names
        expected = {
            "evaluate_action", "explain_decision", "request_approval", "approval_status",
            "list_policies", "validate_policy", "session_summary", "evidence_bundle",
        }
        check(set(names) == expected, f"tools {names}")
        for t in tools:
            check(all(ch.islower() or ch.isdigit() or ch == "_" for ch in t.name), f"name {t.name}")
            check(t.input_schema.get("type") == "object", f"{t.name} input schema")
            check(t.output_schema and t.output_schema.get("type") == "object", f"{t.name} output schema")

        async def call(name, args):
            r = await c.call_tool(name, args)
            check(not r.is_error, f"{name} failed: {r.content}")
            check(isinstance(r.structured_content, dict), f"{name} has structured output")
            return r.structured_content

        r = await call("evaluate_action", {"action": "read_file", "target": ".env"})
        check(r["decision"] == "block" and r["recorded"], f"read .env: {r}")
        blocked_id = r["decision_id"]
        r = await call("evaluate_action", {"action": "read_file", "target": "src/lib.rs"})
        check(r["decision"] == "allow" and r["may_proceed"], f"read src: {r}")
        r = await call("evaluate_action", {"action": "mcp_tool_call", "server": "unknown-srv", "tool": "x"})
        check(r["decision"] == "block", f"mcp call: {r}")
        r = await call("request_approval", {"action": "execute_command", "target": "make deploy"})
        check(r["decision"] == "require_approval" and r["approval_id"], f"approval: {r}")
        approval = r["approval_id"]
        seen["approval_id"] = approval
        r = await call("approval_status", {"approval_id": approval})
        check(r["state"] == "pending", f"status: {r}")
        r = await call("explain_decision", {"decision_id": blocked_id})
        check(r["decision"] == "block" and r["matched_rules"], f"explain id: {r}")
        r = await call("explain_decision", {"action": "execute_command", "target": "cat .env | head"})
        check(r["decision"] == "block" and not r["recorded"] and r["subjects"], f"explain action: {r}")
        r = await call("list_policies", {})
        check(r["active"]["id"] and any(p["id"] == "cavra-baseline" for p in r["builtin"]), f"policies: {r}")
        r = await call("validate_policy", {"yaml": "metadata: {id: x, version: '1'}\nrules: []\n"})
        check(r["valid"] and r["id"] == "x", f"valid: {r}")
        r = await call("validate_policy", {"yaml": "metadata: {id: x, version: '1'}\nrulez: []\n"})
        check(not r["valid"] and r["line"], f"invalid: {r}")
        r = await call("session_summary", {})
        check(r["found"] and r["decisions"] >= 4 and r["blocked"] >= 2, f"summary: {r}")
        seen["session_id"] = r["session_id"]
        r = await call("evidence_bundle", {})
        check(r["entries"] >= 4 and r["signed_by"], f"bundle: {r}")
        seen["bundle"] = r["dir"]
        seen["signed_by"] = r["signed_by"]

        # Bad input is a tool error, not a crash.
        bad = await c.call_tool("evaluate_action", {"action": "teleport"})
        check(bad.is_error, "bad action is an error")
        bad = await c.call_tool("validate_policy", {"path": "../../etc/passwd"})
        check(bad.is_error, "path outside the repository is refused")
        bad = await c.call_tool("no_such_tool", {})
        check(bad.is_error, "unknown tool is an error")
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))

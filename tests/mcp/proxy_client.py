"""Drives `cavra mcp proxy` in front of upstream_server.py with the Python SDK client.

usage: proxy_client.py MODE CAVRA REPO UPSTREAM_LOG SCENARIO
MODE: legacy | 2026-07-28. SCENARIO: main | changed | crash | hang.
Prints one JSON line of observations; exits non-zero on a failed check.
"""

import asyncio
import json
import os
import subprocess
import sys

from mcp import Client, StdioServerParameters

HERE = os.path.dirname(os.path.abspath(__file__))


def check(cond, what):
    if not cond:
        print(f"CHECK FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def text(result):
    return " ".join(getattr(c, "text", "") for c in result.content)


async def main(mode, cavra, repo, log, scenario):
    env = dict(os.environ)
    env["UPSTREAM_LOG"] = log
    if scenario == "changed":
        env["UPSTREAM_VARIANT"] = "changed"
    args = ["mcp", "proxy", "--server-name", "files", "--session-id", f"proxy-{scenario}-{mode}"]
    if scenario == "hang":
        args += ["--call-timeout", "2"]
    if os.environ.get("UPSTREAM_URL"):
        args += ["--upstream-url", os.environ["UPSTREAM_URL"]]
    else:
        args += ["--", sys.executable, os.path.join(HERE, "upstream_server.py")]
    server = StdioServerParameters(command=cavra, args=args, cwd=repo, env=env)
    seen = {}
    async with Client(server, mode=mode, cache=None, read_timeout_seconds=60) as c:
        seen["protocol_version"] = c.protocol_version
        names = sorted(t.name for t in (await c.list_tools()).tools)
        seen["tools"] = names
        if scenario == "main":
            check("run_command" not in names, f"blocked tool hidden: {names}")
            check({"add", "read_file", "write_note"} <= set(names), f"tools: {names}")
            r = await c.call_tool("add", {"a": 1, "b": 2})
            check(not r.is_error and r.structured_content == {"result": 3}, f"add: {r}")
            r = await c.call_tool("run_command", {"command": "id"})
            check(r.is_error and "shell through MCP" in text(r), f"blocked: {r}")
            r = await c.call_tool("write_note", {"text": "hi"})
            check(r.is_error and "apr_" in text(r), f"approval: {r}")
            approval = next(w for w in text(r).replace(".", " ").split() if w.startswith("apr_"))
            seen["approval"] = approval
            out = subprocess.run(
                [cavra, "approval", "approve", approval, "--reason", "ok", "--actor", "alice"],
                cwd=repo, capture_output=True, text=True,
            )
            check(out.returncode == 0, f"approve: {out.stdout}{out.stderr}")
            r = await c.call_tool("write_note", {"text": "hi"})
            check(not r.is_error and "noted" in text(r), f"approved retry: {r}")
            r = await c.call_tool("write_note", {"text": "hi"})
            check(r.is_error and "apr_" in text(r), f"an approval is used once: {r}")
            r = await c.call_tool("read_file", {"path": "notes.txt"})
            check(not r.is_error and "ghp_" in text(r), f"read_file: {r}")
        elif scenario == "changed":
            check("add" not in names, f"changed tool hidden: {names}")
            r = await c.call_tool("add", {"a": 1, "b": 2})
            check(r.is_error and "changed its description" in text(r), f"changed: {r}")
        elif scenario == "crash":
            r = await c.call_tool("crash", {})
            check(r.is_error and "went away" in text(r), f"crash: {r}")
        elif scenario == "hang":
            r = await c.call_tool("hang", {})
            check(r.is_error and "did not answer" in text(r), f"hang: {r}")
            r = await c.call_tool("add", {"a": 2, "b": 2})
            check(not r.is_error and r.structured_content == {"result": 4}, f"after a hang: {r}")
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))

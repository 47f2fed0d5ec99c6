#!/usr/bin/env python3
"""Hook cost as the agent sees it: one Claude Code session of N tool calls (default 50) run
three times — without hooks, with the same hooks each running `true` (the agent's own cost of
running a hook), and with cavra's hooks (`cavra init claude-code`, as a user has them) — and
the per-call p50 of each, measured two ways:

* the agent's own timing: the transcript's timestamps of each `tool_use` and its `tool_result`
  (the call as Claude Code ran it, its PreToolUse and PostToolUse hooks included);
* a wrapper: the model stand-in's clock, from answering turn n to being asked for turn n+1
  (the same call plus the agent's own bookkeeping between turns).

The model is a stand-in for the Messages API on loopback (each turn one `Read` of a small file,
then a final text); every other address is a closed loopback port. Nothing leaves the machine.

Usage (from the repository root, after `npm ci --prefix tests/agents/node --ignore-scripts`
and a build):
  python3 benches/agent/hook_cost.py --bin target/release [--calls 50] [--json]
`--bin` is the folder holding `cavra` and `cavra-hook`; `--claude` defaults to the pinned
Claude Code in tests/agents/node. Figures taken on a loaded machine say little: run it on a
quiet one.
"""

import argparse
import http.server
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def default_claude():
    arch = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    base = REPO / "tests/agents/node/node_modules/@anthropic-ai"
    for p in (base / f"claude-code-linux-{arch}/claude", base / f"claude-code-linux-{arch}-musl/claude"):
        if p.is_file():
            return p
    sys.exit(f"Claude Code is not installed: npm ci --prefix tests/agents/node --ignore-scripts (looked in {base})")


def sse(event, data):
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def answer(step, calls, root, model):
    out = sse("message_start", {"type": "message_start", "message": {"id": f"msg_{step}", "type": "message", "role": "assistant", "model": model, "content": [], "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}})
    if step < calls:
        inp = {"file_path": f"{root}/files/f{step:03}.txt"}
        out += sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": f"toolu_{step:03}", "name": "Read", "input": {}}})
        out += sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": json.dumps(inp)}})
        stop = "tool_use"
    else:
        out += sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        out += sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "done"}})
        stop = "end_turn"
    out += sse("content_block_stop", {"type": "content_block_stop", "index": 0})
    out += sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 1}})
    out += sse("message_stop", {"type": "message_stop"})
    return out


class StandIn:
    """The Messages API stand-in; records when it answered each step and when each arrived."""

    def __init__(self, calls, root):
        self.calls, self.root = calls, root
        self.answered, self.asked = {}, {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                now = time.monotonic()
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                if self.path.startswith("/v1/messages") and "count_tokens" not in self.path:
                    step = sum(1 for m in body.get("messages", []) if isinstance(m.get("content"), list)
                               for c in m["content"] if c.get("type") == "tool_result")
                    outer.asked.setdefault(step, now)
                    payload, ctype = answer(step, outer.calls, outer.root, body.get("model", "claude")), "text/event-stream"
                else:
                    payload, ctype, step = json.dumps({"input_tokens": 1}), "application/json", None
                data = payload.encode()
                self.send_response(200)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if step is not None:
                    outer.answered.setdefault(step, time.monotonic())

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wrapper_ms(self):
        return [(self.asked[n + 1] - self.answered[n]) * 1000 for n in range(self.calls)
                if n in self.answered and n + 1 in self.asked]


def transcript_ms(home, session):
    """Per call: tool_result timestamp − tool_use timestamp, from Claude Code's transcript."""
    files = list((home / ".claude/projects").glob(f"*/{session}.jsonl"))
    if not files:
        return []
    used, done = {}, {}
    for line in files[0].read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        at = entry.get("timestamp")
        content = (entry.get("message") or {}).get("content")
        if not at or not isinstance(content, list):
            continue
        t = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
        for c in content:
            if c.get("type") == "tool_use":
                used.setdefault(c["id"], t)
            elif c.get("type") == "tool_result":
                done.setdefault(c["tool_use_id"], t)
    return [(done[i] - used[i]) * 1000 for i in used if i in done]


def session(claude, bin_dir, calls, hooks):
    work = Path(tempfile.mkdtemp(prefix="cavra-hook-cost-"))
    try:
        repo, home, run = work / "repo", work / "home", work / "run"
        for d in (repo / "files", home, run):
            d.mkdir(parents=True)
        for n in range(calls):
            (repo / "files" / f"f{n:03}.txt").write_text(f"file {n}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CAVRA_", "ANTHROPIC_"))}
        env.update(PATH=f"{bin_dir}:{env.get('PATH', '')}", HOME=str(home), XDG_RUNTIME_DIR=str(run),
                   HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9", NO_PROXY="127.0.0.1,localhost")
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        if hooks:
            subprocess.run(["cavra", "init", "claude-code"], cwd=repo, env=env, check=True, capture_output=True)
        if hooks == "empty":
            # The same events and matchers, each running `true`: the agent's own cost of
            # running a hook, which cavra's figure includes.
            settings = repo / ".claude" / "settings.json"
            doc = json.loads(settings.read_text())
            for groups in doc.get("hooks", {}).values():
                for group in groups:
                    for hook in group.get("hooks", []):
                        hook["command"] = "true"
            settings.write_text(json.dumps(doc, indent=2))
        stand_in = StandIn(calls, str(repo))
        env.update(ANTHROPIC_BASE_URL=stand_in.url, ANTHROPIC_API_KEY="sk-loopback",
                   CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", DISABLE_AUTOUPDATER="1",
                   DISABLE_TELEMETRY="1", DISABLE_ERROR_REPORTING="1")
        started = time.monotonic()
        out = subprocess.run([str(claude), "-p", "Read the files.", "--output-format", "json"],
                             cwd=repo, env=env, capture_output=True, text=True, timeout=900)
        wall = time.monotonic() - started
        if hooks == "cavra":
            subprocess.run(["cavra", "hook", "daemon", "stop"], cwd=repo, env=env, capture_output=True)
        if out.returncode != 0:
            sys.exit(f"claude -p failed (hooks: {hooks or 'none'}): {out.stdout}\n{out.stderr}")
        result = json.loads(out.stdout)
        agent = transcript_ms(home, result.get("session_id", ""))
        wrapper = stand_in.wrapper_ms()
        stand_in.server.shutdown()
        if len(agent) != calls:
            sys.exit(f"expected {calls} calls in the transcript, found {len(agent)}")
        return {"calls": calls, "wall_s": round(wall, 2),
                "agent_p50_ms": round(statistics.median(agent), 2),
                "wrapper_p50_ms": round(statistics.median(wrapper), 2) if wrapper else None}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="folder holding cavra and cavra-hook")
    ap.add_argument("--claude", help="Claude Code's binary (default: the pinned one)")
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    bin_dir = Path(a.bin).resolve()
    if not (bin_dir / "cavra").is_file():
        sys.exit(f"no cavra in {bin_dir}")
    claude = Path(a.claude) if a.claude else default_claude()
    without = session(claude, bin_dir, a.calls, hooks=None)
    empty = session(claude, bin_dir, a.calls, hooks="empty")
    with_hooks = session(claude, bin_dir, a.calls, hooks="cavra")
    figures = {"load_average": os.getloadavg(), "without_hooks": without, "with_empty_hooks": empty,
               "with_cavra_hooks": with_hooks,
               "hook_cost_p50_ms": round(with_hooks["agent_p50_ms"] - without["agent_p50_ms"], 2),
               "cavra_over_empty_hooks_p50_ms": round(with_hooks["agent_p50_ms"] - empty["agent_p50_ms"], 2)}
    if a.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"load average: {figures['load_average']}")
    print("| session | calls | agent's p50 per call (ms) | wrapper p50 per call (ms) | wall (s) |")
    print("|---|---|---|---|---|")
    for name, f in (("no hooks", without), ("the same hooks running `true`", empty), ("cavra's hooks", with_hooks)):
        print(f"| {name} | {f['calls']} | {f['agent_p50_ms']} | {f['wrapper_p50_ms']} | {f['wall_s']} |")
    print(f"hook cost as the agent sees it (p50 difference): {figures['hook_cost_p50_ms']} ms per call")
    print(f"cavra's part (over hooks running `true`): {figures['cavra_over_empty_hooks_p50_ms']} ms per call")


if __name__ == "__main__":
    main()

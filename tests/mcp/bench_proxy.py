"""The latency `cavra mcp proxy` adds to a tools/call on loopback, against a direct call in the
same run.

usage: bench_proxy.py CAVRA REPO [CALLS [DURABILITY]]
A minimal upstream (echo_server.py: answers each tools/call at once) is driven over stdio
directly and through the proxy, one call at a time after a warm-up; prints one JSON line with
p50/p90/p99 of both and the added p50.
"""

import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def session(cmd, cwd):
    p = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)

    def ask(msg):
        p.stdin.write((json.dumps(msg) + "\n").encode())
        line = p.stdout.readline()
        return json.loads(line)

    init = ask({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}})
    assert "result" in init, init
    p.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    tools = ask({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert any(t["name"] == "add" for t in tools["result"]["tools"]), tools
    return p, ask


def measure(cmd, cwd, calls):
    p, ask = session(cmd, cwd)
    times = []
    for i in range(calls + 50):
        msg = {"jsonrpc": "2.0", "id": i + 10, "method": "tools/call",
               "params": {"name": "add", "arguments": {"a": i, "b": 1}}}
        t0 = time.perf_counter_ns()
        r = ask(msg)
        t1 = time.perf_counter_ns()
        assert r["result"]["structuredContent"]["result"] == i + 1, r
        if i >= 50:
            times.append((t1 - t0) / 1e6)
    p.stdin.close()
    p.wait()
    times.sort()
    q = lambda f: times[min(len(times) - 1, int(f * len(times)))]
    return {"p50_ms": round(statistics.median(times), 4), "p90_ms": round(q(0.9), 4), "p99_ms": round(q(0.99), 4)}


def main():
    cavra, repo = sys.argv[1], sys.argv[2]
    calls = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    durability = sys.argv[4] if len(sys.argv) > 4 else "full"
    upstream = [sys.executable, os.path.join(HERE, "echo_server.py")]
    direct = measure(upstream, repo, calls)
    proxy = [cavra, "mcp", "proxy", "--server-name", "echo", "--durability", durability, "--"]
    proxied = measure(proxy + upstream, repo, calls)
    print(json.dumps({
        "calls": calls,
        "durability": durability,
        "direct": direct,
        "proxied": proxied,
        "added_p50_ms": round(proxied["p50_ms"] - direct["p50_ms"], 4),
        "ratio_p50": round(proxied["p50_ms"] / direct["p50_ms"], 2),
    }))


if __name__ == "__main__":
    main()

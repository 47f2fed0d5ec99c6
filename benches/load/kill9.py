"""Durability of acknowledged decisions under kill -9: `cavra serve` on SQLite takes decisions
from THREADS keep-alive clients (the mix of decisions.lua), is killed with SIGKILL at a random
moment, started again on the same database, ROUNDS times. Every decision the service answered
200 must be stored, and each tenant's log must be whole: dense indexes, each entry's index and
tenant its own, its log head's size the number of entries, and every signed checkpoint's root
the Merkle root (RFC 6962) of the leaf hashes of the entries before it, each leaf the hash of
its stored entry.

    python3 benches/load/kill9.py CAVRA_BIN [ROUNDS] [THREADS]        (defaults 6 and 32)

With KILL9_POSTGRES=postgres://… the service runs on PostgreSQL instead, in a schema of its own
(made for the run, dropped when it passes), read back with psql.
"""
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

bin_, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 6
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 32
work = tempfile.mkdtemp(prefix="cavra-kill9-")
db = os.path.join(work, "server.db")
pg_base = os.environ.get("KILL9_POSTGRES")
if pg_base:
    schema = f"kill9_{int(time.time())}_{random.randrange(1 << 30)}"
    subprocess.run(["psql", pg_base, "-qc", f"CREATE SCHEMA {schema}"], check=True)
    sep = "&" if "?" in pg_base else "?"
    env = dict(os.environ, CAVRA_DATABASE_URL=f"{pg_base}{sep}options=-c%20search_path%3D{schema}")
else:
    env = dict(os.environ, CAVRA_DATABASE_URL=f"sqlite://{db}")
key = os.path.join(work, "keys", "service.key")
subprocess.run([bin_, "keys", "generate", "--key-id", "service", "--output", os.path.join(work, "keys")],
               env=env, check=True, stdout=subprocess.DEVNULL)
env["CAVRA_SIGNING_KEY"] = key
tokens = []
for tenant in ["load", "load2"]:
    subprocess.run([bin_, "tenant", "create", tenant, "--signing-key", key], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    tokens.append(subprocess.run(
        [bin_, "token", "create", "--tenant", tenant, "--role", "agent", "--subject", "kill9",
         "--signing-key", key], env=env, check=True, capture_output=True, text=True).stdout.strip())
bodies = [
    '{"request":{"action":"read_file","target":"src/main.rs","session_id":"k9","agent_id":"k9"}}',
    '{"request":{"action":"execute_command","target":"cargo test --workspace","session_id":"k9","agent_id":"k9"}}',
    '{"request":{"action":"read_file","target":".env","session_id":"k9","agent_id":"k9"}}',
    '{"request":{"action":"write_file","target":"src/lib.rs","session_id":"k9","agent_id":"k9"}}',
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


acked = []  # (tenant index, decision id)
lock = threading.Lock()


def client(port, stop, n):
    conn, i = None, n
    while not stop.is_set():
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            t = i % len(tokens)
            conn.request("POST", "/v1/decisions", bodies[i % len(bodies)],
                         {"Content-Type": "application/json", "Authorization": f"Bearer {tokens[t]}"})
            r = conn.getresponse()
            data = r.read()
            if r.status == 200:
                with lock:
                    acked.append((t, json.loads(data)["record"]["decision_id"]))
            i += 1
        except Exception:
            conn = None
            time.sleep(0.01)


def leaf(entry):
    return hashlib.sha256(b"\x00" + entry).digest()


def root(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + root(leaves[:k]) + root(leaves[k:])).digest()


for rnd in range(rounds):
    port = free_port()
    log = open(os.path.join(work, "serve.log"), "ab")
    serve = subprocess.Popen([bin_, "serve", "--listen", f"127.0.0.1:{port}", "--signing-key", key],
                             env=env, stdout=log, stderr=log)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    stop = threading.Event()
    ts = [threading.Thread(target=client, args=(port, stop, n)) for n in range(threads)]
    for t in ts:
        t.start()
    time.sleep(random.uniform(2, 6))
    serve.send_signal(signal.SIGKILL)
    serve.wait()
    stop.set()
    for t in ts:
        t.join()
    print(f"round {rnd + 1}: killed -9 with {len(acked)} decisions acknowledged so far", flush=True)

class Psql:
    """The few reads below, through psql (text columns; bytea as hex, turned back to bytes)."""

    def execute(self, sql, args=()):
        for a in args:
            sql = sql.replace("?", "'" + a.replace("'", "''") + "'", 1)
        sql = sql.replace("SELECT idx, entry, leaf_hash", "SELECT idx, encode(entry, 'hex'), encode(leaf_hash, 'hex')")
        out = subprocess.run(["psql", env["CAVRA_DATABASE_URL"], "-AtF", "\t", "-c", sql], check=True,
                             capture_output=True, text=True).stdout
        rows = []
        for line in out.splitlines():
            cols = line.split("\t")
            if "encode(entry" in sql:
                cols = [int(cols[0]), bytes.fromhex(cols[1]), bytes.fromhex(cols[2])]
            elif sql.startswith("SELECT size") or sql.startswith("SELECT tree_size"):
                cols[0] = int(cols[0])
            rows.append(tuple(cols))
        return Rows(rows)


class Rows(list):
    def fetchall(self):
        return list(self)

    def fetchone(self):
        return self[0] if self else None


con = Psql() if pg_base else sqlite3.connect(f"file:{db}?mode=ro", uri=True)
stored = {row[0] for row in con.execute("SELECT decision_id FROM decisions")}
missing = [d for _, d in acked if d not in stored]
tenants = ["load", "load2"]
problems = []
for t in tenants:
    rows = con.execute("SELECT idx, entry, leaf_hash FROM log_entries WHERE tenant = ? ORDER BY idx", (t,)).fetchall()
    leaves = []
    for n, (idx, entry, leaf_hash) in enumerate(rows):
        e = json.loads(entry)
        if idx != n or e["index"] != n or e["tenant"] != t or leaf(entry) != leaf_hash:
            problems.append(f"{t}: entry {n} (idx {idx}) is not whole")
            break
        leaves.append(leaf_hash)
    size = con.execute("SELECT size FROM log_meta WHERE tenant = ?", (t,)).fetchone()[0]
    if size != len(rows):
        problems.append(f"{t}: head size {size}, {len(rows)} entries")
    checkpoints = con.execute("SELECT tree_size, root_hash FROM checkpoints WHERE tenant = ?", (t,)).fetchall()
    for size, root_hash in checkpoints:
        if size > len(leaves) or root(leaves[:size]).hex() != root_hash:
            problems.append(f"{t}: checkpoint at {size} does not match the entries")
    print(f"{t}: {len(rows)} entries, {len(checkpoints)} checkpoints checked")
print(f"acknowledged {len(acked)}, stored {len(stored)}, acknowledged but missing {len(missing)}")
for p in problems:
    print("PROBLEM:", p)
if missing or problems:
    print(f"FAIL (the database is kept in {work}{' and schema ' + schema if pg_base else ''})")
    sys.exit(1)
print("PASS: every acknowledged decision is stored and every log is whole")
shutil.rmtree(work)
if pg_base:
    subprocess.run(["psql", pg_base, "-qc", f"SET client_min_messages = warning; DROP SCHEMA {schema} CASCADE"], check=True)

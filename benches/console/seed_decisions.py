"""Seeds a tenant's SQLite store with N decisions for the console's list-page benchmark
(benches/console/list_pages.sh, docs/benchmarks.md).

The store must already hold a few real decisions of the tenant (made through the API, so
their rows and log entries have the service's exact shape); this copies them round-robin as
decisions N times over, each with its own decision id, sequence number, log index and time,
in one transaction. Copy i names repository `acme/repo-{i % 50}` and is asked for by
`bench-bot-{i % 10}` (in its row and its log entry's body alike), so those filters match one
decision in 50 and one in 10. The copies' log entries keep the templates' leaf hashes, so the
log does not verify afterwards: the store is for reading pages, not for evidence.

    python3 benches/console/seed_decisions.py STORE.db TENANT N
"""
import json
import sqlite3
import sys
import time

path, tenant, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = sqlite3.connect(path)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=OFF")
cols = [r[1] for r in db.execute("PRAGMA table_info(decisions)")]
ecols = [r[1] for r in db.execute("PRAGMA table_info(log_entries)")]
templates = db.execute(
    f"SELECT {', '.join('d.' + c for c in cols)}, {', '.join('e.' + c for c in ecols)} "
    "FROM decisions d JOIN log_entries e ON e.tenant = d.tenant AND e.idx = d.log_index "
    "WHERE d.tenant = ? ORDER BY d.seq", (tenant,)).fetchall()
assert templates, f"no decisions of {tenant} to copy: make a few through the API first"
(seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM decisions").fetchone()
(idx,) = db.execute("SELECT COALESCE(MAX(idx), -1) FROM log_entries WHERE tenant = ?", (tenant,)).fetchone()
started = time.time()
base = 1_700_000_000


def rows():
    for i in range(n):
        t = templates[i % len(templates)]
        d = dict(zip(cols, t[: len(cols)]))
        e = dict(zip(ecols, t[len(cols):]))
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + i)) + ".000Z"
        repository, actor = f"acme/repo-{i % 50}", f"bench-bot-{i % 10}"
        d.update(seq=seq + 1 + i, decision_id=f"dec-seed-{i:08d}", log_index=idx + 1 + i, timestamp=ts)
        if "repository" in d:
            d["repository"] = repository
        d["requested_by"] = actor
        entry = json.loads(e["entry"])
        entry["body"]["requested_by"] = actor
        entry["body"]["record"]["repository"] = repository
        entry["body"]["decision_id"] = entry["body"]["record"]["decision_id"] = d["decision_id"]
        entry["index"], entry["time"] = idx + 1 + i, ts
        # Canonical form, as the service writes it (sorted keys, no spaces).
        body = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        e.update(idx=idx + 1 + i, ref_id=d["decision_id"], timestamp=ts, entry=body)
        yield d, e


dsql = f"INSERT INTO decisions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
esql = f"INSERT INTO log_entries ({', '.join(ecols)}) VALUES ({', '.join('?' * len(ecols))})"
batch_d, batch_e = [], []
with db:
    for d, e in rows():
        batch_d.append(tuple(d[c] for c in cols))
        batch_e.append(tuple(e[c] for c in ecols))
        if len(batch_d) == 50_000:
            db.executemany(esql, batch_e)
            db.executemany(dsql, batch_d)
            batch_d, batch_e = [], []
    db.executemany(esql, batch_e)
    db.executemany(dsql, batch_d)

(total,) = db.execute("SELECT COUNT(*) FROM decisions WHERE tenant = ?", (tenant,)).fetchone()
print(f"{total} decisions of {tenant} in {path} ({time.time() - started:.0f} s)")

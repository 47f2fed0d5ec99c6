"""Prints the cavra/Cedar/Rego medians table (docs/benchmarks.md) from criterion's estimates."""
import json, glob, os, collections
import sys
root = sys.argv[1] if len(sys.argv) > 1 else "/work/target-peers/criterion"
res = collections.defaultdict(dict)
for f in glob.glob(f"{root}/*/*/*/new/estimates.json"):
    parts = f[len(root)+1:].split("/")
    group, engine, case = parts[0], parts[1], parts[2]
    e = json.load(open(f))
    res[(group, case)][engine] = (e["median"]["point_estimate"], e["median"]["confidence_interval"]["lower_bound"], e["median"]["confidence_interval"]["upper_bound"])
def fmt(ns):
    if ns >= 1e6: return f"{ns/1e6:.2f} ms"
    return f"{ns/1000:.0f} µs" if ns >= 1e5 else f"{ns/1000:.2f} µs"
order = ["decide_files", "decide_mcp", "build_and_decide_files", "build_and_decide_mcp"]
engines = ["cavra", "cedar", "cedar_groups", "rego"]
print("| group | case | cavra | Cedar | Cedar (groups) | Rego (regorus) | Cedar / cavra | Cedar groups / cavra | Rego / cavra |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for (g, c) in sorted(res, key=lambda k: (order.index(k[0]), k[1])):
    r = res[(g, c)]
    cv = r["cavra"][0]
    cells = [fmt(r[e][0]) if e in r else "—" for e in engines]
    ratios = [f"{r[e][0]/cv:.1f}×" if e in r else "—" for e in ["cedar", "cedar_groups", "rego"]]
    print(f"| {g} | {c} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")

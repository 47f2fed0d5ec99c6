#!/usr/bin/env python3
"""The `cavra policy explain` output (text and --json) of every case of the conformance and
policy-test corpora, written by one cavra binary, to compare two builds byte for byte.

    scripts/explain-corpus.py BINARY OUT_DIR

Writes OUT_DIR/text/NNNN.txt and OUT_DIR/json/NNNN.json per case and prints the counts. The
record's per-run fields (decision_id, correlation_id, timestamp) are masked in the JSON; the
text output carries none. Compare two runs with `diff -r`.
"""

import glob
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import yaml

FILES = sorted(glob.glob("tests/data/conformance/*.yaml")) + sorted(
    glob.glob("tests/data/policy-tests/*.yaml")
)
VOLATILE = re.compile(r'"(decision_id|correlation_id|timestamp)": "[^"]*"')


def cases(work):
    n = 0
    for f in FILES:
        doc = yaml.safe_load(open(f))
        policy = doc.get("policy")
        if isinstance(policy, dict):
            path = os.path.join(work, f"policy-{len(os.listdir(work))}.yaml")
            with open(path, "w") as p:
                yaml.safe_dump(policy, p)
            policy = path
        defaults = doc.get("defaults") or {}
        for case in doc.get("cases") or []:
            request = dict(defaults)
            request.update(case.get("request") or {})
            req_path = os.path.join(work, f"request-{n:05}.json")
            with open(req_path, "w") as r:
                json.dump(request, r)
            args = ["policy", "explain", "--request", req_path, "-p", policy]
            if request.get("repo_root"):
                args += ["--repo-root", str(request["repo_root"])]
            # Relative targets resolve against the request's folder, else the repository root.
            cwd = request.get("cwd") or request.get("repo_root")
            if cwd:
                args += ["--cwd", str(cwd)]
            yield n, args
            n += 1


def main():
    binary, out = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    for sub in ("text", "json"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    # One fixed scratch folder, so that both binaries see the same paths.
    work = "/tmp/cavra-explain-corpus"
    subprocess.run(["rm", "-rf", work], check=True)
    os.makedirs(work)

    def run(item):
        n, args = item
        text = subprocess.run([binary] + args, capture_output=True, cwd=work)
        js = subprocess.run([binary] + args + ["--json"], capture_output=True, cwd=work)
        with open(os.path.join(out, "text", f"{n:05}.txt"), "wb") as t:
            t.write(text.stdout + b"\n--stderr--\n" + text.stderr + f"\n--exit {text.returncode}\n".encode())
        masked = VOLATILE.sub(lambda m: f'"{m.group(1)}": "-"', js.stdout.decode())
        with open(os.path.join(out, "json", f"{n:05}.json"), "w") as j:
            j.write(masked + "\n--stderr--\n" + js.stderr.decode() + f"\n--exit {js.returncode}\n")
        return 1

    with ThreadPoolExecutor(max_workers=2) as pool:
        total = sum(pool.map(run, list(cases(work))))
    print(f"{total} cases, {2 * total} outputs")


if __name__ == "__main__":
    main()

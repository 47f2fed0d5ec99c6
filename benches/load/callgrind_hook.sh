#!/usr/bin/env bash
# Instructions of whole `cavra hook claude-code` processes (callgrind, every thread, process
# start to exit): for payload lines 1 (deny), 5 (no decision) and 7 (require_approval, asked
# at the agent's prompt) of tests/data/conformance/hooks/claude-code.jsonl, each in a scratch
# git repository of its own with the hook conformance policy, 3 calls unmeasured (the store is
# created, the pack cache warmed), then RUNS calls (3 by default) under callgrind. The store
# grows by one decision a call, so compare two binaries run by run. Load does not change the
# counts.
# Usage: benches/load/callgrind_hook.sh BINARY TAG [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "$1"); tag=$2; runs=${3:-3}
here=$(pwd)
for line in 1 5 7; do
  repo=$(mktemp -d "/tmp/cavra-cg-hook-$tag-$line-XXXX")
  mkdir -p "$repo/.cavra"
  git -C "$repo" init -q -b work
  cp "$here/tests/data/conformance/hooks/policy.yaml" "$repo/.cavra/policy.yaml"
  sed -n "${line}p" "$here/tests/data/conformance/hooks/claude-code.jsonl" |
    python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["payload"]).replace("__PROJECT__", sys.argv[1]))' "$repo" > "$repo/p.json"
  for _ in 1 2 3; do (cd "$repo" && "$bin" hook claude-code < p.json >/dev/null 2>&1) || true; done
  for run in $(seq 1 "$runs"); do
    (cd "$repo" && valgrind --tool=callgrind --callgrind-out-file="$repo/cg.$run" "$bin" hook claude-code < p.json >/dev/null 2>"$repo/vg.$run") || true
    echo "$tag line $line run $run: $(awk '/^(summary|totals):/{print $2; exit}' "$repo/cg.$run")"
  done
  rm -rf "$repo"
done

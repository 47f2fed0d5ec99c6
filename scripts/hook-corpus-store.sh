#!/usr/bin/env bash
# The local store one cavra binary writes for the hook conformance corpus
# (tests/data/conformance/hooks), run in both approval modes, as text to compare two builds:
# every decision, approval and evidence log row, with per-run ids and times masked (and the
# stored times' form checked: 24-character RFC 3339 UTC with milliseconds).
#
#   scripts/hook-corpus-store.sh BINARY OUT_FILE
set -euo pipefail
bin=$(realpath "$1"); out=$(realpath -m "$2")
here=$(cd "$(dirname "$0")/.." && pwd)
: > "$out"
for mode in ask store; do
  repo=/tmp/cavra-hook-corpus-$mode
  rm -rf "$repo"; mkdir -p "$repo/.cavra"
  git -C "$repo" init -q -b work
  cp "$here/tests/data/conformance/hooks/policy.yaml" "$repo/.cavra/policy.yaml"
  while IFS= read -r line; do
    payload=$(printf '%s' "$line" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["payload"]).replace("__PROJECT__", sys.argv[1]))' "$repo")
    (cd "$repo" && printf '%s' "$payload" | "$bin" hook claude-code --approval-mode "$mode" >/dev/null 2>&1) || true
  done < "$here/tests/data/conformance/hooks/claude-code.jsonl"
  db="$repo/.cavra/cavra.db"
  bad=$(sqlite3 "$db" "SELECT count(*) FROM decisions WHERE length(timestamp) != 24 OR timestamp NOT GLOB '????-??-??T??:??:??.???Z'")
  bad=$((bad + $(sqlite3 "$db" "SELECT count(*) FROM approvals WHERE length(requested_at) != 24 OR length(expires_at) != 24")))
  {
    echo "== $mode: times not in the stored form: $bad"
    echo "-- decisions"
    sqlite3 "$db" "SELECT session_id, tool_use_id, action_type, decision, rule_id, fingerprint, record FROM decisions ORDER BY rowid"
    echo "-- approvals"
    sqlite3 "$db" "SELECT decision_id IS NOT NULL, fingerprint, session_id, approver_group, requested_by, state, decided_by, reason, summary, route, tool_use_id, history FROM approvals ORDER BY rowid"
    echo "-- log"
    sqlite3 "$db" "SELECT idx, kind, session_id, entry FROM log_entries ORDER BY idx"
  } | sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z/TIME/g; s/apr_[0-9a-f]{32}/APR/g; s/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/UUID/g' >> "$out"
done
wc -l < "$out"

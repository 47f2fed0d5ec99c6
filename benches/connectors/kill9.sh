#!/usr/bin/env bash
# Durability of the connectors' outbox under kill -9 (issue 18): `cavra serve` delivering each
# blocked decision's event to a NATS JetStream stream, a burst of decisions, the receiver
# stopped during the burst and kept down for DOWN seconds, the service killed with SIGKILL
# during the burst, then both back. Every event the service committed must reach the stream,
# none twice (the stream deduplicates on Nats-Msg-Id, the event's idempotency key).
#
# Usage: benches/connectors/kill9.sh [BURST_SECONDS] [DOWN_SECONDS]     (defaults 20 and 60)
# Needs nats-server (with JetStream), sqlite3, curl and python3. Runs its own nats-server on a
# free loopback port (the machine's own is not touched) and a fresh SQLite database.
set -euo pipefail
cd "$(dirname "$0")/../.."
burst="${1:-20}"
down="${2:-60}"
bin="${CAVRA_BIN:-target/release/cavra}"
[ -x "$bin" ] || cargo build --release -p cavra
work="$(mktemp -d)"
port=$((20000 + RANDOM % 10000))
nport=$((30000 + RANDOM % 10000))
mport=$((nport + 1))
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

start_nats() {
  nats-server -js -a 127.0.0.1 -p "$nport" -m "$mport" -sd "$work/nats" >>"$work/nats.log" 2>&1 &
  nats=$!
  pids+=("$nats")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$mport/healthz" >/dev/null && return; sleep 0.1; done
  echo "nats-server did not start" >&2; exit 1
}
stream_messages() {
  curl -sf "http://127.0.0.1:$mport/jsz?streams=true" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(sum(s["state"]["messages"] for a in j.get("account_details", []) for s in a.get("stream_detail", [])))'
}
start_serve() {
  "$bin" serve --listen "127.0.0.1:$port" --signing-key "$work/keys/service.key" \
    --config "$work/cavra-server.yaml" >>"$work/serve.log" 2>&1 &
  serve=$!
  pids+=("$serve")
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
  echo "cavra serve did not start" >&2; cat "$work/serve.log" >&2; exit 1
}
q() { sqlite3 "$work/server.db" "$1"; }

export CAVRA_DATABASE_URL="sqlite://$work/server.db"
"$bin" keys generate --key-id service --output "$work/keys" >/dev/null
export CAVRA_SIGNING_KEY="$work/keys/service.key"
"$bin" tenant create load --signing-key "$CAVRA_SIGNING_KEY" >/dev/null
token="$("$bin" token create --tenant load --role agent --subject burst --signing-key "$CAVRA_SIGNING_KEY" 2>/dev/null)"
cat >"$work/cavra-server.yaml" <<YAML
connectors:
  - name: queue
    tenant: load
    events: ["decision.*"]
    nats_jetstream:
      url: nats://127.0.0.1:$nport
      stream: CAVRA_KILL9
      subject_prefix: cavra.kill9
YAML

start_nats
start_serve
echo "$(date +%T) burst of ${burst}s starts; receiver stopped at $((burst / 4))s, service killed -9 at $((burst / 2))s"
python3 benches/connectors/burst.py "http://127.0.0.1:$port" "$token" "$burst" 16 >"$work/burst.out" &
burst_pid=$!
sleep "$((burst / 4))"
kill -TERM "$nats"; wait "$nats" 2>/dev/null || true
echo "$(date +%T) receiver down"
sleep "$((burst / 4))"
kill -9 "$serve"; wait "$serve" 2>/dev/null || true
echo "$(date +%T) service killed -9"
wait "$burst_pid"
echo "$(date +%T) burst over: $(cat "$work/burst.out")"
# The decisions' events: the connector takes decision.* only (the log's checkpoint events go
# nowhere and make no delivery).
committed=$(q "SELECT count(*) FROM connector_events WHERE tenant='load' AND kind LIKE 'decision.%'")
decisions=$(q "SELECT count(*) FROM decisions")
echo "committed: decisions=$decisions events=$committed"
sleep "$down"
start_nats
echo "$(date +%T) receiver back ($(stream_messages) messages in the stream)"
start_serve
echo "$(date +%T) service back"
deadline=$((SECONDS + 600))
while :; do
  delivered=$(q "SELECT count(*) FROM connector_deliveries WHERE tenant='load' AND state='delivered'")
  [ "$delivered" -ge "$committed" ] && break
  [ "$SECONDS" -lt "$deadline" ] || { echo "not all delivered after 600 s: $delivered of $committed" >&2; break; }
  sleep 1
done
messages=$(stream_messages)
duplicates=$(q "SELECT count(*) FROM log_entries WHERE kind='delivery' AND CAST(entry AS TEXT) LIKE '%duplicate of seq%'")
attempts=$(q "SELECT count(*) FROM log_entries WHERE kind='delivery'")
dead=$(q "SELECT count(*) FROM connector_deliveries WHERE state='dead'")
echo "$(date +%T) result: committed_events=$committed delivered=$delivered stream_messages=$messages attempts=$attempts duplicate_acks=$duplicates dead_letters=$dead"
if [ "$messages" -eq "$committed" ] && [ "$delivered" -eq "$committed" ] && [ "$dead" -eq 0 ]; then
  echo "PASS: every committed event is in the stream, once"
else
  echo "FAIL"; exit 1
fi

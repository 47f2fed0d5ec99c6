#!/usr/bin/env bash
# Load and soak of `cavra serve`: a fresh database, one tenant, an agent token, the service
# on loopback, wrk with 64 connections for DURATION, the service's resident memory sampled
# every 30 s, and the service's CPU time per request. Needs wrk (Debian: apt-get install wrk).
# Usage: [TENANTS=N] benches/load/soak.sh [DURATION] [DATABASE_URL]
# With TENANTS=N (default 1) there are N tenants, each with its own agent token, used in turn.
# With NATS=URL the first tenant's decision events (the blocked quarter of the mix) are
# delivered to a JetStream stream on that server while the load runs (a connector of the
# service's configuration, a stream of its own per run), and the events, deliveries and
# delivery attempts' log entries are counted 5 s after the load (PostgreSQL only).
#   benches/load/soak.sh 30s                      # SQLite in a temporary folder
#   benches/load/soak.sh 10m                      # the 10-minute soak
#   benches/load/soak.sh 30s postgres://postgres@127.0.0.1:5432/test
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${1:-30s}"
work="$(mktemp -d)"
db="${2:-sqlite://$work/server.db}"
bin="${CAVRA_BIN:-target/release/cavra}"
[ -x "$bin" ] || cargo build --release -p cavra
export CAVRA_DATABASE_URL="$db"
"$bin" keys generate --key-id service --output "$work/keys" >/dev/null
export CAVRA_SIGNING_KEY="$work/keys/service.key"
tokens=""
for n in $(seq 1 "${TENANTS:-1}"); do
  tenant=load; [ "$n" = 1 ] || tenant="load$n"
  "$bin" tenant create "$tenant" --signing-key "$CAVRA_SIGNING_KEY" >/dev/null
  tokens="$tokens $("$bin" token create --tenant "$tenant" --role agent --subject wrk --signing-key "$CAVRA_SIGNING_KEY" 2>/dev/null)"
done
export CAVRA_TOKENS="$tokens"
port=$((20000 + RANDOM % 20000))
config=()
if [ -n "${NATS:-}" ]; then
  stream="CAVRA_SOAK_$port"
  cat >"$work/cavra-server.yaml" <<YAML
connectors:
  - name: queue
    tenant: load
    events: ["decision.*"]
    nats_jetstream:
      url: $NATS
      stream: $stream
      subject_prefix: cavra.soak$port
YAML
  config=(--config "$work/cavra-server.yaml")
fi
"$bin" serve --listen "127.0.0.1:$port" --signing-key "$work/keys/service.key" "${config[@]}" 2>"$work/serve.log" &
serve=$!
trap 'kill $serve 2>/dev/null; rm -rf "$work"' EXIT
sleep 1
(
  while kill -0 $serve 2>/dev/null; do
    echo "$(date +%T) rss_kb=$(awk '/VmRSS/{print $2}' /proc/$serve/status)"
    sleep 30
  done
) &
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # user + system, in clock ticks
before=$(cpu $serve)
wrk -t2 -c64 -d"$duration" --latency -s benches/load/decisions.lua "http://127.0.0.1:$port/v1/decisions" | tee "$work/wrk.out"
after=$(cpu $serve)
requests=$(awk '/requests in/{print $1}' "$work/wrk.out")
echo "service CPU per request: $(( (after - before) * 1000000 / $(getconf CLK_TCK) / requests )) us"
echo "final rss_kb=$(awk '/VmRSS/{print $2}' /proc/$serve/status)"
if [ -n "${NATS:-}" ]; then
  sleep 5   # the deliveries still in flight
  case "$db" in postgres*)
    psql "$db" -Atc "SELECT 'events ' || (SELECT count(*) FROM connector_events WHERE kind LIKE 'decision.%') || ', delivered ' || (SELECT count(*) FROM connector_deliveries WHERE state = 'delivered') || ', attempt entries ' || (SELECT count(*) FROM log_entries WHERE kind = 'delivery')" ;;
  esac
fi

#!/usr/bin/env bash
# Instructions per `POST /v1/decisions` of the whole service, HTTP included: `cavra serve` on
# a fresh SQLite database runs under callgrind; a small client (callgrind_client.py) sends
# WARMUP requests, the counters are zeroed, it sends N requests over C keep-alive connections
# (16 by default, so that the writer commits groups as under load), and the counters are
# dumped. Prints the service's instructions per request (all its threads).
# Usage: [CAVRA_BIN=…] [CALLGRIND_ARGS=…] benches/load/callgrind_serve.sh [N] [C] [OUT]
# (CALLGRIND_ARGS: more valgrind options, e.g. --dump-instr=yes for callgrind_annotate's
# self costs by function.)
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-2000}"
c="${2:-16}"
out="${3:-$(mktemp -d)/cg.out}"
bin="${CAVRA_BIN:-target/release/cavra}"
work="$(mktemp -d)"
export CAVRA_DATABASE_URL="sqlite://$work/server.db"
"$bin" keys generate --key-id service --output "$work/keys" >/dev/null
export CAVRA_SIGNING_KEY="$work/keys/service.key"
"$bin" tenant create load --signing-key "$CAVRA_SIGNING_KEY" >/dev/null
token="$("$bin" token create --tenant load --role agent --subject wrk --signing-key "$CAVRA_SIGNING_KEY" 2>/dev/null)"
port=$((20000 + RANDOM % 20000))
valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no ${CALLGRIND_ARGS:-} \
  "$bin" serve --listen "127.0.0.1:$port" --signing-key "$work/keys/service.key" 2>"$work/serve.log" &
serve=$!
trap 'kill $serve 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do
  python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null && break
  sleep 1
done
python3 benches/load/callgrind_client.py "$port" "$token" 200 "$c"
callgrind_control -z $serve >/dev/null
python3 benches/load/callgrind_client.py "$port" "$token" "$n" "$c"
callgrind_control -d $serve >/dev/null
sleep 2
# The dump after the N requests is "$out.1" (the zeroing writes none; the exit writes "$out").
total=$(awk '/^(summary|totals):/{print $2; exit}' "$out.1")
echo "instructions: $total, per request: $((total / n)) ($out.1)"

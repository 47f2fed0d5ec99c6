#!/usr/bin/env bash
# The console's decision list over 1,000,000 decisions (issue 22; docs/benchmarks.md): a
# scratch SQLite store, a few real decisions through the API, seeded to N by
# benches/console/seed_decisions.py (50 repositories, 10 callers), then `cavra serve` and
# wrk (one connection, so each figure is one request's latency) on the first page, a page
# deep in the keyset, each filter (outcome, action, rule, actor, repository, session, time),
# filters together and deep, and filters no decision matches; plus the first page's bytes
# as served (HTML and assets, as curl receives them with the encodings a browser accepts).
#
#   benches/console/list_pages.sh [CAVRA_BINARY] [N]
#
# With BENCH_DATABASE_URL=postgres://… (a database or schema of its own, empty), the store is
# PostgreSQL, seeded by benches/console/seed_decisions_postgres.sql.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-target/release/cavra}
n=${2:-1000000}
dir=${BENCH_DIR:-/tmp/cavra-console-bench}
db=${BENCH_DATABASE_URL:-sqlite://$dir/s.db}
export CAVRA_DATABASE_URL="$db"
unset CAVRA_SERVER CAVRA_TOKEN CAVRA_SERVER_CONFIG
case "$db" in postgres*) export CAVRA_SIGNING_KEY="$dir/log-key.pem" ;; esac

serve() {
  "$bin" serve --listen 127.0.0.1:0 --console-tenant acme 2>"$dir/serve.log" &
  pid=$!
  for _ in $(seq 100); do grep -q "one-time link" "$dir/serve.log" 2>/dev/null && break; sleep 0.1; done
  base=$(head -n1 "$dir/serve.log" | grep -o 'http://[^ ]*')
  link=$(grep -o 'http://[^ ]*/console/login?link=[^ ]*' "$dir/serve.log")
}

if [ ! -f "$dir/seeded-$n" ]; then
  rm -rf "$dir" && mkdir -p "$dir"
  # PostgreSQL has no file to keep the checkpoint key beside: one of the benchmark's own.
  case "$db" in postgres*) openssl genpkey -algorithm ed25519 -out "$dir/log-key.pem" ;; esac
  "$bin" tenant create acme >/dev/null
  agent=$("$bin" token create --tenant acme --role agent --subject bench-bot --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  serve
  for t in "read_file src/main.rs" "read_file .env" "execute_command make deploy-prod" \
           "execute_command cargo test" "write_file src/lib.rs" "git_operation main"; do
    set -- $t
    curl -sf -o /dev/null -H "authorization: Bearer $agent" -H 'content-type: application/json' \
      -d "{\"request\":{\"action\":\"$1\",\"target\":\"$2\",\"session_id\":\"sess-bench\",\"agent_id\":\"claude-code\",\"repository\":\"acme/app\"}}" \
      "$base/v1/decisions"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  case "$db" in
    postgres*) psql -q "$db" -v tenant=acme -v n="$n" -f benches/console/seed_decisions_postgres.sql ;;
    *) python3 benches/console/seed_decisions.py "$dir/s.db" acme "$n" ;;
  esac
  touch "$dir/seeded-$n"
fi

serve
trap 'kill $pid' EXIT
secret=${link#*link=}
cookie=$(curl -s -o /dev/null -D - -H "origin: $base" --data-urlencode "link=$secret" "$base/console/login/link" \
  | awk -F'[ ;]' 'tolower($1) == "set-cookie:" { print $2 }')
middle=$(printf 'dec-seed-%08d' $((n / 2)))
# Copy i is in repository acme/repo-(i % 50): the middle copy rounded to one of acme/repo-7's.
middle7=$(printf 'dec-seed-%08d' $((n / 2 / 50 * 50 + 7)))
# The rule the fewest decisions have, and a day in the middle of the seeded times.
rarest='SELECT rule_id FROM decisions GROUP BY tenant, rule_id ORDER BY COUNT(*), rule_id LIMIT 1'
case "$db" in
  postgres*) rule=$(psql -qtA "$db" -c "$rarest") ;;
  *) rule=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "$dir/s.db" "$rarest") ;;
esac
day=$(python3 -c "import time,sys; print(time.strftime('%Y-%m-%d', time.gmtime(1700000000 + int(sys.argv[1]) // 2)))" "$n")
next_day=$(python3 -c "import time,sys; print(time.strftime('%Y-%m-%d', time.gmtime(1700000000 + int(sys.argv[1]) // 2 + 86400)))" "$n")
echo "load before: $(uptime)"
echo "first page bytes as served (HTML + CSS + JS, accept-encoding gzip, br):"
total=0
for path in /console/decisions $(curl -s -H "cookie: $cookie" "$base/console/decisions" | grep -o '/console/assets/[^"]*'); do
  b=$(curl -s -o /dev/null -w '%{size_download}' -H 'accept-encoding: gzip, br' -H "cookie: $cookie" "$base$path")
  echo "  $path $b"; total=$((total + b))
done
echo "  total $total"
for path in "/console/decisions" "/console/decisions?before=$middle" \
    "/console/decisions?outcome=block" "/console/decisions?action=execute_command" \
    "/console/decisions?rule=$rule" "/console/decisions?actor=bench-bot-3" \
    "/console/decisions?repository=acme/repo-7" "/console/decisions?session=sess-bench" \
    "/console/decisions?since=${day}T00:00:00Z&until=${next_day}T00:00:00Z" \
    "/console/decisions?repository=acme/repo-7&before=$middle7" \
    "/console/decisions?repository=acme/repo-7&outcome=block&actor=bench-bot-7" \
    "/console/decisions?rule=nope" "/console/decisions?actor=nobody" \
    "/console/decisions?repository=acme/none" "/console/approvals"; do
  echo "== $path"
  wrk -t1 -c1 -d10s --latency -H "cookie: $cookie" "$base$path" | grep -E 'Latency|50%|90%|99%|Requests/sec|Non-2xx'
done
echo "load after: $(uptime)"

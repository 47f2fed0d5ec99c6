#!/usr/bin/env bash
# System calls and CPU per `POST /v1/decisions` of the service: soak.sh's setup (a fresh
# database, one tenant, an agent token, wrk with 64 connections and decisions.lua) with the
# service's system calls counted by `perf stat` on the kernel's tracepoints (no ptrace: the
# service runs at its own pace, so its group commits are as large as under wrk alone).
# Prints, per request: all system calls, those of the WAL and the network by name, the
# service's user and system CPU time (and PostgreSQL's, on PostgreSQL), and decisions per fsync
# (the SQLite writer's group size).
# Needs perf and wrk. Usage: [CAVRA_BIN=…] [TENANTS=N] benches/load/syscalls.sh [DURATION] [DATABASE_URL]
# (TENANTS as in soak.sh: N tenants, each with its agent token, used in turn.)
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${1:-10s}"
work="$(mktemp -d)"
db="${2:-sqlite://$work/server.db}"
bin="${CAVRA_BIN:-target/release/cavra}"
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
"$bin" serve --listen "127.0.0.1:$port" --signing-key "$work/keys/service.key" 2>"$work/serve.log" &
serve=$!
trap 'kill $serve 2>/dev/null; rm -rf "$work"' EXIT
sleep 1
events=raw_syscalls:sys_enter
for s in pwrite64 pread64 fsync fdatasync read write recvfrom sendto writev epoll_wait futex fcntl getrandom; do
  events="$events,syscalls:sys_enter_$s"
done
cpu() { awk '{print $14, $15}' "/proc/$1/stat"; }   # user, system, in clock ticks
# PostgreSQL's processes (all of them: the service's backends, the WAL writer, checkpointer),
# user + system ticks; the processes that live through the run count (backends are pooled).
pg_cpu() { cat /proc/[0-9]*/stat 2>/dev/null | awk '$2 == "(postgres)" {t += $14 + $15} END {print t + 0}'; }
pg0=$(pg_cpu)
read -r u0 s0 < <(cpu $serve)
perf stat -x, -e "$events" -p $serve -o "$work/perf.csv" &
stat=$!
sleep 0.5
wrk -t2 -c64 -d"$duration" --latency -s benches/load/decisions.lua "http://127.0.0.1:$port/v1/decisions" >"$work/wrk.out"
kill -INT $stat
wait $stat || true
read -r u1 s1 < <(cpu $serve)
pg1=$(pg_cpu)
requests=$(awk '/requests in/{print $1}' "$work/wrk.out")
tick=$(getconf CLK_TCK)
echo "requests: $requests ($(awk '/Requests\/sec/{print $2}' "$work/wrk.out")/s, p99 $(awk '$1=="99%"{print $2}' "$work/wrk.out"), machine shared: not a rate figure)"
echo "service CPU per request: user $(( (u1 - u0) * 1000000 / tick / requests )) us, system $(( (s1 - s0) * 1000000 / tick / requests )) us"
case "$db" in postgres*) echo "PostgreSQL CPU per request (all its processes): $(( (pg1 - pg0) * 1000000 / tick / requests )) us";; esac
awk -F, -v n="$requests" '$3 ~ /sys_enter/ {
  name = $3; sub(/.*sys_enter_?/, "", name); if (name == "") name = "all";
  printf "  %-12s %8.2f per request\n", name, $1 / n
  if (name == "fsync" || name == "fdatasync") syncs += $1
} END { if (syncs > 0) printf "decisions per fsync: %.1f\n", n / syncs }' "$work/perf.csv"

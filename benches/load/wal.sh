#!/usr/bin/env bash
# WAL written per decision on PostgreSQL: soak.sh on a fresh schema, with PostgreSQL's WAL
# position and `pg_stat_wal` read once the first decision is in and again after the load, the
# decisions counted at both points; then pg_walinspect's breakdown of the WAL between the two
# points by table and index of the schema (TOAST under its table's name) and by record type.
# Bytes per decision are the figure to compare builds by: they hardly depend on the machine's
# load, where decisions per second do. Needs a superuser (CREATE EXTENSION pg_walinspect,
# PostgreSQL 15) and psql; the WAL between the points must still be on the server's disk.
# The schema is dropped afterwards (KEEP=1 keeps it). With PREPARE_SQL=FILE the schema is
# migrated first (a tenant `walprep` created in it) and FILE run in it before the load: to
# try a schema change with a built binary, or to start from a store that has run for a while
# (rows kept, then CHECKPOINT, so that pages written before are written whole once more).
# Usage: [CAVRA_BIN=…] [KEEP=1] [PREPARE_SQL=FILE] benches/load/wal.sh [DURATION] [DATABASE_URL]
#   benches/load/wal.sh 15s postgres://postgres@127.0.0.1:5432/test
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${1:-15s}"
base="${2:-postgres://postgres@127.0.0.1:5432/test}"
schema="wal_$(date +%s)_$$"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
q() { psql "$base" -XAtqc "$1"; }
q "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS pg_walinspect SCHEMA public"
q "CREATE SCHEMA $schema"
url="$base?options=-c%20search_path%3D$schema"
if [ -n "${PREPARE_SQL:-}" ]; then
  bin="${CAVRA_BIN:-target/release/cavra}"
  "$bin" keys generate --key-id prep --output "$work/keys" >/dev/null
  CAVRA_DATABASE_URL="$url" "$bin" tenant create walprep --signing-key "$work/keys/prep.key" >/dev/null
  psql "$base" -XAtq -v ON_ERROR_STOP=1 -c "SET search_path = $schema" -f "$PREPARE_SQL"
fi
point="SELECT pg_current_wal_insert_lsn(), (SELECT count(*) FROM $schema.decisions), wal_bytes, wal_records, wal_fpi FROM pg_stat_wal"
# The start: the first decision is in (the schema's migrations and the tenant's setup before
# it are not the decisions' WAL).
(
  until n=$(q "SELECT count(*) FROM $schema.decisions" 2>/dev/null) && [ "${n:-0}" -gt 0 ]; do
    sleep 0.05
  done
  q "$point" >"$work/start"
) &
watcher=$!
benches/load/soak.sh "$duration" "$url" | grep -E 'Requests/sec|requests in|99%|CPU per'
wait $watcher
q "$point" >"$work/end"
IFS='|' read -r lsn0 n0 b0 r0 f0 <"$work/start"
IFS='|' read -r lsn1 n1 b1 r1 f1 <"$work/end"
n=$((n1 - n0))
lsn_bytes=$(q "SELECT '$lsn1'::pg_lsn - '$lsn0'::pg_lsn")
echo "schema $schema, decisions $n, WAL $lsn0 .. $lsn1"
echo "per decision: $((lsn_bytes / n)) bytes of WAL (position), pg_stat_wal: $(((b1 - b0) / n)) bytes, $(((r1 - r0) * 100 / n))/100 records, $(((f1 - f0) * 1000 / n))/1000 full-page images"
q "WITH r AS (
    SELECT record_length, fpi_length, resource_manager || '/' || split_part(record_type, ' ', 1) AS kind,
        substring(block_ref FROM 'rel \d+/\d+/(\d+)')::oid AS node
    FROM pg_get_wal_records_info('$lsn0', '$lsn1')),
  named AS (
    SELECT r.*, CASE WHEN r.node IS NULL THEN '(' || r.kind || ')'
        WHEN c.relnamespace = '$schema'::regnamespace THEN c.relname
        WHEN t.relname IS NOT NULL THEN t.relname || ' (TOAST)'
        ELSE '(another relation)' END AS rel
    FROM r LEFT JOIN pg_class c ON c.relfilenode = r.node
    LEFT JOIN pg_class t ON c.relnamespace = 'pg_toast'::regnamespace AND t.reltoastrelid = c.oid)
  SELECT rpad(rel, 40) || lpad(round(sum(record_length)::numeric / $n, 1)::text, 9) || ' B/decision'
      || lpad(round(count(*)::numeric / $n, 3)::text, 8) || ' records'
      || lpad(round(sum(fpi_length)::numeric / $n, 1)::text, 8) || ' B FPI  ' || string_agg(DISTINCT kind, ' ')
  FROM named GROUP BY rel ORDER BY sum(record_length) DESC"
[ -n "${KEEP:-}" ] || q "SET client_min_messages = warning; DROP SCHEMA $schema CASCADE"

-- Seeds a tenant's PostgreSQL store with N decisions for the console's list-page benchmark,
-- as benches/console/seed_decisions.py does for SQLite (benches/console/list_pages.sh,
-- docs/benchmarks.md): the tenant's decisions made through the API copied round-robin, copy i
-- with its own id, sequence number, log index and time (one second after copy i - 1), in
-- repository `acme/repo-{i % 50}` and asked for by `bench-bot-{i % 10}` (row and log entry
-- alike), in one transaction. The copies' entries are JSON but not canonical and keep the
-- templates' leaf hashes: the store is for reading pages, not for evidence.
--
--   psql "$URL" -v tenant=acme -v n=1000000 -f benches/console/seed_decisions_postgres.sql
\set ON_ERROR_STOP on
BEGIN;
CREATE TEMP TABLE templates ON COMMIT DROP AS
    SELECT row_number() OVER (ORDER BY d.seq) - 1 AS k, d.*, convert_from(e.entry, 'UTF8')::jsonb AS body, e.leaf_hash
    FROM decisions d JOIN log_entries e ON e.tenant = d.tenant AND e.idx = d.log_index
    WHERE d.tenant = :'tenant';
SELECT count(*) AS templates FROM templates \gset
SELECT COALESCE(MAX(idx), -1) AS idx0 FROM log_entries WHERE tenant = :'tenant' \gset
CREATE TEMP TABLE copies ON COMMIT DROP AS
    SELECT i, t.*,
        'dec-seed-' || lpad(i::text, 8, '0') AS new_id,
        to_char(to_timestamp(1700000000 + i) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS".000Z"') AS ts,
        'acme/repo-' || (i % 50) AS repo,
        'bench-bot-' || (i % 10) AS actor
    FROM generate_series(0, :n - 1) AS i JOIN templates t ON t.k = i % :templates;
INSERT INTO log_entries (tenant, idx, kind, ref_id, session_id, timestamp, entry, leaf_hash)
    SELECT :'tenant', :idx0 + 1 + i, 'decision', new_id, session_id, ts,
        convert_to(jsonb_set(jsonb_set(jsonb_set(jsonb_set(jsonb_set(body,
            '{index}', to_jsonb(:idx0 + 1 + i)), '{time}', to_jsonb(ts)),
            '{body,requested_by}', to_jsonb(actor)), '{body,decision_id}', to_jsonb(new_id)),
            '{body,record,repository}', to_jsonb(repo))::text, 'UTF8'),
        leaf_hash
    FROM copies;
INSERT INTO decisions (tenant, decision_id, session_id, agent, requested_by, action_type, decision,
        rule_id, timestamp, fingerprint, policy_digest, log_index, repository)
    SELECT :'tenant', new_id, session_id, agent, actor, action_type, decision, rule_id, ts,
        fingerprint, policy_digest, :idx0 + 1 + i, repo
    FROM copies ORDER BY i;
COMMIT;
ANALYZE decisions;
ANALYZE log_entries;
SELECT count(*) AS decisions FROM decisions WHERE tenant = :'tenant';

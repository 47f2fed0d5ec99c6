-- wrk script: POST /v1/decisions with a bearer token from CAVRA_TOKEN.
-- Usage: CAVRA_TOKEN=… wrk -t2 -c64 -d30s --latency -s benches/load/decisions.lua http://127.0.0.1:7700
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("CAVRA_TOKEN")
-- A mix of ordinary work: reads, a test command, a secret read (blocked).
local bodies = {
  '{"request":{"action":"read_file","target":"src/main.rs","session_id":"load","agent_id":"wrk"}}',
  '{"request":{"action":"execute_command","target":"cargo test --workspace","session_id":"load","agent_id":"wrk"}}',
  '{"request":{"action":"read_file","target":".env","session_id":"load","agent_id":"wrk"}}',
  '{"request":{"action":"write_file","target":"src/lib.rs","session_id":"load","agent_id":"wrk"}}',
}
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, nil, nil, bodies[(i % #bodies) + 1])
end

-- wrk script: POST /v1/decisions with a bearer token from CAVRA_TOKEN, or, with several tenants,
-- the space-separated tokens of CAVRA_TOKENS in turn (one tenant per token).
-- Usage: CAVRA_TOKEN=… wrk -t2 -c64 -d30s --latency -s benches/load/decisions.lua http://127.0.0.1:7700
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local tokens = {}
for token in string.gmatch(os.getenv("CAVRA_TOKENS") or os.getenv("CAVRA_TOKEN"), "%S+") do
  tokens[#tokens + 1] = "Bearer " .. token
end
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
  local headers = { ["Content-Type"] = "application/json",
                    ["Authorization"] = tokens[(i % #tokens) + 1] }
  return wrk.format(nil, nil, headers, bodies[(i % #bodies) + 1])
end

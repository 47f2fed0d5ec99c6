-- wrk script: POST /v1/decisions with a bearer token from CAVRA_TOKEN, or, with several tenants,
-- the space-separated tokens of CAVRA_TOKENS in turn (one tenant per token).
-- Usage: CAVRA_TOKEN=… wrk -t2 -c64 -d30s --latency -s benches/load/decisions.lua http://127.0.0.1:7700
--
-- The requests are formatted once per thread (in `init`) and returned in turn: wrk shares the
-- service's two cores, and formatting each request in Lua cost wrk about a fifth of its CPU.
-- The sequence is the same as formatting each one: request i uses token i mod #tokens and
-- body i mod #bodies.
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
local formatted = {}
init = function(args)
  -- #tokens * #bodies is a multiple of both lengths, so the cycle repeats exactly.
  for i = 0, #tokens * #bodies - 1 do
    local headers = { ["Content-Type"] = "application/json",
                      ["Authorization"] = tokens[(i % #tokens) + 1] }
    formatted[i] = wrk.format(nil, nil, headers, bodies[(i % #bodies) + 1])
  end
end
local i = 0
request = function()
  i = i + 1
  return formatted[i % (#tokens * #bodies)]
end

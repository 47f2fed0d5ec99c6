// Drives `cavra mcp serve` with the official TypeScript MCP client (npm @modelcontextprotocol/client).
// usage: node serve_client.mjs (legacy|2026-07-28) (stdio CAVRA REPO | http URL)
// Prints one JSON line of observations; exits non-zero on a failed check.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

const [mode, transportKind, a, b] = process.argv.slice(2);
function check(cond, what) {
  if (!cond) {
    console.error(`CHECK FAILED: ${what}`);
    process.exit(1);
  }
}
const versionNegotiation = { mode: mode === "legacy" ? "legacy" : { pin: mode } };
const client = new Client({ name: "cavra-ts-test", version: "0" }, { versionNegotiation });
const transport =
  transportKind === "stdio"
    ? new StdioClientTransport({ command: a, args: ["mcp", "serve"], cwd: b })
    : new StreamableHTTPClientTransport(new URL(a));
await client.connect(transport);
const seen = {};
const tools = (await client.listTools()).tools;
seen.tools = tools.map((t) => t.name).sort();
check(seen.tools.length === 8, `tools ${seen.tools}`);
const r = await client.callTool({ name: "evaluate_action", arguments: { action: "read_file", target: ".env" } });
check(!r.isError && r.structuredContent.decision === "block", `evaluate: ${JSON.stringify(r)}`);
seen.decision = r.structuredContent.decision;
const s = await client.callTool({ name: "session_summary", arguments: {} });
check(!s.isError && s.structuredContent.decisions >= 1, `summary: ${JSON.stringify(s)}`);
const bad = await client.callTool({ name: "evaluate_action", arguments: { action: "teleport" } });
check(bad.isError, "bad arguments are a tool error");
seen.protocol_version = client.getNegotiatedProtocolVersion?.() ?? null;
await client.close();
console.log(JSON.stringify(seen));

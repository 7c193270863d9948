// One MCP session held open by the TypeScript SDK's Client, the library most hosts are built on.
// tests/test_inspector.py drives it: one JSON request per stdin line, one JSON answer per stdout line.
//
//   node tests/ts_client.mjs <sdk directory> stdio <command> [args...]   (server env: RC_MCP_SERVER_ENV, JSON)
//   node tests/ts_client.mjs <sdk directory> http <url>
//
// A request is {"method": "tools/list" | "tools/call" | "prompts/list" | "prompts/get", "params": {...}};
// the answer is {"result": ...} or {"error": "..."}. The tools are listed once on connecting, as hosts
// do, so that every callTool checks structured content against the tool's output schema.
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const [sdk, kind, ...target] = process.argv.slice(2);
const load = (path) => import(pathToFileURL(`${sdk}/dist/esm/client/${path}`).href);
const { Client } = await load("index.js");

let transport;
if (kind === "stdio") {
  const { StdioClientTransport } = await load("stdio.js");
  const env = JSON.parse(process.env.RC_MCP_SERVER_ENV ?? "{}");
  transport = new StdioClientTransport({ command: target[0], args: target.slice(1), env, stderr: "ignore" });
} else {
  const { StreamableHTTPClientTransport } = await load("streamableHttp.js");
  transport = new StreamableHTTPClientTransport(new URL(target[0]));
}

const client = new Client({ name: "rc-mcp-tests", version: "1.0.0" });
await client.connect(transport);
const { tools } = await client.listTools();
process.stdout.write(JSON.stringify({ result: { server: client.getServerVersion(), tools } }) + "\n");

const calls = {
  "tools/list": (params) => client.listTools(params),
  "tools/call": (params) => client.callTool(params),
  "prompts/list": (params) => client.listPrompts(params),
  "prompts/get": (params) => client.getPrompt(params),
};

for await (const line of createInterface({ input: process.stdin })) {
  const { method, params } = JSON.parse(line);
  let answer;
  try {
    answer = { result: await calls[method](params) };
  } catch (error) {
    answer = { error: String(error?.message ?? error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
await client.close();

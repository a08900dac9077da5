/**
 * What an MCP call costs through Escrow: a `tools/call` and a `tools/list` of 200 tools (half of them hidden by
 * policy), straight to a JSON-RPC server and through Escrow (memory store, file audit), sequential and 8 at a time;
 * and the Cedar decision of one `callTool` with declared arguments against a plain HTTP `write`.
 * Run: npx tsx bench/mcp.ts   (writes bench/RESULTS-mcp.md)
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { MCP_POLICIES } from '../test/mcp/support.js';
import { startEscrow, type TestEscrow } from '../test/support/escrow.js';

const KEY = 'bench-mcp-key-0123456789abcdef';
const CALLS = 2_000;
const ROUNDS = 3;
const TOOLS = Array.from({ length: 200 }, (_, i) => ({ name: i % 2 ? `search_${i}` : `delete_${i}`, inputSchema: {} }));

/** A JSON-RPC server that answers at once: what is measured is the path, not the server. */
function jsonRpcServer(): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const message = JSON.parse(Buffer.concat(chunks).toString()) as { id: number; method: string };
      const result = message.method === 'tools/list' ? { tools: TOOLS } : { content: [{ type: 'text', text: 'ok' }] };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

type Send = (body: string) => Promise<void>;

function sender(url: string, headers: Record<string, string>): Send {
  const dispatcher = new Agent({ connections: 16 });
  return async (body) => {
    const res = await request(url, { method: 'POST', headers, body, dispatcher });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  };
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

async function measure(send: Send, body: (i: number) => string, concurrency: number): Promise<number[]> {
  const times: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < CALLS) {
      const i = next++;
      const start = performance.now();
      await send(body(i));
      times.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return times;
}

const call = (i: number) =>
  JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'search', arguments: { q: 'x' } } });
const list = (i: number) => JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/list' });

async function main(): Promise<void> {
  const upstream = await jsonRpcServer();
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`;
  const policies = {
    ...MCP_POLICIES,
    'bench.cedar': `@id("bench-search")
permit (principal, action == Escrow::Action::"callTool", resource) when { context.mcp.tool like "search*" };
@id("bench-plain")
permit (principal, action, resource == Escrow::Target::"plain");`,
  };
  const escrow: TestEscrow = await startEscrow({
    store: 'memory',
    env: { MCP_KEY: KEY },
    policies,
    targets: [
      {
        name: 'docs',
        protocol: 'mcp',
        upstream: upstreamUrl,
        scrub: { flushAfterMs: 0 },
        credential: { adapter: 'header', header: 'authorization', template: 'Bearer {secret}', value: 'env:MCP_KEY' },
      },
      {
        name: 'plain', // the same server as a plain HTTP target: what an MCP target adds to a POST
        upstream: upstreamUrl,
        scrub: { flushAfterMs: 0 },
        credential: { adapter: 'header', header: 'authorization', template: 'Bearer {secret}', value: 'env:MCP_KEY' },
      },
    ],
  });
  const token = await escrow.token();
  const task = await escrow.openTask(token, ['docs', 'plain'], 'bench');
  const json = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const direct = sender(upstreamUrl, { ...json, authorization: `Bearer ${KEY}` });
  const agentHeaders = { ...json, authorization: `Bearer ${token}`, 'x-escrow-task': task };
  const viaEscrow = sender(`${escrow.url}/docs`, agentHeaders);
  const asPlainHttp = sender(`${escrow.url}/plain`, agentHeaders);
  const rows: string[] = [];
  for (const [name, body] of [
    ['tools/call', call],
    ['tools/list (200 tools, 100 hidden)', list],
  ] as const) {
    for (const concurrency of [1, 8]) {
      for (const [path, send] of [
        ['direct', direct],
        ['through Escrow, plain HTTP target', asPlainHttp],
        ['through Escrow, MCP target', viaEscrow],
      ] as const) {
        await measure(send, body, concurrency); // warm-up
        const all: number[] = [];
        for (let r = 0; r < ROUNDS; r++) all.push(...(await measure(send, body, concurrency)));
        all.sort((a, b) => a - b);
        const p = (q: number) => percentile(all, q).toFixed(2);
        rows.push(`| ${name} | ${concurrency} | ${path} | ${p(0.5)} | ${p(0.99)} |`);
        console.log(rows.at(-1));
      }
    }
  }
  await escrow.close();
  upstream.close();
  const report = [
    '# MCP through Escrow',
    '',
    `Command: \`npx tsx bench/mcp.ts\` · ${new Date().toISOString().slice(0, 10)} · ${cpus().length} CPUs · load ${loadavg()[0]!.toFixed(1)} at the end`,
    '',
    `${ROUNDS} rounds of ${CALLS} JSON-RPC POSTs after a warm-up round, one process (client, Escrow with the memory`,
    'store and a file audit sink, and a JSON-RPC server that answers at once), so the numbers are the path, not a',
    'server. Milliseconds per request. "plain HTTP target" is the same POST to the same server through a target without',
    '`protocol: mcp` (one decision for the HTTP method, no body read, no filter): the difference is what MCP adds.',
    '',
    '| call | concurrency | path | p50 ms | p99 ms |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  writeFileSync(join(import.meta.dirname, 'RESULTS-mcp.md'), report);
}

await main();

// The reference: a bare node:http server forwarding with undici Pool.stream, nothing else (bare-proxy.mjs).
// Run: node bench/servers/undici-proxy.mjs <port> <upstreamPort>
import { createServer } from 'node:http';
import { Pool } from 'undici';
import { bareProxyHandler } from './bare-proxy.mjs';

const pool = new Pool(`http://127.0.0.1:${process.argv[3]}`, { connections: 128, keepAliveTimeout: 30_000 });
const server = createServer({ keepAliveTimeout: 65_000 }, bareProxyHandler(pool));
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`ready ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));

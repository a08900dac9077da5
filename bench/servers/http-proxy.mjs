// http-proxy (node-http-proxy) doing nothing but forwarding, with a keep-alive agent toward the upstream.
// Run: node bench/servers/http-proxy.mjs <port> <upstreamPort>
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';

const agent = new Agent({ keepAlive: true, maxSockets: 128, keepAliveMsecs: 30_000 });
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${process.argv[3]}`, agent, xfwd: false });
// Without an error listener a refused upstream throws and crashes the process (LIBRARY-FACTS.md).
proxy.on('error', (_error, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502);
  res.end();
});
const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => proxy.web(req, res));
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`ready ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));

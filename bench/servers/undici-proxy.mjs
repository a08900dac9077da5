// The reference: a bare node:http server forwarding with undici Pool.stream, nothing else.
// Run: node bench/servers/undici-proxy.mjs <port> <upstreamPort>
import { createServer } from 'node:http';
import { Pool } from 'undici';

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'host', 'expect', 'te', 'trailer']);
const pool = new Pool(`http://127.0.0.1:${process.argv[3]}`, { connections: 128, keepAliveTimeout: 30_000 });

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const headers = {};
  for (const [name, value] of Object.entries(req.headers)) if (!HOP.has(name)) headers[name] = value;
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool
    .stream(
      { method: req.method, path: req.url, headers, body: hasBody ? req : null },
      ({ statusCode, headers: h }) => {
        const out = {};
        for (const [name, value] of Object.entries(h)) if (!HOP.has(name)) out[name] = value;
        res.writeHead(statusCode, out);
        return res;
      },
    )
    .catch(() => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`ready ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));

// The fixed upstream every contestant forwards to: a 1 KiB JSON answer on every path, keep-alive.
// Run: node bench/servers/upstream.mjs <port>   (prints "ready <port>")
import { createServer } from 'node:http';

const items = [];
for (let i = 0; JSON.stringify({ items }).length < 960; i += 1) items.push({ id: i, name: `item-${i}`, ok: true });
const pad = 1024 - JSON.stringify({ items, pad: '' }).length;
const body = Buffer.from(JSON.stringify({ items, pad: 'x'.repeat(Math.max(0, pad)) }));
const headers = { 'content-type': 'application/json', 'content-length': String(body.length) };

let connections = 0;
const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  req.resume();
  if (req.url === '/__connections') return res.end(String(connections));
  res.writeHead(200, headers);
  res.end(body);
});
server.on('connection', () => {
  connections += 1;
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`ready ${server.address().port} ${body.length}\n`);
});
process.on('SIGTERM', () => process.exit(0));

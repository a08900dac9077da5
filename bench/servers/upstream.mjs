// The fixed upstream every contestant forwards to: a 1 KiB JSON answer on every path, keep-alive.
// Run: node bench/servers/upstream.mjs <port>   (prints "ready <port>")
import { createServer } from 'node:http';
import { UPSTREAM_BODY as body } from './upstream-body.mjs';

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

// @fastify/http-proxy doing nothing but forwarding (undici underneath, via @fastify/reply-from).
// Run: node bench/servers/fastify-proxy.mjs <port> <upstreamPort>
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';

const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
await app.register(proxy, {
  upstream: `http://127.0.0.1:${process.argv[3]}`,
  undici: { connections: 128, pipelining: 1, keepAliveTimeout: 30_000 },
});
await app.listen({ port: Number(process.argv[2] ?? 0), host: '127.0.0.1' });
process.stdout.write(`ready ${app.server.address().port}\n`);
process.on('SIGTERM', () => process.exit(0));

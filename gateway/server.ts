import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { handleAdmin } from './admin.js';
import type { RunningGateway } from './app.js';
import { listenOn } from './config/listen.js';
import { resolveSecretRef } from './config/secret-ref.js';
import { EscrowError } from './errors.js';
import { endWithProblem } from './http/raw.js';
import { isLingering } from './http/respond.js';
import { clientErrorHandler } from './limits.js';
import { handleRequest, handleUpgrade } from './pipeline/index.js';

export interface Listeners {
  readonly proxy: Server;
  readonly tls?: Server;
  readonly admin: Server;
  /** Stop accepting, let in-flight requests finish up to `deadlineMs`, then close everything. */
  shutdown(deadlineMs?: number): Promise<void>;
}

/** Listen on every address in turn; if one fails, close those already listening so nothing holds the process. */
async function listenAll(plan: readonly (readonly [Server, string, string])[]): Promise<void> {
  const listening: Server[] = [];
  try {
    for (const [server, address, key] of plan) {
      await listenOn(server, address, key);
      listening.push(server);
    }
  } catch (error) {
    await Promise.all(listening.map((s) => new Promise((resolve) => s.close(resolve))));
    throw error;
  }
}

/** CONNECT never reaches the request handler; answer it 405 rather than leaving the socket hanging. */
function refuseConnect(_req: IncomingMessage, socket: Duplex): void {
  endWithProblem(socket, new EscrowError('method_not_allowed', 'not supported on this listener'));
}

function proxyServerOptions(gw: RunningGateway) {
  return {
    maxHeaderSize: gw.config.proxy.maxHeaderBytes,
    requestTimeout: gw.config.proxy.requestTimeoutMs,
    headersTimeout: Math.min(60_000, gw.config.proxy.requestTimeoutMs),
    keepAliveTimeout: 65_000,
    // Node checks headers/request timeouts on this interval (default 30 s, far coarser than the timeouts).
    connectionsCheckingInterval: 1_000,
    insecureHTTPParser: false,
    joinDuplicateHeaders: false,
  };
}

/**
 * The admin listener: plain HTTP, or TLS when `admin.cert` is set, asking for client certificates from
 * `admin.clientCA` (verified, but not required at the handshake: `/healthz` and `/readyz` answer without one).
 */
function createAdminServer(gw: RunningGateway): Server {
  const read = (ref: string) => resolveSecretRef(ref, gw.baseDir, process.env);
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (isLingering(req.socket)) return void req.socket.destroy();
    handleAdmin(gw, gw.adminAuth, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  };
  const { cert, key, clientCA } = gw.config.admin;
  if (cert === undefined || key === undefined) return createServer(onRequest);
  return createTlsServer(
    {
      cert: read(cert),
      key: read(key),
      ...(clientCA !== undefined ? { ca: read(clientCA), requestCert: true } : {}),
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    onRequest,
  ) as unknown as Server;
}

/** Start the proxy listener (and mTLS listener when configured) and the admin listener. */
export async function startListeners(gw: RunningGateway): Promise<Listeners> {
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    if (isLingering(req.socket)) return void req.socket.destroy(); // pipelined after a refusal: never processed
    handleRequest(gw, req, res).catch((error: unknown) => {
      gw.log.error({ err: (error as Error).message }, 'unhandled pipeline failure');
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  };
  const servers: Server[] = [];
  const proxy = createServer(proxyServerOptions(gw), onRequest);
  servers.push(proxy);
  let tls: Server | undefined;
  const tlsConfig = gw.config.proxy.tls;
  if (tlsConfig) {
    const read = (ref: string) => resolveSecretRef(ref, gw.baseDir, process.env);
    tls = createTlsServer(
      {
        ...proxyServerOptions(gw),
        cert: read(tlsConfig.cert),
        key: read(tlsConfig.key),
        ca: read(tlsConfig.clientCA),
        requestCert: true,
        rejectUnauthorized: tlsConfig.requireClientCert,
        minVersion: 'TLSv1.2',
      },
      onRequest,
    ) as unknown as Server;
    servers.push(tls);
  }
  for (const server of servers) {
    server.on('clientError', clientErrorHandler(gw.metrics, gw.log));
    // `Expect: 100-continue` is answered by Escrow only once the request is allowed (see the pipeline):
    // an agent that would be refused never sends its body.
    server.on('checkContinue', onRequest);
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      if (isLingering(socket)) return void socket.destroy();
      handleUpgrade(gw, req, socket, head).catch(() => socket.destroy());
    });
    server.on('connect', refuseConnect);
  }
  const admin = createAdminServer(gw);
  await listenAll([
    [proxy, gw.config.proxy.listen, 'proxy.listen'],
    ...(tls && tlsConfig ? [[tls, tlsConfig.listen, 'proxy.tls.listen'] as const] : []),
    [admin, gw.config.admin.listen, 'admin.listen'],
  ]);
  try {
    for (const listener of gw.postgres) await listener.listen();
  } catch (error) {
    // Nothing may hold the process after a failed start: close what already listens.
    await Promise.all([...servers, admin].map((s) => new Promise((resolve) => s.close(resolve))));
    await Promise.all(gw.postgres.map((l) => l.close()));
    throw error;
  }
  return {
    proxy,
    ...(tls ? { tls } : {}),
    admin,
    async shutdown(deadlineMs = 10_000) {
      gw.state.draining = true;
      const closing = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      // A keep-alive connection whose last request ends during the drain goes idle and would hold `close`
      // until the deadline: keep closing idle connections until every listener has closed.
      const sweep = setInterval(() => {
        for (const s of servers) s.closeIdleConnections();
      }, 50);
      for (const s of servers) s.closeIdleConnections();
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, deadlineMs).unref());
      await Promise.race([Promise.all(closing), deadline]);
      clearInterval(sweep);
      for (const s of servers) s.closeAllConnections();
      await gw.close();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
      admin.closeAllConnections();
    },
  };
}

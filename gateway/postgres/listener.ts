import { createServer, type Server, type Socket } from 'node:net';
import { listenOn } from '../config/listen.js';
import type { Gateway } from '../gateway.js';
import type { PostgresListenerConfig } from './config.js';
import { handleConnection } from './connection.js';
import type { ListenerContext } from './context.js';
import type { PostgresMetrics } from './metrics.js';
import { SessionRegistry } from './sessions.js';
import type { StartupOptions } from './startup.js';
import { TlsUpgrader } from './tls.js';
import { type ServerAddress, sendCancel } from './upstream.js';

export interface ListenerOptions {
  readonly targetName: string;
  readonly listen: string;
  readonly config: PostgresListenerConfig;
  readonly metrics: PostgresMetrics;
  /** Resolves a secret reference (certificates and keys). */
  readonly secret: (ref: string) => string;
}

function startupOptions(config: PostgresListenerConfig, secret: (ref: string) => string): StartupOptions {
  const tls = config.tls;
  if (!tls) return {};
  const upgrader = new TlsUpgrader({
    cert: secret(tls.cert),
    key: secret(tls.key),
    ...(tls.clientCA ? { ca: secret(tls.clientCA) } : {}),
    requestCert: tls.clientCA !== undefined,
    rejectUnauthorized: tls.requireClientCert,
    minVersion: 'TLSv1.2',
  });
  return { tls: upgrader };
}

/**
 * A `protocol: postgres` target's listener. Owned by the gateway (gateway/app.ts creates it, `close()` stops
 * it); its sessions are bound to their tasks in the gateway's live connections, which every replica's revocation
 * notices cut (gateway/connections.ts).
 */
export class PostgresListener {
  readonly #gw: Gateway;
  readonly #o: ListenerOptions;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly context: ListenerContext;

  constructor(gw: Gateway, options: ListenerOptions) {
    this.#gw = gw;
    this.#o = options;
    const { config } = options;
    const registry = new SessionRegistry();
    const upstreamTls = config.upstreamTls
      ? {
          ...(config.upstreamTls.ca ? { ca: options.secret(config.upstreamTls.ca) } : {}),
          ...(config.upstreamTls.serverName ? { servername: config.upstreamTls.serverName } : {}),
        }
      : undefined;
    this.context = {
      targetName: options.targetName,
      config,
      startup: startupOptions(config, options.secret),
      upstreamTls,
      registry,
      metrics: options.metrics,
      connections: () => this.#sockets.size,
      cancel: (processId, secretKey) => this.#cancel(processId, secretKey),
      sendCancel: (address, key) => this.#sendCancel(address, key),
    };
    this.#server = createServer({ noDelay: true }, (socket) => this.#accept(socket));
  }

  #accept(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => this.#sockets.delete(socket));
    handleConnection(this.#gw, this.context, socket).catch((error: Error) => {
      this.#gw.log.error({ err: error.message }, 'postgres connection handler failed');
      socket.destroy();
    });
  }

  async #cancel(processId: number, secretKey: number): Promise<void> {
    const session = this.context.registry.forCancel(processId, secretKey);
    this.context.metrics.cancels.inc({ target: this.#o.targetName, result: session ? 'forwarded' : 'ignored' });
    await session?.cancel().catch((error: Error) => this.#gw.log.warn({ err: error.message }, 'cancel not delivered'));
  }

  #sendCancel(address: Omit<ServerAddress, 'tls'>, key: { processId: number; secretKey: number }): Promise<void> {
    const tls = this.context.upstreamTls;
    return sendCancel({ ...address, ...(tls ? { tls } : {}) }, key);
  }

  async listen(): Promise<void> {
    await listenOn(this.#server, this.#o.listen, `targets.${this.#o.targetName}.listen`);
  }

  /** The bound port (the config may say 0). */
  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  /** Stop accepting, end every session with 57P01 (as PostgreSQL does on shutdown), close the rest. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.context.registry.cutAll('shutdown');
    for (const socket of this.#sockets) socket.end();
    setTimeout(() => {
      for (const socket of this.#sockets) socket.destroy();
    }, 1_000).unref();
    await closed;
  }
}

import type { PostgresListenerConfig } from './config.js';
import type { PostgresMetrics } from './metrics.js';
import type { SessionRegistry } from './sessions.js';
import type { StartupOptions } from './startup.js';
import type { ServerAddress } from './upstream.js';

/** What a connection on this listener needs besides the gateway. */
export interface ListenerContext {
  readonly targetName: string;
  readonly config: PostgresListenerConfig;
  readonly startup: StartupOptions;
  readonly upstreamTls: { readonly ca?: string; readonly servername?: string } | undefined;
  readonly registry: SessionRegistry;
  readonly metrics: PostgresMetrics;
  /** Client connections open now (starting up or relayed). */
  connections(): number;
  /** A CancelRequest from a client: forwarded only to the session whose key it names. */
  cancel(processId: number, secretKey: number): Promise<void>;
  /** Send a CancelRequest to the database server for one of its backends. */
  sendCancel(address: Omit<ServerAddress, 'tls'>, key: { processId: number; secretKey: number }): Promise<void>;
}

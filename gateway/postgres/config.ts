import { isIP } from 'node:net';
import { z } from 'zod';
import { unmapIPv4 } from '../http/address.js';

/**
 * The schemas of a `protocol: postgres` target. A factory taking the config's `secretRef` schema, because
 * gateway/config/schema.ts imports this file (a plain import back would be a module cycle).
 */
export function postgresSchemas(secretRef: z.ZodString) {
  const clientTls = postgresClientTlsSchema(secretRef);
  return { clientTls, listener: postgresListenerSchema(secretRef, clientTls) };
}

/** TLS towards a PostgreSQL server (sessions and the adapter's admin connection): verified, never optional once set. */
export const postgresClientTlsSchema = (secretRef: z.ZodString) =>
  z.strictObject({
    ca: secretRef
      .optional()
      .describe('CA bundle (PEM) the server certificate must chain to (default: the system CAs).'),
    serverName: z
      .string()
      .min(1)
      .optional()
      .describe('Name the server certificate must carry (default: the host of the URL).'),
  });

/** The agent-facing side of a `protocol: postgres` target. */
const postgresListenerSchema = (secretRef: z.ZodString, clientTls: ReturnType<typeof postgresClientTlsSchema>) =>
  z.strictObject({
    tls: z
      .strictObject({
        cert: secretRef.describe("Escrow's server certificate chain for this listener (PEM)."),
        key: secretRef.describe('Its private key (PEM).'),
        clientCA: secretRef
          .optional()
          .describe('CA bundle (PEM) for X.509-SVID client certificates: such clients authenticate by certificate.'),
        requireClientCert: z
          .boolean()
          .default(false)
          .describe('Refuse clients without a valid certificate (no workload tokens as passwords).'),
      })
      .optional()
      .describe('TLS for agents (SSLRequest). Without it only `allowPlaintext` on a loopback listener accepts anyone.'),
    allowPlaintext: z
      .boolean()
      .default(false)
      .describe(
        'Development only: accept connections without TLS. Refused unless `listen` is a loopback address, and only loopback clients are served.',
      ),
    maxConnections: z
      .number()
      .int()
      .positive()
      .default(100)
      .describe('Client connections this listener holds at once on one replica; more get SQLSTATE 53300.'),
    startupTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('Time a client has to finish TLS, startup and authentication (SQLSTATE 08P01 after).'),
    upstreamTls: clientTls
      .optional()
      .describe('Connect to the database server over verified TLS (SSLRequest). Absent: plain TCP.'),
  });

export type PostgresListenerConfig = z.output<ReturnType<typeof postgresSchemas>['listener']>;
export type PostgresClientTls = z.output<ReturnType<typeof postgresSchemas>['clientTls']>;

/** `postgres://host[:port]` or `postgresql://…`: no userinfo, database, query or fragment. */
export function checkPostgresUrl(value: string): string | undefined {
  if (!URL.canParse(value)) return 'must be a postgres://host:port URL';
  const url = new URL(value);
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') return 'must be a postgres://host:port URL';
  if (!url.hostname) return 'must name a host';
  if (url.username || url.password) return 'must not carry userinfo (put secrets in credential)';
  if ((url.pathname && url.pathname !== '/') || url.search || url.hash) {
    return 'must not carry a database, query or fragment (the client names the database)';
  }
  return undefined;
}

/** Host and port of a checked postgres URL (5432 by default). */
export function postgresAddress(value: string): { host: string; port: number } {
  const url = new URL(value);
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : 5432 };
}

/** True for 127.0.0.0/8, ::1 and `localhost`, the only hosts a plaintext listener may bind to or serve. */
export function isLoopback(host: string): boolean {
  const bare = unmapIPv4(host.replace(/^\[|\]$/g, ''));
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1';
}

/** The host part of a `listen` address as gateway/server.ts binds it (a bare port binds 127.0.0.1). */
export function listenHost(listen: string): string {
  const at = listen.lastIndexOf(':');
  if (at === -1) return '127.0.0.1';
  return listen.slice(0, at).replace(/^\[|\]$/g, '') || '0.0.0.0';
}

import type { Server } from 'node:net';

/**
 * A config `listen` address (`host:port`, `[::1]:port`, `:port` for every interface, or a bare port on loopback)
 * as `server.listen` takes it. The proxy, admin and PostgreSQL listeners all read theirs with it.
 */
export function parseListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  if (at === -1) return { host: '127.0.0.1', port: Number(listen) };
  const host = listen.slice(0, at).replace(/^\[|\]$/g, '') || '0.0.0.0';
  return { host, port: Number(listen.slice(at + 1)) };
}

/** The URL a config `listen` address is reached at from this machine: a listener on every interface, on loopback. */
export function reachableUrl(listen: string, scheme: 'http' | 'https'): string {
  const { host, port } = parseListen(listen);
  const reach = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `${scheme}://${reach.includes(':') ? `[${reach}]` : reach}:${port}`;
}

/** Listen on `address`; a failure names the config key and the address (`proxy.listen 127.0.0.1:8080: …`). */
export function listenOn(server: Server, address: string, key: string): Promise<void> {
  const { host, port } = parseListen(address);
  return new Promise((resolve, reject) => {
    const fail = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(new Error(`${key} ${address}: the address is already in use`));
      else reject(new Error(`${key} ${address}: cannot listen`, { cause: error }));
    };
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
}

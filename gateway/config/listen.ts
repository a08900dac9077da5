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

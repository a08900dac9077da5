import { isIPv4 } from 'node:net';

/**
 * An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, any case) as the IPv4 address it carries; any other address as
 * it is. Node reports IPv4 peers of a dual-stack socket in the mapped form, and every consumer wants the plain one:
 * Cedar's `ip()` refuses the mapped form, `X-Forwarded-For` and loopback checks compare plain IPv4.
 */
export function unmapIPv4(address: string): string {
  const tail = address.slice(7);
  return address.slice(0, 7).toLowerCase() === '::ffff:' && isIPv4(tail) ? tail : address;
}

/** A peer's address as the policy context's `client.ip` takes it: unmapped, `0.0.0.0` when the socket has none. */
export function clientIp(address: string | undefined): string {
  return address ? unmapIPv4(address) : '0.0.0.0';
}

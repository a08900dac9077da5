import type { IncomingMessage } from 'node:http';
import { EscrowError } from '../errors.js';
import { unmapIPv4 } from './address.js';
import { headerCount, headerValues } from './raw-headers.js';

/** RFC 9110 §7.6.1 hop-by-hop headers, plus the legacy and proxy ones: never forwarded in either direction. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'expect',
  'http2-settings',
]);

/**
 * Byte ranges: an agent that chooses where an answer starts and ends chooses where a reflected secret is split, and
 * the scrubber only masks whole secrets, so it could read one slice by slice. Every answer is asked for whole.
 */
const PARTIAL = new Set(['range', 'if-range']);

/** Headers an agent could use to lie about where the request came from or where it goes. */
const SPOOFABLE = new Set(['host', 'forwarded', 'x-real-ip', 'x-original-url', 'x-rewrite-url', 'x-escrow-task']);

export interface RequestHeaderPolicy {
  /** Headers that may carry the agent's workload token: always removed. */
  readonly tokenHeaders: ReadonlySet<string>;
  /** `proxy.forwardedHeaders`: Escrow sets its own `X-Forwarded-For`/`-Proto` (the agent's are always dropped). */
  readonly forwarded?: boolean;
}

/** Refuse requests whose framing or identity headers are ambiguous. */
export function checkRequestHeaders(req: IncomingMessage): void {
  const raw = req.rawHeaders;
  if (headerCount(raw, 'host') !== 1) throw new EscrowError('bad_request', 'exactly one Host header is required');
  if (headerCount(raw, 'authorization') > 1) throw new EscrowError('bad_request', 'duplicate Authorization header');
  if (req.httpVersionMajor !== 1 || (req.httpVersionMinor === 0 && req.headers['transfer-encoding'] !== undefined)) {
    throw new EscrowError('bad_request', 'HTTP/1.1 is required for chunked bodies');
  }
}

/**
 * The headers to send upstream, before the adapter runs. Strip first, then inject: hop-by-hop headers, every
 * header named in `Connection`, the agent's token headers, spoofable forwarding headers, `Range`/`If-Range` and
 * names containing `_` (some upstreams read them as `-`) are all removed, so nothing the agent sends can remove or shadow what
 * the adapter injects. `accept-encoding` is pinned to identity so responses can be scrubbed.
 */
export function upstreamHeaders(req: IncomingMessage, policy: RequestHeaderPolicy): Record<string, string | string[]> {
  const named = new Set<string>();
  for (const value of headerValues(req.rawHeaders, 'connection')) {
    for (const token of value.split(',')) named.add(token.trim().toLowerCase());
  }
  const out: Record<string, string | string[]> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || named.has(name) || SPOOFABLE.has(name) || policy.tokenHeaders.has(name)) continue;
    if (PARTIAL.has(name)) continue;
    if (name.includes('_') || name.startsWith('x-forwarded-') || name.startsWith('proxy-')) continue;
    if (name === 'accept-encoding') continue;
    const value = raw[i + 1]!;
    // Own properties only: a header named `constructor` or `toString` must not pick up Object.prototype's.
    const existing = Object.hasOwn(out, name) ? out[name] : undefined;
    if (existing === undefined) out[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[name] = [existing, value];
  }
  out['accept-encoding'] = 'identity';
  if (policy.forwarded) {
    out['x-forwarded-for'] = unmapIPv4(req.socket.remoteAddress ?? '');
    out['x-forwarded-proto'] = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  }
  return out;
}

/** Headers that hand the agent a session or an authentication challenge meant for Escrow's credential. */
const RESPONSE_DROP = new Set([
  ...HOP_BY_HOP,
  'set-cookie',
  'set-cookie2',
  'www-authenticate',
  'authentication-info',
  'proxy-authentication-info',
  'alt-svc',
]);

/** Response headers to pass back: hop-by-hop and credential-bearing ones dropped unless the target allows them. */
export function responseHeaders(
  headers: Record<string, string | string[] | undefined>,
  allowed: ReadonlySet<string>,
): Record<string, string | string[]> {
  // Headers the upstream's `Connection` names are hop-by-hop too; most answers name none (no set to build then).
  const connection = headers.connection;
  let named: Set<string> | undefined;
  if (connection !== undefined) {
    named = new Set();
    for (const value of Array.isArray(connection) ? connection : [connection]) {
      for (const token of value.split(',')) named.add(token.trim().toLowerCase());
    }
  }
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if ((RESPONSE_DROP.has(name) || named?.has(name)) && !allowed.has(name)) continue;
    if (name === 'transfer-encoding' || name === 'connection' || name === 'keep-alive') continue;
    out[name] = value;
  }
  return out;
}

/**
 * An answer framed with a transfer coding other than `chunked` (`Transfer-Encoding: gzip, chunked`): undici removes
 * the chunking, not the gzip, so the body would reach the scrubber compressed and the agent could decompress what
 * was never scanned. Such an answer is refused (502), like an unknown content encoding.
 */
export function requireScrubbableFraming(headers: Record<string, string | string[] | undefined>): void {
  const value = headers['transfer-encoding'];
  if (value === undefined) return;
  for (const coding of (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(','))) {
    const name = coding.trim().toLowerCase();
    if (name !== '' && name !== 'chunked') {
      throw new EscrowError('upstream_error', 'the upstream used a transfer coding Escrow cannot scrub');
    }
  }
}

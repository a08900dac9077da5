import type { IncomingMessage } from 'node:http';
import type { UpstreamRequest } from '../../adapters/types.js';
import type { Gateway } from '../gateway.js';
import { upstreamHeaders } from '../http/headers.js';
import type { LeaseRecord } from '../leases/record.js';
import type { TargetRuntime } from '../targets.js';

/**
 * Stage 6, first half: the agent's headers without its credentials, hop-by-hop headers and every header named in
 * `Connection` (gateway/http/headers.ts), before any adapter runs; plus the request id for the upstream's logs.
 */
export function strippedHeaders(
  gw: Gateway,
  req: IncomingMessage,
  target: TargetRuntime,
  requestId: string,
): Record<string, string | string[]> {
  const headers = upstreamHeaders(req, {
    tokenHeaders: target.tokenHeaders,
    forwarded: gw.config.proxy.forwardedHeaders,
  });
  headers['x-request-id'] = requestId;
  return headers;
}

const NO_VALUES: readonly string[] = [];

/**
 * Stage 6, second half: the adapter injects the lease's credential. Every value that goes on the wire is a needle
 * before the first response byte is scanned: the lease's credential is pinned (an eviction from the lease cache
 * cannot unmask this answer), and so is what the adapter derived. Returns the function that unpins them.
 */
export function inject(gw: Gateway, target: TargetRuntime, lease: LeaseRecord, upstream: UpstreamRequest) {
  const unpin = gw.secrets.pin(lease.credential);
  const derived = target.adapter.inject(upstream, lease.credential.reveal());
  const values = Array.isArray(derived) ? derived : NO_VALUES;
  const unpinDerived = gw.secrets.pinDerived(values);
  if (values.length === 0) return unpin; // nothing derived (most adapters): no closure of our own; once only too
  let released = false;
  return (): void => {
    if (released) return;
    released = true;
    unpinDerived();
    unpin();
  };
}

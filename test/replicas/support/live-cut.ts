import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { openWebSocket } from '../../support/websocket.js';
import { percentile } from './latency.js';
import type { StreamsUpstream } from './streams.js';

export const STREAM_KINDS = ['ws', 'sse', 'upload'] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];

/** One long-lived exchange through Escrow, as the agent holds it. */
export interface LiveStream {
  /** Resolves with `performance.now()` once the agent's connection is closed. */
  readonly closed: Promise<number>;
  /** The status Escrow answered an upload with when it was cut before any answer (403), if it answered. */
  answered(): number | undefined;
  destroy(): void;
}

const timeout = (ms: number, what: string) =>
  new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms).unref());

/** Open one `kind` of exchange through Escrow at `base` (target `live`) and resolve once it flows both ways. */
export async function openStream(
  base: string,
  kind: StreamKind,
  headers: Record<string, string>,
  upstream: StreamsUpstream,
): Promise<LiveStream> {
  const { hostname, port } = new URL(base);
  if (kind === 'ws') {
    const client = await openWebSocket(Number(port), '/live/echo', headers);
    if (client.status !== 101) throw new Error(`upgrade answered ${client.status}: ${client.body()}`);
    client.send('hello');
    await client.waitMessages(1);
    return {
      closed: client.closed.then(() => performance.now()),
      answered: () => undefined,
      destroy: () => client.terminate(),
    };
  }
  const before = upstream.streams.length;
  const req = request({
    host: hostname,
    port,
    method: kind === 'sse' ? 'GET' : 'POST',
    path: kind === 'sse' ? '/live/sse' : '/live/upload',
    headers: kind === 'sse' ? headers : { ...headers, 'content-type': 'text/plain', 'transfer-encoding': 'chunked' },
    agent: false,
  });
  const closed = new Promise<number>((resolve) => req.once('close', () => resolve(performance.now())));
  req.on('error', () => {});
  let feeding: NodeJS.Timeout | undefined;
  let status: number | undefined;
  if (kind === 'upload') {
    req.once('response', (res) => {
      status = res.statusCode;
      res.resume();
    });
    feeding = setInterval(() => req.write('chunk\n'), 20);
    void closed.then(() => clearInterval(feeding));
    req.write('first\n');
    await Promise.race([waitUntil(() => upstream.streams.length > before), timeout(5_000, 'upload not seen')]);
  } else {
    req.end();
    const flowing = new Promise<void>((resolve, reject) => {
      req.once('response', (res) => {
        if (res.statusCode !== 200) reject(new Error(`sse answered ${res.statusCode}`));
        res.once('data', () => resolve());
        res.on('error', () => {});
      });
    });
    await Promise.race([flowing, timeout(5_000, 'no first event')]);
  }
  return {
    closed,
    answered: () => status,
    destroy: () => {
      clearInterval(feeding);
      req.destroy();
    },
  };
}

async function waitUntil(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 2));
}

export interface CutTrial {
  readonly kind: StreamKind;
  /** From sending the close (or kill switch) to the agent's connection closing, ms: the conservative figure. */
  readonly sinceSentMs: number;
  /** From the close's answer arriving to the agent's connection closing (negative: cut before the answer). */
  readonly sinceAnsweredMs: number;
  /** Wall-clock time of the cut (epoch ms), to compare with a task's `expiresAt`. */
  readonly cutAtEpochMs: number;
  /** What the agent was answered before the cut, if anything (an upload: 403 `task_closed`). */
  readonly answered: number | undefined;
}

/**
 * Establish `kind` on `at` within `task`, run `revoke` (a close, a kill switch…) and measure when the agent's
 * connection closes; then wait until the upstream's side closed too. Fails if either is not cut within 5 s.
 */
export async function cutTrial(
  at: string,
  kind: StreamKind,
  headers: Record<string, string>,
  upstream: StreamsUpstream,
  revoke: () => Promise<void>,
): Promise<CutTrial> {
  const stream = await openStream(at, kind, headers, upstream);
  const upstreamSide = upstream.streams.at(-1)!;
  const sentAt = performance.now();
  await revoke();
  const answeredAt = performance.now();
  try {
    const closedAt = await Promise.race([stream.closed, timeout(5_000, `${kind} not cut`)]);
    const cutAtEpochMs = Date.now() - (performance.now() - closedAt);
    await Promise.race([waitUntil(() => upstreamSide.closedAt !== undefined), timeout(5_000, `${kind} upstream open`)]);
    return {
      kind,
      sinceSentMs: closedAt - sentAt,
      sinceAnsweredMs: closedAt - answeredAt,
      cutAtEpochMs,
      answered: stream.answered(),
    };
  } finally {
    stream.destroy();
  }
}

export interface CutDistribution {
  readonly trials: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function cutSummary(trials: readonly CutTrial[]): CutDistribution {
  const sorted = trials.map((t) => t.sinceSentMs).sort((x, y) => x - y);
  return {
    trials: trials.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

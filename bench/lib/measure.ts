import { runAutocannon } from './autocannon.js';
import type { Contestant, Field } from './contestants.js';
import { type LoadResult, runLoad } from './loadgen.js';
import { cpuSeconds, rssBytes } from './process.js';

/** What the agent sends: the same request again and again, or a new path and query every time. */
export interface Workload {
  readonly name: 'poll' | 'hostile';
  readonly description: string;
  path(i: number): string;
  readonly fixed: boolean;
}

export const WORKLOADS: readonly Workload[] = [
  {
    name: 'poll',
    description: 'the same GET repeated (an agent polling): `/bench/items/42?fields=id,name`',
    path: () => '/bench/items/42?fields=id,name',
    fixed: true,
  },
  {
    name: 'hostile',
    description: 'cache-hostile: every request a distinct path and query, `/bench/items/<n>?q=<n>&page=<n mod 97>`',
    path: (i) => `/bench/items/${i}?q=${i}&page=${i % 97}`,
    fixed: false,
  },
];

export type LoadGenerator = 'autocannon' | 'builtin';

export interface Sample {
  readonly round: number;
  readonly workload: Workload['name'];
  readonly contestant: string;
  /**
   * `max`: closed loop, c connections as fast as answers come; `rate`: open loop at half the reference's max;
   * `rate-escrow`: open loop at half Escrow's own max (a load Escrow can carry, for its added latency there).
   */
  readonly mode: 'max' | 'rate' | 'rate-escrow';
  readonly rate?: number;
  readonly result: LoadResult;
  /** CPU time the proxy process (tree) spent per answered request, µs. */
  readonly cpuUs: number;
  readonly upstreamCpuUs: number;
  /** New connections the upstream accepted during the run (keep-alive working: ~0 after warm-up). */
  readonly upstreamConnections: number;
  readonly rss: number;
}

export interface MeasureOptions {
  readonly connections: number;
  readonly durationMs: number;
  readonly loadgen: LoadGenerator;
}

function headersFor(field: Field): Record<string, string> {
  return { authorization: `Bearer ${field.token}`, 'x-escrow-task': field.taskId };
}

function requestBuilder(field: Field, workload: Workload, port: number): (i: number) => Buffer {
  const tail = Buffer.from(
    ` HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nauthorization: Bearer ${field.token}\r\nx-escrow-task: ${field.taskId}\r\n\r\n`,
  );
  if (workload.fixed) {
    const whole = Buffer.concat([Buffer.from(`GET ${workload.path(0)}`), tail]);
    return () => whole;
  }
  return (i) => Buffer.concat([Buffer.from(`GET ${workload.path(i)}`), tail]);
}

async function upstreamConnections(field: Field): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${field.upstreamPort}/__connections`);
  return Number(await res.text());
}

/** One run against one contestant, with the CPU its process and the upstream spent. */
export async function measure(
  field: Field,
  contestant: Contestant,
  workload: Workload,
  round: number,
  options: MeasureOptions & { rate?: number; mode?: Sample['mode'] },
): Promise<Sample> {
  const conn0 = await upstreamConnections(field);
  const cpu0 = cpuSeconds(contestant.child.pid);
  const up0 = cpuSeconds(field.upstream.pid);
  const result =
    options.rate === undefined && options.loadgen === 'autocannon'
      ? await runAutocannon({
          port: contestant.port,
          connections: options.connections,
          durationMs: options.durationMs,
          headers: headersFor(field),
          path: (i) => workload.path(i),
          fixed: workload.fixed,
        })
      : await runLoad({
          port: contestant.port,
          connections: options.connections,
          durationMs: options.durationMs,
          request: requestBuilder(field, workload, contestant.port),
          ...(options.rate !== undefined ? { rate: options.rate } : {}),
        });
  const answered = Math.max(1, result.requests);
  return {
    round,
    workload: workload.name,
    contestant: contestant.name,
    mode: options.mode ?? (options.rate === undefined ? 'max' : 'rate'),
    ...(options.rate !== undefined ? { rate: options.rate } : {}),
    result,
    cpuUs: ((cpuSeconds(contestant.child.pid) - cpu0) * 1e6) / answered,
    upstreamCpuUs: ((cpuSeconds(field.upstream.pid) - up0) * 1e6) / answered,
    upstreamConnections: (await upstreamConnections(field)) - conn0 - 1,
    rss: rssBytes(contestant.child.pid),
  };
}

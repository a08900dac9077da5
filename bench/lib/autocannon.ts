import { createRequire } from 'node:module';
import type { LoadResult } from './loadgen.js';

interface AutocannonResult {
  readonly requests: { readonly total: number };
  readonly duration: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly latency: { readonly p50: number; readonly p99: number; readonly p99_9: number; readonly max: number };
}
interface AutocannonRequest {
  setupRequest?: (request: { path: string }) => { path: string };
}
type Autocannon = (
  options: {
    url: string;
    connections: number;
    duration: number;
    headers: Record<string, string>;
    requests?: AutocannonRequest[];
  },
  done: (error: Error | null, result: AutocannonResult) => void,
) => unknown;

// autocannon ships CommonJS without types.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface AutocannonOptions {
  readonly port: number;
  readonly connections: number;
  readonly durationMs: number;
  readonly headers: Record<string, string>;
  /** The path of request `i`. */
  readonly path: (i: number) => string;
  /** Every request has the same path (autocannon then sends one prebuilt buffer). */
  readonly fixed: boolean;
}

/** Closed-loop throughput with autocannon. Its latencies are whole milliseconds (reported here in µs). */
export function runAutocannon(options: AutocannonOptions): Promise<LoadResult> {
  let i = 0;
  const requests: AutocannonRequest[] = options.fixed
    ? []
    : [
        {
          setupRequest: (request) => {
            request.path = options.path(i++);
            return request;
          },
        },
      ];
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `http://127.0.0.1:${options.port}${options.path(0)}`,
        connections: options.connections,
        duration: options.durationMs / 1000,
        headers: options.headers,
        ...(requests.length > 0 ? { requests } : {}),
      },
      (error, result) => {
        if (error) return reject(error);
        resolve({
          requests: result.requests.total,
          seconds: result.duration,
          rps: result.requests.total / result.duration,
          errors: result.errors + result.timeouts,
          non2xx: result.non2xx,
          p50: result.latency.p50 * 1000,
          p99: result.latency.p99 * 1000,
          p999: result.latency.p99_9 * 1000,
          max: result.latency.max * 1000,
        });
      },
    );
  });
}

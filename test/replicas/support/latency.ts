import { performance } from 'node:perf_hooks';

/** A replica as the measurement sees it: its proxy URL. */
export interface Endpoint {
  readonly url: string;
}

export interface CloseTrial {
  /** From the close's 204 arriving to the first refusal from the other replica, ms. */
  readonly latencyMs: number;
  /** Whether the very first request after the close was already refused. */
  readonly refusedAtOnce: boolean;
}

const headers = (token: string, task?: string) => ({
  authorization: `Bearer ${token}`,
  'content-type': 'application/json',
  ...(task ? { 'x-escrow-task': task } : {}),
});

async function openTask(at: Endpoint, token: string, target: string): Promise<string> {
  const res = await fetch(`${at.url}/_escrow/tasks`, {
    method: 'POST',
    headers: headers(token),
    body: JSON.stringify({ intent: 'replica trial', targets: [target] }),
  });
  const body = (await res.json()) as { id?: string };
  if (res.status !== 201 || !body.id) throw new Error(`open: ${res.status} ${JSON.stringify(body)}`);
  return body.id;
}

async function call(at: Endpoint, token: string, task: string, target: string): Promise<number> {
  const res = await fetch(`${at.url}/${target}/trial`, { headers: headers(token, task) });
  await res.arrayBuffer();
  return res.status;
}

/**
 * One trial: open a task on `a`, use it on `a` (so `a` caches the task and its lease), close it on `b`, then
 * ask `a` until it refuses.
 */
export async function closeTrial(a: Endpoint, b: Endpoint, token: string, target: string): Promise<CloseTrial> {
  const task = await openTask(a, token, target);
  for (let i = 0; i < 2; i++) {
    const status = await call(a, token, task, target);
    if (status !== 200) throw new Error(`warm-up request answered ${status}`);
  }
  const closed = await fetch(`${b.url}/_escrow/tasks/${task}`, { method: 'DELETE', headers: headers(token) });
  const closedAt = performance.now();
  if (closed.status !== 204) throw new Error(`close answered ${closed.status}`);
  for (let attempt = 0; ; attempt++) {
    const status = await call(a, token, task, target);
    if (status === 403) return { latencyMs: performance.now() - closedAt, refusedAtOnce: attempt === 0 };
    if (status !== 200 || attempt > 1_000) throw new Error(`after close: ${status} on attempt ${attempt}`);
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export interface Distribution {
  readonly trials: number;
  readonly refusedAtOnce: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function summarize(trials: readonly CloseTrial[]): Distribution {
  const sorted = trials.map((t) => t.latencyMs).sort((x, y) => x - y);
  return {
    trials: trials.length,
    refusedAtOnce: trials.filter((t) => t.refusedAtOnce).length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

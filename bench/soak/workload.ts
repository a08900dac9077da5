import { randomInt } from 'node:crypto';
import { Agent, fetch } from 'undici';

/** What one agent of the soak does in a loop: the mix of requests, and how each answer is classified. */
export type Scenario = 'task' | 'denial' | 'bad_token' | 'fault';

/** One answer, by what was asked and what came back. */
export interface Outcome {
  readonly scenario: Scenario;
  readonly what: 'open' | 'call' | 'close' | 'denied' | 'bad_token' | 'fault';
  readonly status: number;
  readonly ms: number;
}

export interface WorkloadTarget {
  readonly url: string;
  /** A fresh signed token for agent `n` (a bad one is made from it). */
  token(n: number): Promise<string>;
}

/** Tasks left to expire instead of being closed (the sweeper must revoke their leases). */
export interface Expiring {
  readonly id: string;
  readonly expiresAt: number;
}

let dispatcher = new Agent({ connections: 64 });

async function send(url: string, init: { method?: string; headers: Record<string, string>; body?: string }) {
  const start = performance.now();
  try {
    const res = await fetch(url, { ...init, dispatcher, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    return { status: res.status, ms: performance.now() - start, text };
  } catch {
    return { status: 0, ms: performance.now() - start, text: '' };
  }
}

/** Weighted pick: mostly real work, some refusals, some bad tokens, a few injected upstream faults. */
function pick(): Scenario {
  const r = randomInt(100);
  return r < 75 ? 'task' : r < 85 ? 'denial' : r < 95 ? 'bad_token' : 'fault';
}

/** Open a task, make 5–30 calls (reads and writes), then close it or (if `expire`) leave it to expire. */
async function taskRound(base: string, token: string, expire: boolean, out: Outcome[], expiring: Expiring[]) {
  const auth = { authorization: `Bearer ${token}` };
  const ttlSeconds = expire ? 2 : 60;
  const opened = await send(`${base}/_escrow/tasks`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ intent: 'soak: mixed workload', targets: ['echo'], ttlSeconds }),
  });
  out.push({ scenario: 'task', what: 'open', status: opened.status, ms: opened.ms });
  if (opened.status !== 201) return;
  const { id, expiresAt } = JSON.parse(opened.text) as { id: string; expiresAt: string };
  const headers = { ...auth, 'x-escrow-task': id };
  for (let i = randomInt(5, 31); i > 0; i--) {
    const write = randomInt(4) === 0;
    const answer = await send(`${base}/echo/items/${i}`, {
      method: write ? 'POST' : 'GET',
      headers: write ? { ...headers, 'content-type': 'application/json' } : headers,
      ...(write ? { body: JSON.stringify({ n: i, pad: 'x'.repeat(randomInt(2_000)) }) } : {}),
    });
    out.push({ scenario: 'task', what: 'call', status: answer.status, ms: answer.ms });
  }
  if (expire) {
    expiring.push({ id, expiresAt: Date.parse(expiresAt) });
    return;
  }
  const closed = await send(`${base}/_escrow/tasks/${id}`, { method: 'DELETE', headers: auth });
  out.push({ scenario: 'task', what: 'close', status: closed.status, ms: closed.ms });
}

/** One agent: loops over scenarios until `until` (epoch ms). Tasks left to expire are opened in the first half only. */
export async function agentLoop(
  target: WorkloadTarget,
  n: number,
  window: { start: number; until: number },
  out: Outcome[],
  expiring: Expiring[],
): Promise<void> {
  const token = await target.token(n);
  while (Date.now() < window.until) {
    const scenario = pick();
    if (scenario === 'task') {
      const early = Date.now() < window.start + (window.until - window.start) / 2;
      await taskRound(target.url, token, early && randomInt(5) === 0, out, expiring);
    } else if (scenario === 'denial') {
      // `vault` is for humans only: policy refuses agents before any task or credential is touched.
      const answer = await send(`${target.url}/vault/secrets`, { headers: { authorization: `Bearer ${token}` } });
      out.push({ scenario, what: 'denied', status: answer.status, ms: answer.ms });
    } else if (scenario === 'bad_token') {
      const bad = randomInt(2) === 0 ? `${token.slice(0, -4)}AAAA` : 'not-a-token';
      const answer = await send(`${target.url}/echo/items`, { headers: { authorization: `Bearer ${bad}` } });
      out.push({ scenario, what: 'bad_token', status: answer.status, ms: answer.ms });
    } else {
      await faultRound(target.url, token, out);
    }
  }
}

/** A task on `flaky`, whose upstream resets every connection: the injected fault, answered 502; then closed. */
async function faultRound(base: string, token: string, out: Outcome[]) {
  const auth = { authorization: `Bearer ${token}` };
  const opened = await send(`${base}/_escrow/tasks`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ intent: 'soak: injected fault', targets: ['flaky'], ttlSeconds: 60 }),
  });
  out.push({ scenario: 'fault', what: 'open', status: opened.status, ms: opened.ms });
  if (opened.status !== 201) return;
  const { id } = JSON.parse(opened.text) as { id: string };
  const answer = await send(`${base}/flaky/x`, { headers: { ...auth, 'x-escrow-task': id } });
  out.push({ scenario: 'fault', what: 'fault', status: answer.status, ms: answer.ms });
  const closed = await send(`${base}/_escrow/tasks/${id}`, { method: 'DELETE', headers: auth });
  out.push({ scenario: 'fault', what: 'close', status: closed.status, ms: closed.ms });
}

/** Close the keep-alive pool the workload used (a later run gets a new one). */
export async function closeWorkload(): Promise<void> {
  const used = dispatcher;
  dispatcher = new Agent({ connections: 64 });
  await used.close();
}

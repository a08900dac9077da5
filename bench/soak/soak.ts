import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { startFaultUpstream } from '../../test/reliability/support/fault-upstreams.js';
import { scrape } from '../../test/reliability/support/metrics.js';
import { type EscrowProcess, startEscrowProcess } from '../../test/support/escrow-process.js';
import { REDIS_URL } from '../../test/support/redis.js';
import { startUpstream } from '../../test/support/upstream.js';
import { agentLoop, closeWorkload, type Expiring, type Outcome } from './workload.js';

export interface SoakOptions {
  readonly seconds: number;
  /** Concurrent agents (each its own workload identity). */
  readonly agents?: number;
  readonly redisUrl?: string;
  readonly onProgress?: (line: string) => void;
}

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface SoakReport {
  readonly ok: boolean;
  readonly checks: readonly Check[];
  readonly counts: Readonly<Record<string, number>>;
  readonly requests: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly rssMiB: readonly number[];
}

const SWEEP_INTERVAL_MS = 10_000; // the CLI's expired-lease sweep (gateway/app.ts default)
const RSS_METRIC = 'escrow_process_resident_memory_bytes';

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

const median = (values: readonly number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

async function auditEvents(redis: Redis, prefix: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let start = '-';
  for (;;) {
    const page = await redis.xrange(`${prefix}audit`, start, '+', 'COUNT', 1000);
    // An entry holds `p` (the writer's previous entry) and `e` (the event): gateway/store/audit-script.ts.
    for (const [, fields] of page)
      out.push(JSON.parse(fields[fields.indexOf('e') + 1] ?? '{}') as Record<string, unknown>);
    if (page.length < 1000) return out;
    start = `(${page.at(-1)![0]}`;
  }
}

async function keysUnder(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

/** Leases issued (or renewed into) that the audit stream shows neither revoked nor past their expiry. */
function unaccounted(events: readonly Record<string, unknown>[], now: number): string[] {
  const revoked = new Set(events.filter((e) => e.event === 'lease.revoked').map((e) => String(e.leaseId)));
  return events
    .filter((e) => e.event === 'lease.issued' || e.event === 'lease.renewed')
    .filter((e) => !revoked.has(String(e.leaseId)) && Date.parse(String(e.expiresAt)) > now)
    .map((e) => String(e.leaseId));
}

function statusChecks(outcomes: readonly Outcome[]): Check[] {
  const unexpected = outcomes.filter((o) => (o.status >= 500 || o.status === 0) && o.what !== 'fault');
  const expect = (what: Outcome['what'], status: number, name: string): Check => {
    const of = outcomes.filter((o) => o.what === what);
    const wrong = of.filter((o) => o.status !== status);
    return { name, ok: wrong.length === 0, detail: `${of.length - wrong.length}/${of.length} answered ${status}` };
  };
  return [
    {
      name: 'no 5xx apart from injected faults',
      ok: unexpected.length === 0,
      detail:
        unexpected.length === 0
          ? `${outcomes.length} answers`
          : `${unexpected.length} unexpected: ${JSON.stringify(unexpected.slice(0, 5))}`,
    },
    expect('fault', 502, 'injected faults answered 502'),
    expect('denied', 403, 'denials answered 403'),
    expect('bad_token', 401, 'bad tokens answered 401'),
  ];
}

/** RSS after warm-up: the median of the last third may exceed that of the middle third by 10 % + 16 MiB at most. */
function rssCheck(samples: readonly number[]): Check {
  const third = Math.floor(samples.length / 3);
  if (third < 2) return { name: 'RSS flat', ok: true, detail: `too few samples (${samples.length}) to judge` };
  const middle = median(samples.slice(third, 2 * third));
  const last = median(samples.slice(2 * third));
  const limit = middle * 1.1 + 16 * 1024 * 1024;
  const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
  return {
    name: 'RSS flat',
    ok: last <= limit,
    detail: `middle ${mib(middle)} MiB → last ${mib(last)} MiB (limit ${mib(limit)})`,
  };
}

async function startRig(redisUrl: string, prefix: string) {
  const echo = await startUpstream();
  const flaky = await startFaultUpstream((req) => req.socket.destroy());
  const target = (name: string, upstream: string, attributes: Record<string, string>) => ({
    name,
    upstream,
    attributes,
    credential: { adapter: 'header', header: 'x-api-key', value: 'env:SOAK_KEY', ttl: 300 },
  });
  const escrow = await startEscrowProcess({
    store: redisUrl,
    prefix,
    logLevel: 'warn',
    env: { SOAK_KEY: `canary-soak-${randomBytes(6).toString('hex')}` },
    // The whole soak stays in the stream: every lease is accounted from it at the end.
    config: {
      audit: { sinks: ['redis'], streamRetentionSeconds: 86_400, streamMaxLen: 50_000_000 },
      tasks: { maxOpenPerPrincipal: 10_000 },
    },
    targets: [
      target('echo', echo.url, { sensitivity: 'low', environment: 'dev' }),
      target('vault', echo.url, { sensitivity: 'high', environment: 'prod', audience: 'human' }),
      target('flaky', flaky.url, { sensitivity: 'low', environment: 'dev' }),
    ],
  });
  return {
    escrow,
    async close() {
      await escrow.close();
      await echo.close();
      await flaky.close();
    },
  };
}

/** Sample the process RSS every `everyMs` until stopped. */
function sampleRss(escrow: EscrowProcess, everyMs: number) {
  const samples: number[] = [];
  const timer = setInterval(() => {
    scrape(escrow.adminUrl, RSS_METRIC).then(
      (v) => samples.push(v),
      () => {},
    );
  }, everyMs);
  return { samples, stop: () => clearInterval(timer) };
}

/**
 * Run the bounded mixed workload against an Escrow process this function starts (real Redis, own prefix),
 * then check what must hold after it: no unexpected 5xx, no lease left in Redis, every lease revoked or
 * expired in the audit stream, RSS flat.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const redisUrl = options.redisUrl ?? REDIS_URL;
  const prefix = `escrowsoak:${randomBytes(4).toString('hex')}:`;
  const redis = new Redis(redisUrl);
  const rig = await startRig(redisUrl, prefix);
  const outcomes: Outcome[] = [];
  const expiring: Expiring[] = [];
  const rss = sampleRss(rig.escrow, Math.max(250, (options.seconds * 1000) / 60));
  try {
    const start = Date.now();
    const window = { start, until: start + options.seconds * 1000 };
    const progress = setInterval(() => options.onProgress?.(`${outcomes.length} answers`), 5_000);
    const source = {
      url: rig.escrow.url,
      token: (n: number) => rig.escrow.token({ sub: `spiffe://test.example/agent/soak-${n}` }),
    };
    await Promise.all(
      Array.from({ length: options.agents ?? 8 }, (_, n) => agentLoop(source, n, window, outcomes, expiring)),
    );
    clearInterval(progress);
    rss.stop();
    // Tasks left to expire: their leases go when the sweeper next runs after their expiry.
    const deadline = Math.max(Date.now(), ...expiring.map((t) => t.expiresAt)) + SWEEP_INTERVAL_MS + 3_000;
    let events = await auditEvents(redis, prefix);
    let leaseKeys = await keysUnder(redis, `${prefix}lease:*`);
    while ((unaccounted(events, Date.now()).length > 0 || leaseKeys.length > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      events = await auditEvents(redis, prefix);
      leaseKeys = await keysUnder(redis, `${prefix}lease:*`);
    }
    const missing = unaccounted(events, Date.now());
    const issued = events.filter((e) => e.event === 'lease.issued').length;
    const checks: Check[] = [
      ...statusChecks(outcomes),
      {
        name: 'no lease left in Redis',
        ok: leaseKeys.length === 0,
        detail: `${leaseKeys.length} lease keys (${expiring.length} tasks left to expire)`,
      },
      {
        name: 'every lease revoked or expired (audit stream)',
        ok: missing.length === 0,
        detail: `${issued} issued, ${missing.length} unaccounted`,
      },
      rssCheck(rss.samples),
    ];
    const calls = outcomes.map((o) => o.ms).sort((a, b) => a - b);
    const counts: Record<string, number> = {};
    for (const o of outcomes) counts[`${o.what} ${o.status}`] = (counts[`${o.what} ${o.status}`] ?? 0) + 1;
    return {
      ok: checks.every((c) => c.ok),
      checks,
      counts,
      requests: outcomes.length,
      latencyMs: { p50: percentile(calls, 50), p99: percentile(calls, 99), max: calls.at(-1) ?? 0 },
      rssMiB: rss.samples.map((b) => Math.round(b / 1024 / 102.4) / 10),
    };
  } finally {
    rss.stop();
    await closeWorkload();
    await rig.close();
    for (const key of await keysUnder(redis, `${prefix}*`)) await redis.del(key);
    redis.disconnect();
  }
}

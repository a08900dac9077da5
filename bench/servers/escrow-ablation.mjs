// Escrow in one process with stages switched off one by one, beside a bare undici proxy in the same process, for
// bench/ablation.ts. Never a way to run Escrow: the stubs replay what the real stage answered for the bench's one
// principal and task. Run: node bench/servers/escrow-ablation.mjs <config.yaml> <barePort> <controlPort>
// First, as the escrow CLI does: the V8 memory flags Escrow runs with (gateway/v8-memory.ts); the bare proxy in
// this process runs with them too.
import '../../dist/gateway/cli/memory-flags.js';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay, PerformanceObserver, constants as perf } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { Pool } from 'undici';
import { createGateway } from '../../dist/gateway/app.js';
import { loadConfig } from '../../dist/gateway/config/load.js';
import { createLogger } from '../../dist/gateway/log.js';
import { DecodedView } from '../../dist/gateway/scrub/decoder.js';
import { ViewScanner } from '../../dist/gateway/scrub/scanner.js';
import { SseView } from '../../dist/gateway/scrub/sse-view.js';
import { startListeners } from '../../dist/gateway/server.js';
import { bareProxyHandler } from './bare-proxy.mjs';

const [configPath, barePort, controlPort] = process.argv.slice(2);
const loaded = loadConfig(configPath);
const gw = await createGateway(loaded, { log: createLogger({ level: 'warn' }) });
await startListeners(gw);

// The reference, in this very process: the same handler as bench/servers/undici-proxy.mjs. Escrow sends
// /bench/items/42 upstream as /items/42: so does the reference.
const target = loaded.config.targets[0];
const pool = new Pool(new URL(target.upstream).origin, { connections: 128, keepAliveTimeout: 30_000 });
const toUpstream = (url) => url.slice(url.indexOf('/', 1));
createServer({ keepAliveTimeout: 65_000 }, bareProxyHandler(pool, toUpstream)).listen(Number(barePort), '127.0.0.1');

// What each real stage answered last: the stubs replay it.
const seen = {};
// A stage's answer, at once or as a promise; a cache lookup's miss (undefined) leaves the last answer in place.
const record = (object, method, key) => {
  const real = object[method].bind(object);
  const keep = (value) => {
    if (value !== undefined) seen[key] = value;
  };
  object[method] = (...args) => {
    const out = real(...args);
    if (out && typeof out.then === 'function') out.then(keep).catch(() => {});
    else keep(out);
    return out;
  };
  return object[method];
};
const runtime = gw.targets.get(target.name);
const real = {
  verify: record(gw.identity, 'verify', 'principal'),
  cachedPrincipal: record(gw.identity, 'cached', 'principal'),
  forRequest: record(gw.tasks, 'forRequest', 'task'),
  cachedTask: record(gw.tasks, 'cachedForRequest', 'task'),
  authorize: record(gw.policy, 'authorize', 'decision'),
  acquire: record(gw.leases, 'acquire', 'lease'),
  cachedLease: record(gw.leases, 'cached', 'lease'),
  scan: ViewScanner.prototype.scanSource,
  decode: DecodedView.prototype.feed,
  sse: SseView.prototype.feed,
  config: runtime.config,
  commit: gw.audit.commit.bind(gw.audit),
  auditRecord: gw.audit.record.bind(gw.audit),
};
const metricMethods = [];
for (const metric of Object.values(gw.metrics)) {
  if (!metric || typeof metric !== 'object') continue;
  for (const name of ['inc', 'dec', 'set', 'observe']) {
    if (typeof metric[name] === 'function') metricMethods.push({ metric, name, fn: metric[name] });
  }
}
const noop = () => {};
const resolved = async () => {};

/** The stages that can be switched off, in the order the ablation adds them back. */
// A cache hit answers at once (no promise) in the real stages: so do their replays.
const STAGES = {
  identify: (on) => {
    gw.identity.verify = on ? real.verify : async () => seen.principal;
    gw.identity.cached = on ? real.cachedPrincipal : () => seen.principal;
  },
  task: (on) => {
    gw.tasks.forRequest = on ? real.forRequest : async () => seen.task;
    gw.tasks.cachedForRequest = on ? real.cachedTask : () => seen.task;
  },
  policy: (on) => (gw.policy.authorize = on ? real.authorize : () => seen.decision),
  lease: (on) => {
    gw.leases.acquire = on ? real.acquire : async () => seen.lease;
    gw.leases.cached = on ? real.cachedLease : () => seen.lease;
  },
  scrub: (on) => {
    // Off: the scrubber's views scan nothing (the sink, its window and its copies stay: they are plumbing).
    ViewScanner.prototype.scanSource = on ? real.scan : (_chunk, _from, to) => to;
    DecodedView.prototype.feed = on ? real.decode : noop;
    SseView.prototype.feed = on ? real.sse : noop;
    const config = on ? real.config : { ...real.config, scrub: { ...real.config.scrub, flushAfterMs: 0 } };
    Object.defineProperty(runtime, 'config', { value: config, configurable: true, writable: true });
  },
  metrics: (on) => {
    for (const m of metricMethods) m.metric[m.name] = on ? m.fn : noop;
  },
  audit: (on) => {
    gw.audit.commit = on ? real.commit : resolved;
    gw.audit.record = on ? real.auditRecord : noop;
  },
};

createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/readyz') return res.end('ok');
  if (url.pathname === '/stages') {
    const on = new Set((url.searchParams.get('on') ?? '').split(',').filter(Boolean));
    const unknown = [...on].filter((s) => !(s in STAGES));
    const replayable = seen.principal && seen.task && seen.decision && seen.lease;
    if (unknown.length > 0 || (on.size < Object.keys(STAGES).length && !replayable)) {
      res.statusCode = 409;
      return res.end(unknown.length > 0 ? `unknown stage ${unknown}` : 'send one request on the full path first');
    }
    for (const [name, set] of Object.entries(STAGES)) set(on.has(name));
    return res.end('ok');
  }
  if (url.pathname === '/snapshot') {
    // A heap snapshot now (what is alive under load, by constructor: bench/lib/snapshot-counts.ts).
    return res.end(writeHeapSnapshot(url.searchParams.get('out')));
  }
  if (url.pathname === '/gc/start') {
    // Garbage collection pauses by kind, between start and stop (count, total ms).
    gcPauses = {};
    gcObserver ??= new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = GC_KINDS[entry.detail?.kind] ?? String(entry.detail?.kind);
        gcPauses[kind] ??= [0, 0];
        const seen = gcPauses[kind];
        seen[0] += 1;
        seen[1] += entry.duration;
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    loopDelay.reset();
    loopDelay.enable();
    return res.end('ok');
  }
  if (url.pathname === '/gc/stop') {
    gcObserver?.disconnect();
    loopDelay.disable();
    const loop = { 'loop delay p99, max (ms)': [loopDelay.percentile(99) / 1e6, loopDelay.max / 1e6] };
    return res.end(JSON.stringify({ ...gcPauses, ...loop }));
  }
  if (url.pathname === '/allocations/start' || url.pathname === '/allocations/stop') {
    // Every allocation sampled (one in 4 KiB), the collected ones included, between start and stop: where the
    // garbage comes from (node's --heap-prof keeps only what is still alive when the process exits).
    // With survivors=1: only what outlived the young generation (promoted; collected later by a full GC or not).
    const step = url.pathname.endsWith('start')
      ? startAllocations(url.searchParams.get('survivors') === '1')
      : stopAllocations(url.searchParams.get('out'));
    void step.then(
      () => res.end('ok'),
      (error) => {
        res.statusCode = 500;
        res.end(String(error));
      },
    );
    return;
  }
  res.statusCode = 404;
  res.end();
}).listen(Number(controlPort), '127.0.0.1');

process.on('SIGTERM', () => process.exit(0)); // exit cleanly, so that --cpu-prof writes its profile

const GC_KINDS = {
  [perf.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [perf.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [perf.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental marking',
  [perf.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
};
let gcObserver;
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
let gcPauses = {};

let sampling;
async function startAllocations(survivors) {
  sampling = new Session();
  sampling.connect();
  await sampling.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: !survivors,
  });
}

async function stopAllocations(out) {
  const session = sampling;
  sampling = undefined;
  try {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    writeFileSync(out, JSON.stringify(profile));
  } finally {
    session.disconnect();
  }
}

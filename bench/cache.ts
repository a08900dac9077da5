/**
 * The replica caches' hot operations: the lease/task cache as a Map in write order (bench/lib/map-cache.ts, the
 * cache before issue #22) against the same rules on lru-cache (gateway/cache.ts), in one process, interleaved.
 * Run: npx tsx bench/cache.ts — appends a section to bench/RESULTS-cache.md.
 */
import { appendFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { ExpiringCache } from '../gateway/cache.js';
import { MapExpiringCache } from './lib/map-cache.js';

const ENTRIES = 10_000;
const OPS = 200_000;
const ROUNDS = 9;

interface Subject {
  get(key: string): unknown;
  set(key: string, value: unknown, expiresAt: number, readAt?: number): void;
}

const keys = Array.from({ length: ENTRIES }, (_, i) => `tsk_${i.toString(36).padStart(8, '0')}:target-${i % 7}`);
const fresh = Array.from({ length: OPS }, (_, i) => `tsk_new_${i.toString(36)}:target`);
// A fixed pseudo-random order of hits, so both caches see the same accesses and the CPU cannot predict them.
const order = Uint32Array.from({ length: OPS }, (_, i) => (i * 2_654_435_761) % ENTRIES);
const FAR = Number.MAX_SAFE_INTEGER;
const clock = () => 1_000;
let sink = 0;

function filled(make: () => Subject): Subject {
  const cache = make();
  for (const key of keys) cache.set(key, { key }, FAR);
  return cache;
}

/** Nanoseconds per operation of `run` over OPS operations on a full cache. */
function time(make: () => Subject, run: (cache: Subject) => void): number {
  const cache = filled(make);
  const start = process.hrtime.bigint();
  run(cache);
  return Number(process.hrtime.bigint() - start) / OPS;
}

const operations: Record<string, (cache: Subject) => void> = {
  'get, hit': (cache) => {
    for (let i = 0; i < OPS; i++) if (cache.get(keys[order[i]!]!) !== undefined) sink++;
  },
  'get, miss': (cache) => {
    for (let i = 0; i < OPS; i++) if (cache.get(fresh[i]!) !== undefined) sink++;
  },
  'set, replace a key': (cache) => {
    for (let i = 0; i < OPS; i++) cache.set(keys[order[i]!]!, i, FAR, 0);
  },
  'set, new key (evicts one)': (cache) => {
    for (let i = 0; i < OPS; i++) cache.set(fresh[i]!, i, FAR, 0);
  },
};

const listener = { added: () => sink++, removed: () => sink-- };
const subjects: Record<string, () => Subject> = {
  'Map (before)': () => new MapExpiringCache<unknown>(ENTRIES, clock, listener),
  'lru-cache (now)': () => new ExpiringCache<unknown>(ENTRIES, clock, listener),
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const results = new Map<string, number[]>();
for (let round = 0; round < ROUNDS + 1; round++) {
  for (const [op, run] of Object.entries(operations)) {
    for (const [name, make] of Object.entries(subjects)) {
      const ns = time(make, run);
      if (round === 0) continue; // warm-up: both implementations optimised before measuring
      const key = `${op}\t${name}`;
      results.set(key, [...(results.get(key) ?? []), ns]);
    }
  }
}

const rows = Object.keys(operations).map((op) => {
  const [before, now] = Object.keys(subjects).map((name) => median(results.get(`${op}\t${name}`)!));
  return `| ${op} | ${before!.toFixed(0)} ns | ${now!.toFixed(0)} ns | ${(now! / before!).toFixed(2)}× |`;
});
const cpu = cpus()[0]?.model ?? 'unknown CPU';
const text = [
  '',
  `## Replica cache, Map vs lru-cache (\`npx tsx bench/cache.ts\`)`,
  '',
  `Produced on ${new Date().toISOString().slice(0, 10)}: Node ${process.version}, ${cpus().length} × ${cpu.trim()}, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(
      ' ',
    )}. Wall time per operation on a full cache of ${ENTRIES.toLocaleString('en')} entries (with a listener, as the lease cache has), ${OPS.toLocaleString('en')} operations per sample, median of ${ROUNDS} interleaved rounds after one warm-up round, in one process. Both check expiry against the injected clock.`,
  '',
  '| operation | Map (before) | lru-cache (now) | now ÷ before |',
  '|---|---|---|---|',
  ...rows,
  '',
].join('\n');
appendFileSync(join(import.meta.dirname, 'RESULTS-cache.md'), text);
process.stdout.write(`${text}\n(sink ${sink})\n`);

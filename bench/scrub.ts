/**
 * Scrubbing cost per response body: the scrubber of issue #14 (gateway/scrub/) against the one before it
 * (bench/lib/legacy-scrub.ts, kept only for this), with 1, 100 and 10 000 live leases on the replica.
 * Run: npm run bench -- --scrub, or npx tsx bench/scrub.ts (also part of every `npm run bench`); writes
 * bench/RESULTS-scrub.md, which bench/RESULTS.md includes.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { NeedleIndex } from '../gateway/scrub/index.js';
import { SecretRegistry } from '../gateway/scrub/registry.js';
import { StreamScrubber, type StreamScrubberOptions } from '../gateway/scrub/stream.js';
import { Secret } from '../gateway/secret.js';
import { maskInPlace, scrubChunk, scrubNeedles } from './lib/legacy-scrub.js';
import { UPSTREAM_BODY } from './servers/upstream-body.mjs';

const ROUNDS = 9;
const LEASES = [1, 100, 10_000];

/**
 * Bodies as agents get them: a 1 KiB JSON answer with escapes (`%2F`, `\\n`) every ~75 bytes, the field's 1 KiB
 * compact JSON answer (bench/servers/upstream.mjs: no escape at all), a 64 KiB JSON page in 16 KiB chunks, an SSE
 * token stream.
 */
function bodies(): { name: string; chunks: Buffer[] }[] {
  const item = (i: number) => ({
    id: i,
    name: `item-${i}`,
    url: `https://api.example.org/v1/items/${i}?expand=owner&x=%2F`,
    note: 'text with "quotes" and \\n',
  });
  const small = Buffer.from(JSON.stringify({ items: Array.from({ length: 6 }, (_, i) => item(i)) }).slice(0, 1024));
  const page = Buffer.from(JSON.stringify({ items: Array.from({ length: 420 }, (_, i) => item(i)) }));
  const split = (b: Buffer, n: number) =>
    Array.from({ length: Math.ceil(b.length / n) }, (_, i) => b.subarray(i * n, (i + 1) * n));
  const sse = Array.from({ length: 200 }, (_, i) =>
    Buffer.from(`data: {"choices":[{"delta":{"content":"tok${i} "}}]}\n\n`),
  );
  return [
    { name: '1 KiB JSON, one chunk', chunks: [small] },
    { name: '1 KiB compact JSON (the field’s), one chunk', chunks: [UPSTREAM_BODY] },
    { name: `${(page.length / 1024).toFixed(0)} KiB JSON, 16 KiB chunks`, chunks: split(page, 16 * 1024) },
    { name: 'SSE, 200 events of ~50 B', chunks: sse },
  ];
}

/** A lease's credential as adapters declare it: a 40-character token and `Bearer <token>`. */
const leaseForms = () => {
  const token = `sk-${randomBytes(28).toString('base64url')}`;
  return [token, `Bearer ${token}`];
};

function newScrub(index: NeedleIndex, chunks: Buffer[], options: StreamScrubberOptions = {}): void {
  const s = new StreamScrubber(index, options);
  for (const c of chunks) {
    s.push(c);
    s.take(s.due);
  }
  s.end();
}

function oldScrub(needles: Buffer[], chunks: Buffer[]): void {
  let carry: Buffer = Buffer.alloc(0);
  for (const c of chunks) carry = scrubChunk(carry, c, needles).carry;
  maskInPlace(Buffer.from(carry), needles);
}

const cpuNow = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** How many runs make a sample of ≥ 30 ms of CPU. */
function calibrate(run: () => void): number {
  for (let n = 1; ; n *= 2) {
    const start = cpuNow();
    for (let i = 0; i < n; i++) run();
    if (cpuNow() - start >= 30_000) return n;
  }
}

/** CPU µs per run, one sample. */
function sample(run: () => void, n: number): number {
  const start = cpuNow();
  for (let i = 0; i < n; i++) run();
  return (cpuNow() - start) / n;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

interface Setup {
  readonly leases: number;
  readonly index: NeedleIndex;
  /** The old scrubber's needles for every lease's forms (skipped at 10 000: minutes per body). */
  readonly needles: Buffer[] | undefined;
}

function setups(): Setup[] {
  return LEASES.map((leases) => {
    // Registered as Escrow registers a cached lease's credential (the registry keeps the innermost wire forms).
    const registry = new SecretRegistry({ now: Date.now });
    const legacy: string[] = [];
    for (let i = 0; i < leases; i++) {
      const wireForms = leaseForms();
      registry.addCredential(new Secret({ fields: {}, ttlSeconds: 300, wireForms }));
      legacy.push(...wireForms);
    }
    return { leases, index: registry.index, needles: leases > 100 ? undefined : scrubNeedles(legacy) };
  });
}

/**
 * For each body, the configurations take turns within every round (A B C … A B C …), and the 10 000 ÷ 1 ratio is
 * taken within a round, then the median: on a shared machine, neighbours in time are what compare fairly.
 */
function measureBody(chunks: Buffer[], all: Setup[]) {
  const runs = all.flatMap((s) => [
    { key: `new ${s.leases}`, run: () => newScrub(s.index, chunks) },
    { key: `every ${s.leases}`, run: () => newScrub(s.index, chunks, { everyDecodedByte: true }) },
    ...(s.needles ? [{ key: `old ${s.leases}`, run: () => oldScrub(s.needles!, chunks) }] : []),
  ]);
  const n = new Map(runs.map((r) => [r.key, calibrate(r.run)]));
  const samples = new Map<string, number[]>(runs.map((r) => [r.key, []]));
  const ratios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const r of runs) samples.get(r.key)!.push(sample(r.run, n.get(r.key)!));
    ratios.push(samples.get(`new ${LEASES.at(-1)}`)!.at(-1)! / samples.get('new 1')!.at(-1)!);
  }
  return { cost: (key: string) => (samples.has(key) ? median(samples.get(key)!) : Number.NaN), ratio: median(ratios) };
}

/**
 * Measure, print each row, and write bench/RESULTS-scrub.md (merged into bench/RESULTS.md by the report) unless
 * `write` is false (a quick run measures without replacing the full run's table).
 */
export function runScrubBench(
  log: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  write = true,
): void {
  const rows: string[] = [];
  const flat: string[] = [];
  const all = setups();
  for (const body of bodies()) {
    const bytes = body.chunks.reduce((n, c) => n + c.length, 0);
    const { cost, ratio } = measureBody(body.chunks, all);
    const fmt = (us: number) =>
      Number.isNaN(us)
        ? 'not run (minutes per body)'
        : `${us.toFixed(1)} µs (${((us * 1000) / bytes).toFixed(1)} ns/B)`;
    for (const leases of LEASES) {
      rows.push(
        `| ${body.name} | ${leases.toLocaleString('en')} | ${fmt(cost(`old ${leases}`))} | ${fmt(cost(`every ${leases}`))} | ${fmt(cost(`new ${leases}`))} |`,
      );
      log(rows.at(-1)!);
    }
    flat.push(`| ${body.name} | ${ratio.toFixed(2)}× | ${ratio <= 1.1 ? 'yes' : '**no**'} |`);
    log(flat.at(-1)!);
  }
  const cpu = cpus();
  const report = [
    '## Scrubber cost (`npx tsx bench/scrub.ts`)',
    '',
    `Produced on ${new Date().toISOString().slice(0, 10)}: Node ${process.version}, ${cpu.length} × ${cpu[0]?.model ?? '?'}, ` +
      `load average ${loadavg()
        .map((v) => v.toFixed(2))
        .join(
          ' ',
        )}. CPU time (user + system) per body, median of ${ROUNDS} interleaved rounds (each sample ≥ 30 ms of CPU), in one process; the ratio is the median of the per-round ratios. Each lease adds a ` +
      '40-character token and `Bearer <token>` as its wire forms. "old" is the scrubber before issue #14 given the ' +
      'needles of every lease (it used to be given only the current lease’s: the 1-lease row is what it cost then); ' +
      '"new" scans every byte in the raw view and, in the decoded view, every byte an escape can reach (a plain run ' +
      'is scanned a history’s worth, 64–256 bytes, after and before each escape; the middle is the raw view’s), and ' +
      'releases by the fixed window; "every decoded byte" is the same scrubber scanning all of the decoded view too ' +
      '(as before the skipping: the same masks, test/unit/scrub/skim.test.ts).',
    '',
    '| body | live leases | old scrubber | new, every decoded byte | new scrubber |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    '| target: new scrubber with 10 000 live leases within 10 % of 1 lease | 10 000 ÷ 1 (median of rounds) | met |',
    '|---|---|---|',
    ...flat,
    '',
  ].join('\n');
  if (!write) return;
  writeFileSync(join(import.meta.dirname, 'RESULTS-scrub.md'), report);
  log('wrote bench/RESULTS-scrub.md');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) runScrubBench();

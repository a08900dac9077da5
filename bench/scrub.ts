/**
 * Scrubbing cost per response body: the scrubber of issue #14 (gateway/scrub/) against the one before it
 * (bench/lib/legacy-scrub.ts, kept only for this), with 1, 100 and 10 000 live leases on the replica.
 * Run: npx tsx bench/scrub.ts   (also run by `npm run bench`; writes bench/RESULTS-scrub.md)
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { NeedleIndex } from '../gateway/scrub/index.js';
import { StreamScrubber } from '../gateway/scrub/stream.js';
import { maskInPlace, scrubChunk, scrubNeedles } from './lib/legacy-scrub.js';

const ROUNDS = 7;
const LEASES = [1, 100, 10_000];

/** Bodies as agents get them: a 1 KiB JSON answer, a 64 KiB JSON page in 16 KiB chunks, an SSE token stream. */
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
    { name: `${(page.length / 1024).toFixed(0)} KiB JSON, 16 KiB chunks`, chunks: split(page, 16 * 1024) },
    { name: 'SSE, 200 events of ~50 B', chunks: sse },
  ];
}

/** A lease's credential as adapters declare it: a 40-character token and `Bearer <token>`. */
const leaseForms = () => {
  const token = `sk-${randomBytes(28).toString('base64url')}`;
  return [token, `Bearer ${token}`];
};

function newScrub(index: NeedleIndex, chunks: Buffer[]): void {
  const s = new StreamScrubber(index);
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

/** CPU µs per body: calibrate a round to ≥ 40 ms of CPU, then the median over ROUNDS rounds. */
function measure(run: () => void): number {
  const cpu = () => {
    const { user, system } = process.cpuUsage();
    return user + system;
  };
  let n = 1;
  for (;;) {
    const start = cpu();
    for (let i = 0; i < n; i++) run();
    if (cpu() - start >= 40_000) break;
    n *= 2;
  }
  const perRound: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = cpu();
    for (let i = 0; i < n; i++) run();
    perRound.push((cpu() - start) / n);
  }
  perRound.sort((a, b) => a - b);
  return perRound[Math.floor(perRound.length / 2)]!;
}

function main(): void {
  const rows: string[] = [];
  const flat: string[] = [];
  for (const body of bodies()) {
    const bytes = body.chunks.reduce((n, c) => n + c.length, 0);
    const cost: Record<string, { old: number; new: number }> = {};
    for (const leases of LEASES) {
      const index = new NeedleIndex();
      const legacy: string[] = [];
      for (let i = 0; i < leases; i++) {
        const forms = leaseForms();
        for (const v of forms) index.add(v);
        legacy.push(...forms);
      }
      const fresh = measure(() => newScrub(index, body.chunks));
      // The old scrubber searched every needle of the current lease only; scrubbing every lease it would search all.
      const needles = scrubNeedles(legacy);
      const old = leases > 100 ? Number.NaN : measure(() => oldScrub(needles, body.chunks));
      cost[leases] = { old, new: fresh };
      const fmt = (us: number) =>
        Number.isNaN(us)
          ? 'not run (minutes per body)'
          : `${us.toFixed(1)} µs (${((us * 1000) / bytes).toFixed(1)} ns/B)`;
      rows.push(`| ${body.name} | ${leases.toLocaleString('en')} | ${fmt(old)} | ${fmt(fresh)} |`);
      process.stdout.write(`${rows.at(-1)}\n`);
    }
    const ratio = cost[10_000]!.new / cost[1]!.new;
    flat.push(`| ${body.name} | ${ratio.toFixed(2)}× | ${ratio <= 1.1 ? 'yes' : '**no**'} |`);
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
        )}. CPU time (user + system) per body, median of ${ROUNDS} rounds, in one process. Each lease adds a ` +
      '40-character token and `Bearer <token>` as its wire forms. "old" is the scrubber before issue #14 given the ' +
      'needles of every lease (it used to be given only the current lease’s: the 1-lease row is what it cost then); ' +
      '"new" scans every byte in the raw and the decoded views and releases by the fixed window.',
    '',
    '| body | live leases | old scrubber | new scrubber |',
    '|---|---|---|---|',
    ...rows,
    '',
    '| target: new scrubber with 10 000 live leases within 10 % of 1 lease | 10 000 ÷ 1 | met |',
    '|---|---|---|',
    ...flat,
    '',
  ].join('\n');
  writeFileSync(join(import.meta.dirname, 'RESULTS-scrub.md'), report);
  process.stdout.write('wrote bench/RESULTS-scrub.md\n');
}

main();

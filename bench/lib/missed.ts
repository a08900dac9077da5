import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * "Done when" of #21 for a target still missed: the stage that costs it, its profile, and what was tried. The stage
 * costs, the profile and the measured parts of what was tried are read from the breakdown's files
 * (bench/RESULTS-ablation.md, -profile.md, -audit.md, -scrub.md, merged below the report), each cited with the day
 * it was produced, and marked when another run than the report's left it (`--quick`, `--no-breakdown`,
 * `--render`). docs/performance.md holds each design's numbers and the commit that brought it.
 */

interface AblationRow {
  readonly variant: string;
  readonly us: number;
  readonly added: number;
  /** CPU per request over bare undici's, as the table prints it. */
  readonly ratio: number;
}

/** `| + audit | 302 | +60 | 2.38× | 2998 |` rows of the ablation, per workload heading. */
function ablationRows(text: string): Map<string, AblationRow[]> {
  const out = new Map<string, AblationRow[]>();
  let workload: string | undefined;
  for (const line of text.split('\n')) {
    const heading = /^## (\w+):/.exec(line);
    if (heading) {
      workload = heading[1]!;
      out.set(workload, []);
      continue;
    }
    const row = /^\| (skeleton|\+ \w+) \| (\d+) \| ([+-]\d+) \| ([\d.]+)× \|/.exec(line);
    if (row && workload) {
      out.get(workload)!.push({ variant: row[1]!, us: Number(row[2]), added: Number(row[3]), ratio: Number(row[4]) });
    }
  }
  return out;
}

function read(repoRoot: string, file: string): string | undefined {
  const path = join(repoRoot, 'bench', file);
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

/** "bench/RESULTS-x.md, 2026-12-02": where a number comes from, and from when (a file another run left says so). */
function source(file: string, text: string, date: string): string {
  const produced = /Produced[^\n]*? on (\d{4}-\d{2}-\d{2})/.exec(text)?.[1];
  if (produced === undefined) return `bench/${file}`;
  return produced === date
    ? `bench/${file}, ${produced}`
    : `bench/${file}, **${produced}: another run than this report's**`;
}

/** `| 1 | in the thread | 4505 | 194.8 | 0.15 | 0.94 | 1.0 |` rows of bench/RESULTS-audit.md, by waiting and where. */
function auditRows(text: string): Map<string, { cpu: number; p99: number }> {
  const out = new Map<string, { cpu: number; p99: number }>();
  for (const m of text.matchAll(/^\| (\d+) \| ([a-z -]+?) \| \d+ \| ([\d.]+) \| [\d.]+ \| ([\d.]+) \|/gm)) {
    out.set(`${m[1]} ${m[2]}`, { cpu: Number(m[3]), p99: Number(m[4]) });
  }
  return out;
}

/** The worker-thread measurement in one sentence, from its table. */
function workerClaim(text: string): string | undefined {
  const rows = auditRows(text);
  const one = (where: string) => rows.get(`1 ${where}`);
  const [thread, handoff, worker] = [one('in the thread'), one('hand-off only'), one('in a worker')];
  if (!thread || !handoff || !worker) return undefined;
  const ratios = [1, 16, 64, 256]
    .map((n) => {
      const [w, t] = [rows.get(`${n} in a worker`), rows.get(`${n} in the thread`)];
      return w && t ? `${(w.cpu / t.cpu).toFixed(1)}× with ${n} waiting` : undefined;
    })
    .filter((r) => r !== undefined);
  return (
    `with one event per batch the hand-off alone costs ${handoff.cpu.toFixed(0)} µs of CPU per event, and the log in a worker ` +
    `${worker.cpu.toFixed(0)} against ${thread.cpu.toFixed(0)} µs in the loop's thread (the whole process; wait p99 ` +
    `${worker.p99.toFixed(1)} against ${thread.p99.toFixed(1)} ms); worker over thread: ${ratios.join(', ')}`
  );
}

/** ": 22.6 → 4.5 µs per event": sealing before and after, from bench/RESULTS-audit.md's last line. */
function sealing(text: string | undefined): string {
  const m = /sealing one request event: ([\d.]+) µs now \(line hash\), ([\d.]+) µs before/.exec(text ?? '');
  return m ? `: ${Number(m[2]).toFixed(1)} → ${Number(m[1]).toFixed(1)} µs per event` : '';
}

/** The scrub bench's row for a body and a lease count: [every decoded byte, new] in µs. */
function scrubPair(text: string, body: string, leases: string): [number, number] | undefined {
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells[1] !== body || cells[2] !== leases) continue;
    const us = (cell: string | undefined) => Number(/^([\d.]+) µs/.exec(cell ?? '')?.[1] ?? Number.NaN);
    const pair: [number, number] = [us(cells[4]), us(cells[5])];
    return pair.every(Number.isFinite) ? pair : undefined;
  }
  return undefined;
}

/** The section of bench/RESULTS.md for the targets still missed (nothing when all are met). */
export function missedSection(repoRoot: string, missed: readonly string[], date: string): string[] {
  if (missed.length === 0) return [];
  const lines = ['## Missed targets: what costs them, and what was tried', ''];
  const cpuBound = missed.filter((m) => /req\/s|p99/.test(m) && !/200 policies/.test(m));
  const other = missed.filter((m) => !cpuBound.includes(m));
  lines.push(`Missed: ${missed.join('; ')}.`, '');
  if (cpuBound.length > 0) {
    lines.push(
      `${cpuBound.length === 1 ? 'The req/s and p99 target has' : `The ${cpuBound.length} req/s and p99 targets have`} one cause: Escrow's CPU per request (the p99 targets follow from it: at half undici's maximum Escrow is saturated and queues).` +
        (other.length > 0 ? ` Not explained by it: ${other.join('; ')} (see its own section below).` : ''),
      '',
    );
  }
  const ablation = read(repoRoot, 'RESULTS-ablation.md');
  if (ablation) {
    lines.push(
      `**Stage by stage** (${source('RESULTS-ablation.md', ablation, date)}, below: one process, fixed rate, each stage added in turn):`,
      '',
    );
    for (const [workload, rows] of ablationRows(ablation)) {
      const skeleton = rows.find((r) => r.variant === 'skeleton');
      const full = rows.at(-1);
      const stages = rows
        .filter((r) => r.variant !== 'skeleton')
        .sort((a, b) => b.added - a.added)
        .map((r) => `${r.variant.slice(2)} ${r.added >= 0 ? '+' : ''}${r.added}`)
        .join(', ');
      if (skeleton && full) {
        lines.push(
          `- ${workload}: full path ${full.us} µs per request; the skeleton ${skeleton.us} µs (${skeleton.added >= 0 ? '+' : ''}${skeleton.added} over bare undici, ${skeleton.ratio.toFixed(2)}×: ${skeleton.ratio <= 1.3 ? 'within' : '**not within**'} 1.3×); the stages by what each adds: ${stages} µs.`,
        );
      }
    }
    lines.push('');
  }
  const profile = read(repoRoot, 'RESULTS-profile.md');
  if (profile) {
    const rows = [...profile.matchAll(/^\| ([^|]+?) \| ([\d.]+) % \| (\d+) \|$/gm)].map((m) => `${m[1]} ${m[3]} µs`);
    const total = /\*\*(\d+) µs CPU per request\*\*/.exec(profile)?.[1];
    lines.push(
      `**Profile of the full path** (${source('RESULTS-profile.md', profile, date)}, below; ${total ?? '?'} µs CPU per request): ${rows.join(', ')}.`,
      '',
    );
  }
  const audit = read(repoRoot, 'RESULTS-audit.md');
  const worker = audit === undefined ? undefined : workerClaim(audit);
  const scrub = read(repoRoot, 'RESULTS-scrub.md');
  const compact =
    scrub === undefined ? undefined : scrubPair(scrub, '1 KiB compact JSON (the field’s), one chunk', '1');
  const escaped = scrub === undefined ? undefined : scrubPair(scrub, '1 KiB JSON, one chunk', '1');
  const tried = [
    'audit: one script call per batch instead of an `XADD` per event; ' +
      `the line hashed as written (no canonical JSON of a spread copy${sealing(audit)}); the file sink with direct system calls (54 → 16 µs per event); **in a worker thread**` +
      (worker && audit ? ` (${source('RESULTS-audit.md', audit, date)}): ${worker}` : ' (bench/audit.ts)') +
      ' — not adopted: CPU moved to another thread of the same two cores is not saved, and the issuance rule waits for it anyway',
    'the admission path: every cached stage answers at once, without a promise (identity, task, decision, lease); the decision cache keyed by the pruned Cedar call; path-prefix slicing for 200 policies. **One admission entry** for all four: its gain is bounded by the ablation rows `+ identify` … `+ lease` (each already a map lookup; the skeleton replays them as one) — not built',
    'the plumbing: undici dispatch handler instead of streams, one close listener per exchange, a route cache, the response-header scrub memo, fewer objects per request (allocation 35.5 → 24.3 KB per request for the skeleton); **no request kept alive past its end**: the live-connection registry’s churning `Set` left obsolete hash tables in old space that kept every ended request alive through two scavenges (promoted per scavenge 480–520 → 45–50 KB, bare undici 30–37; V8’s helper threads ≈ 8 → < 1 µs per request; `bench/ab.ts` 124 → 111 µs per request), now a linked list; the route cache keeps a URL at its second sighting; header values read from `rawHeaders`',
    'scrub: one table read per byte and view whatever the number of leases, response headers scrubbed only when their text is new; **the decoded view skips the middle of plain runs** (only a history’s worth after and before each escape is scanned; the raw view has the rest)' +
      (compact && escaped && scrub
        ? ` (${source('RESULTS-scrub.md', scrub, date)}, 1 lease): the field’s compact 1 KiB JSON ${compact[0].toFixed(1)} → ${compact[1].toFixed(1)} µs per body, a 1 KiB JSON with an escape every ~75 bytes ${escaped[0].toFixed(1)} → ${escaped[1].toFixed(1)} µs`
        : ''),
  ];
  lines.push('**What was tried** (numbers and commits: docs/performance.md, "Where the time goes"):', '');
  for (const t of tried) lines.push(`- ${t}.`);
  lines.push('');
  return lines;
}

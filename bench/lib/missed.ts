import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * "Done when" of #21 for a target still missed: the stage that costs it, its profile, and what was tried. The stage
 * costs and the profile are read from this session's breakdown runs (bench/RESULTS-ablation.md, -profile.md,
 * -audit.md, merged below the report); what was tried is the list of designs built and measured (docs/performance.md
 * holds each one's numbers and the commit that brought it).
 */

/** `| + audit | 302 | +60 | 2.38× | 2998 |` rows of the ablation, per workload heading. */
function ablationRows(text: string): Map<string, { variant: string; us: number; added: number }[]> {
  const out = new Map<string, { variant: string; us: number; added: number }[]>();
  let workload: string | undefined;
  for (const line of text.split('\n')) {
    const heading = /^## (\w+):/.exec(line);
    if (heading) {
      workload = heading[1]!;
      out.set(workload, []);
      continue;
    }
    const row = /^\| (skeleton|\+ \w+) \| (\d+) \| ([+-]\d+) \|/.exec(line);
    if (row && workload) out.get(workload)!.push({ variant: row[1]!, us: Number(row[2]), added: Number(row[3]) });
  }
  return out;
}

function read(repoRoot: string, file: string): string | undefined {
  const path = join(repoRoot, 'bench', file);
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

/** What was built against the CPU per request, in the order it was tried, and what each measured. */
const TRIED: readonly string[] = [
  'audit: one script call per batch instead of an `XADD` per event; the line hashed as written (no canonical JSON of a spread copy: 16.5 → 4.4 µs per event); the file sink with direct system calls (54 → 16 µs per event); **in a worker thread** (bench/RESULTS-audit.md): the hand-off alone costs about as much as the log it would move, and the whole process pays more CPU per event with the log in a worker at every concurrency — not adopted',
  'the admission path: every cached stage answers at once, without a promise (identity, task, decision, lease); the decision cache keyed by the pruned Cedar call; path-prefix slicing for 200 policies. **One admission entry** for all four: its gain is bounded by the ablation rows `+ identify` … `+ lease` (each already a map lookup; the skeleton replays them as one) — not built',
  'the plumbing: undici dispatch handler instead of streams, one close listener per exchange, a route cache, the response-header scrub memo, fewer objects per request (allocation 35.5 → 24.3 KB per request for the skeleton); the skeleton is within 1.3× of bare undici (the ablation)',
  'scrub: one table read per byte and view whatever the number of leases (bench/RESULTS-scrub.md), response headers scrubbed only when their text is new; skipping the decoded view far from escapes — not built: its gain is bounded by the `scrub` share of the profile',
];

/** The section of bench/RESULTS.md for the targets still missed (nothing when all are met). */
export function missedSection(repoRoot: string, missed: readonly string[]): string[] {
  if (missed.length === 0) return [];
  const lines = ['## Missed targets: what costs them, and what was tried', ''];
  lines.push(
    `Missed: ${missed.join('; ')}. They have one cause: Escrow's CPU per request (the p99 targets follow from it: at half undici's maximum Escrow is saturated and queues).`,
    '',
  );
  const ablation = read(repoRoot, 'RESULTS-ablation.md');
  if (ablation) {
    lines.push(
      '**Stage by stage** (bench/RESULTS-ablation.md below: one process, fixed rate, each stage added in turn):',
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
          `- ${workload}: full path ${full.us} µs per request; the skeleton ${skeleton.us} µs (${skeleton.added >= 0 ? '+' : ''}${skeleton.added} over bare undici); the stages by what each adds: ${stages} µs.`,
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
      `**Profile of the full path** (bench/RESULTS-profile.md below, ${total ?? '?'} µs CPU per request): ${rows.join(', ')}.`,
      '',
    );
  }
  lines.push('**What was tried** (numbers and commits: docs/performance.md, "Where the time goes"):', '');
  for (const t of TRIED) lines.push(`- ${t}.`);
  lines.push('');
  return lines;
}

import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import type { BenchArgs } from './lib/args.js';
import { agentSubject, type BenchKeys, openTask, startEscrowProcess } from './lib/escrow.js';
import { runLoad } from './lib/loadgen.js';
import { rssBytes, startUpstream } from './lib/process.js';

export interface SoakInput {
  readonly args: BenchArgs;
  readonly repoRoot: string;
  readonly keys: BenchKeys;
  readonly prefix: string;
  readonly log: (line: string) => void;
}

const PRINCIPALS = 100;
const RSS_LIMIT = 200 * 2 ** 20;
const SEGMENT_MS = 15_000;

export interface Point {
  readonly requests: number;
  readonly rss: number;
  readonly rps: number;
}

/** Open `count` tasks over PRINCIPALS principals (each principal's open-task limit is 100), 16 at a time. */
async function openTasks(port: number, keys: BenchKeys, count: number): Promise<{ token: string; taskId: string }[]> {
  const tokens = await Promise.all(Array.from({ length: PRINCIPALS }, (_, i) => keys.sign(agentSubject(i))));
  const out: { token: string; taskId: string }[] = new Array(count);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const token = tokens[i % PRINCIPALS]!;
      out[i] = { token, taskId: await openTask(port, token, `soak task ${i}`) };
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return out;
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/**
 * `--soak-memory`: one Escrow, 10 000 tasks over 100 principals, 1 000 000 requests spread over every task in
 * turn (each its own lease), RSS sampled every segment. Writes bench/RESULTS-soak.md.
 */
export async function runSoak(input: SoakInput): Promise<void> {
  const { args, repoRoot, keys, prefix, log } = input;
  const started = Date.now();
  const { child: upstream, port: upstreamPort } = await startUpstream(repoRoot);
  const escrow = await startEscrowProcess({
    name: 'soak',
    policies: 'examples',
    workers: 1,
    upstreamPort,
    repoRoot,
    keys,
    prefix,
    nodeArgs: args.escrowNodeArgs,
  });
  try {
    const rssAtStart = rssBytes(escrow.child.pid);
    const agents = await openTasks(escrow.port, keys, args.soakTasks);
    log(
      `opened ${agents.length} tasks over ${PRINCIPALS} principals in ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
    const requests = agents.map(({ token, taskId }, i) =>
      Buffer.from(
        `GET /bench/items/${i}?fields=id HTTP/1.1\r\nhost: 127.0.0.1:${escrow.port}\r\nauthorization: Bearer ${token}\r\n` +
          `x-escrow-task: ${taskId}\r\n\r\n`,
      ),
    );
    const points: Point[] = [{ requests: 0, rss: rssBytes(escrow.child.pid), rps: 0 }];
    let total = 0;
    let errors = 0;
    let non2xx = 0;
    while (total < args.soakRequests) {
      const offset = total;
      const result = await runLoad({
        port: escrow.port,
        connections: args.connections,
        durationMs: SEGMENT_MS,
        request: (i) => requests[(offset + i) % requests.length]!,
      });
      total += result.requests;
      errors += result.errors;
      non2xx += result.non2xx;
      points.push({ requests: total, rss: rssBytes(escrow.child.pid), rps: result.rps });
      log(`${total} requests, RSS ${mb(points.at(-1)!.rss)} MB, ${result.rps.toFixed(0)} req/s`);
    }
    const report = renderSoak({
      args,
      points,
      rssAtStart,
      errors,
      non2xx,
      elapsedMs: Date.now() - started,
      tasks: agents.length,
    });
    writeFileSync(resolve(repoRoot, args.out), report);
    log(`wrote ${args.out}`);
  } finally {
    await escrow.child.stop();
    await upstream.stop();
  }
}

export interface SoakReport {
  readonly args: BenchArgs;
  readonly points: readonly Point[];
  readonly rssAtStart: number;
  readonly errors: number;
  readonly non2xx: number;
  readonly elapsedMs: number;
  readonly tasks: number;
}

function medianRss(points: readonly Point[]): number {
  const sorted = points.map((p) => p.rss).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** The soak section of the results (exported so a recorded run can be rendered again). */
export function renderSoak(r: SoakReport): string {
  // Warm-up: until every task has been used twice (its lease issued and cached) or a fifth of the run.
  const warm = Math.max(2 * r.tasks, r.args.soakRequests / 5);
  const afterWarm = r.points.filter((p) => p.requests >= warm);
  const third = Math.max(1, Math.floor(afterWarm.length / 3));
  // RSS moves with every GC cycle: compare the median of the first and last thirds after warm-up, not two points.
  const early = medianRss(afterWarm.slice(0, third));
  const late = medianRss(afterWarm.slice(-third));
  const last = r.points.at(-1)!;
  const peak = Math.max(...afterWarm.map((p) => p.rss));
  const growth = (late - early) / early;
  const met = peak <= RSS_LIMIT && growth <= 0.1;
  const command = `npm run bench -- ${r.args.argv.map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ')}`;
  return [
    r.args.escrowNodeArgs.length > 0
      ? `## Memory soak (tuned: node ${r.args.escrowNodeArgs.join(' ')})`
      : '## Memory soak',
    '',
    `Produced by \`${command}\` on ${new Date().toISOString().slice(0, 10)} in ${(r.elapsedMs / 60_000).toFixed(1)} min ` +
      `(Node ${process.version}, ${cpus().length} cores). One Escrow process on its full path (Redis store, audit to the ` +
      `Redis stream and a file), ${r.tasks} tasks over ${PRINCIPALS} principals (so ${r.tasks} leases), ` +
      `${last.requests} requests in all, each task in turn, c=${r.args.connections}; ${r.errors} connection errors, ` +
      `${r.non2xx} non-2xx answers.` +
      (r.args.escrowNodeArgs.length > 0 ? ` Escrow ran with \`node ${r.args.escrowNodeArgs.join(' ')}\`.` : ''),
    '',
    `RSS target: ${met ? 'met' : 'missed'} — peak ${mb(peak)} MB after warm-up (${warm} requests; limit 200 MB); ` +
      `median ${mb(early)} MB over the first third after warm-up, ${mb(late)} MB over the last third ` +
      `(${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}%; "no growth" read as ≤ +10%).`,
    '',
    `RSS before the tasks were opened: ${mb(r.rssAtStart)} MB.`,
    '',
    '| requests so far | RSS MB | req/s in the segment |',
    '|---|---|---|',
    ...r.points.map((p) => `| ${p.requests} | ${mb(p.rss)} | ${p.rps.toFixed(0)} |`),
    '',
  ].join('\n');
}

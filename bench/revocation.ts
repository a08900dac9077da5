/**
 * How fast revocation reaches live connections: two real Escrow processes over one Redis; an agent holds a
 * WebSocket session, a streaming upload or a server-sent-event response on one replica, and the task is closed on
 * the other (or on the same one), or cut by the kill switch, or left to expire. Reports p50/p99/max of the time
 * from sending the close to the agent's connection closing (the upstream's side is checked closed too).
 * Run: npx tsx bench/revocation.ts [trials]   (appends a section to bench/RESULTS-revocation.md)
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { MINTING_ADAPTER, startMint } from '../test/leases/support/mint.js';
import { type CutTrial, cutSummary, cutTrial, openStream, STREAM_KINDS } from '../test/replicas/support/live-cut.js';
import { type StreamsUpstream, startStreamsUpstream } from '../test/replicas/support/streams.js';
import { type EscrowProcess, startEscrowProcess } from '../test/support/escrow-process.js';
import { createIssuerKeys, signToken } from '../test/support/keys.js';
import { deletePrefix, testPrefix } from '../test/support/redis.js';

const TRIALS = Number(process.argv[2] ?? 600);
const EXPIRIES = 60;

interface Rig {
  readonly a: EscrowProcess;
  readonly b: EscrowProcess;
  readonly upstream: StreamsUpstream;
  readonly token: string;
}

async function open(rig: Rig, at: EscrowProcess, ttlSeconds?: number): Promise<{ id: string; expiresAt: string }> {
  const res = await fetch(`${at.url}/_escrow/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${rig.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ intent: 'bench', targets: ['live'], ...(ttlSeconds ? { ttlSeconds } : {}) }),
  });
  if (res.status !== 201) throw new Error(`open: ${res.status}`);
  return (await res.json()) as { id: string; expiresAt: string };
}

const headers = (rig: Rig, task: string) => ({ authorization: `Bearer ${rig.token}`, 'x-escrow-task': task });

async function closeTrials(rig: Rig, crossReplica: boolean, n: number): Promise<CutTrial[]> {
  const out: CutTrial[] = [];
  for (let i = 0; i < n; i++) {
    const [at, other] = i % 2 === 0 ? [rig.a, rig.b] : [rig.b, rig.a];
    const closer = crossReplica ? other : at;
    const { id } = await open(rig, at);
    out.push(
      await cutTrial(at.url, STREAM_KINDS[i % 3]!, headers(rig, id), rig.upstream, async () => {
        const res = await fetch(`${closer.url}/_escrow/tasks/${id}`, { method: 'DELETE', headers: headers(rig, id) });
        if (res.status !== 204) throw new Error(`close: ${res.status}`);
      }),
    );
  }
  return out;
}

async function killSwitchTrials(rig: Rig, n: number): Promise<CutTrial[]> {
  const out: CutTrial[] = [];
  const principal = encodeURIComponent('spiffe://test.example/agent/bench');
  for (let i = 0; i < n; i++) {
    const [at, operator] = i % 2 === 0 ? [rig.a, rig.b] : [rig.b, rig.a];
    const { id } = await open(rig, at);
    out.push(
      await cutTrial(at.url, STREAM_KINDS[i % 3]!, headers(rig, id), rig.upstream, async () => {
        const res = await fetch(`${operator.adminUrl}/admin/revoke?principal=${principal}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${operator.adminToken}` },
        });
        if (res.status !== 200) throw new Error(`revoke: ${res.status}`);
      }),
    );
  }
  return out;
}

/** Streams on tasks of 2 s, all at once: how late after the task's (or lease's) expiry each is cut. */
async function expiryLateness(rig: Rig): Promise<number[]> {
  return Promise.all(
    Array.from({ length: EXPIRIES }, async (_, i) => {
      const at = i % 2 === 0 ? rig.a : rig.b;
      const { id, expiresAt } = await open(rig, at, 2);
      const stream = await openStream(at.url, STREAM_KINDS[i % 3]!, headers(rig, id), rig.upstream);
      const view = (await (await fetch(`${at.url}/_escrow/tasks/${id}`, { headers: headers(rig, id) })).json()) as {
        leases: { expiresAt: string }[];
      };
      const due = Math.min(Date.parse(expiresAt), ...view.leases.map((l) => Date.parse(l.expiresAt)));
      const closedAt = await stream.closed;
      return Date.now() - (performance.now() - closedAt) - due;
    }),
  );
}

const row = (name: string, t: readonly CutTrial[]) => {
  const d = cutSummary(t);
  return `| ${name} | ${d.trials} | ${d.p50.toFixed(2)} | ${d.p99.toFixed(2)} | ${d.max.toFixed(2)} |`;
};

async function main() {
  const prefix = testPrefix('bench-revocation');
  const keys = await createIssuerKeys();
  const mint = await startMint();
  const upstream = await startStreamsUpstream();
  const shared = {
    prefix,
    keys,
    secrets: { leaseKey: randomBytes(32).toString('base64'), auditKey: randomBytes(32).toString('base64') },
    targets: [
      {
        name: 'live',
        upstream: upstream.url,
        attributes: { sensitivity: 'low', environment: 'dev' },
        websocket: true,
        credential: { adapter: MINTING_ADAPTER, ttl: 300, mintUrl: mint.url },
      },
    ],
    config: { tasks: { maxOpenPerPrincipal: 100_000 } },
  };
  const [a, b] = await Promise.all([startEscrowProcess(shared), startEscrowProcess(shared)]);
  const rig: Rig = { a, b, upstream, token: await signToken(keys, { sub: 'spiffe://test.example/agent/bench' }) };
  try {
    await closeTrials(rig, true, 30); // warm-up
    const cross = await closeTrials(rig, true, TRIALS);
    const same = await closeTrials(rig, false, Math.ceil(TRIALS / 3));
    const kill = await killSwitchTrials(rig, Math.ceil(TRIALS / 3));
    const late = (await expiryLateness(rig)).sort((x, y) => x - y);
    const pct = (p: number) => late[Math.min(late.length - 1, Math.ceil((p / 100) * late.length) - 1)]!.toFixed(2);
    const text = [
      `## Revocation → live connection cut (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus()[0]?.model.trim()} ×${cpus().length})`,
      '',
      `Command: \`npx tsx bench/revocation.ts ${TRIALS}\` — two \`escrow start\` processes, one local Redis, 30 warm-up`,
      'trials; kinds rotate WebSocket / streaming upload / SSE. Latency in ms from sending the close (or the kill',
      'switch) to the agent’s connection closing; each trial also waits for the upstream’s side to close.',
      '',
      '| revocation | trials | p50 | p99 | max |',
      '| ---------- | ------ | --- | --- | --- |',
      row('close on the other replica', cross),
      ...STREAM_KINDS.map((k) =>
        row(
          `  … ${k}`,
          cross.filter((t) => t.kind === k),
        ),
      ),
      row('close on the same replica', same),
      row('kill switch (principal) on the other replica', kill),
      '',
      `Expiry: ${EXPIRIES} streams on 2 s tasks at once; cut after the task’s or lease’s expiry by p50 ${pct(50)} /`,
      `p99 ${pct(99)} / max ${pct(100)} ms (a negative value would be a cut before the expiry: none may be below ~-1 ms).`,
      '',
    ].join('\n');
    process.stdout.write(`${text}\n`);
    appendFileSync(new URL('./RESULTS-revocation.md', import.meta.url), `${text}\n`);
  } finally {
    await Promise.all([a.close(), b.close()]);
    await upstream.close();
    await mint.close();
    await deletePrefix(prefix);
  }
}

await main();

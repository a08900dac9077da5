/**
 * How long a failed `escrow start` takes to exit with a Redis store (test/reliability/startup-failures.test.ts
 * asserts that it exits by itself; this measures how fast). Each failure runs ROUNDS times as a real process.
 * Run: npm run build && npx tsx bench/startup-failures.ts   (appends a section to bench/RESULTS-startup.md)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { stringify } from 'yaml';

const ROOT = resolve(import.meta.dirname, '..');
const ROUNDS = Number(process.env.ROUNDS ?? 10);
const dir = mkdtempSync(join(tmpdir(), 'escrow-bench-startup-'));

async function setUp(): Promise<{ busyPort: number; close: () => void }> {
  const { publicKey } = await generateKeyPair('ES256');
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k' }] }));
  writeFileSync(join(dir, 'lease.key'), randomBytes(32).toString('base64'));
  writeFileSync(join(dir, 'audit.key'), randomBytes(32).toString('base64'));
  mkdirSync(join(dir, 'bad'));
  cpSync(join(ROOT, 'policies/schema.cedarschema'), join(dir, 'bad/schema.cedarschema'));
  writeFileSync(join(dir, 'bad/p.cedar'), '@id("p") permit(principal is Escrow::Nobody, action, resource);');
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  return { busyPort: (busy.address() as { port: number }).port, close: () => busy.close() };
}

function config(name: string, change: (c: Record<string, unknown>) => void): string {
  const c: Record<string, unknown> = {
    proxy: { listen: '127.0.0.1:0' },
    admin: { listen: '127.0.0.1:0' },
    store: process.env.ESCROW_TEST_REDIS ?? 'redis://127.0.0.1:6379/0',
    storePrefix: `escrowbench:${randomBytes(4).toString('hex')}:`,
    keys: { leaseEncryption: 'file:lease.key', auditHmac: 'file:audit.key' },
    identity: {
      issuers: [
        {
          name: 't',
          principal: 'Agent',
          issuer: 'https://i',
          audience: 'escrow',
          jwks: 'file:jwks.json',
          algorithms: ['ES256'],
        },
      ],
    },
    policies: join(ROOT, 'policies'),
    audit: { sinks: ['redis'] },
    targets: [
      {
        name: 'echo',
        upstream: 'http://127.0.0.1:9',
        credential: { adapter: 'header', header: 'x-k', value: 'env:K' },
      },
    ],
  };
  change(c);
  writeFileSync(join(dir, `${name}.yaml`), stringify(c));
  return join(dir, `${name}.yaml`);
}

function exitMs(path: string): Promise<{ ms: number; code: number | null }> {
  const began = performance.now();
  const proc = spawn(process.execPath, [join(ROOT, 'dist/gateway/cli.js'), 'start', '--config', path], {
    env: { ...process.env, K: 'k', ESCROW_LOG_LEVEL: 'silent' },
    stdio: 'ignore',
  });
  return new Promise((r) => proc.once('exit', (code) => r({ ms: performance.now() - began, code })));
}

const { busyPort, close } = await setUp();
const cases: [string, string][] = [
  [
    'literal secret in credential.value',
    config(
      'literal',
      (c) => ((c.targets as Record<string, Record<string, unknown>>[])[0]!.credential!.value = 'literal'),
    ),
  ],
  [
    'unreadable jwks: file:',
    config('jwks', (c) => ((c.identity as { issuers: Record<string, unknown>[] }).issuers[0]!.jwks = 'file:nope.json')),
  ],
  ['invalid policy', config('policy', (c) => (c.policies = join(dir, 'bad')))],
  ['busy proxy port', config('busy', (c) => (c.proxy = { listen: `127.0.0.1:${busyPort}` }))],
];
const lines = [
  `\n## ${new Date().toISOString()} — ${ROUNDS} rounds, Redis store, node ${process.version}, load average ${loadavg()[0]!.toFixed(1)} on 2 cores\n`,
  '| failure | exit code | median ms | max ms |',
  '|---|---|---|---|',
];
for (const [name, path] of cases) {
  const runs = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(await exitMs(path));
  const ms = runs.map((r) => r.ms).sort((a, b) => a - b);
  lines.push(
    `| ${name} | ${[...new Set(runs.map((r) => r.code))].join(', ')} | ${ms[Math.floor(ms.length / 2)]!.toFixed(0)} | ${ms.at(-1)!.toFixed(0)} |`,
  );
}
close();
rmSync(dir, { recursive: true, force: true });
console.log(lines.join('\n'));
appendFileSync(join(ROOT, 'bench/RESULTS-startup.md'), `${lines.join('\n')}\n`);

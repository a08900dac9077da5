import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { cliCommand } from '../../support/cli.js';
import { REPO_POLICIES } from '../../support/escrow.js';
import { type IssuerKeys, TEST_IDENTITY } from '../../support/keys.js';
import { REDIS_URL } from '../../support/redis.js';

const ROOT = resolve(import.meta.dirname, '../../..');

/** An Escrow running as its own OS process (`escrow start --config …`). */
export interface EscrowProcess {
  readonly url: string;
  readonly adminUrl: string;
  readonly pid: number;
  /** The admin API's bearer token (`admin.token`). */
  readonly adminToken: string;
  /** Everything it wrote to stdout and stderr so far (its logs). */
  output(): string;
  /** SIGTERM, then wait for it to drain and exit. */
  stop(): Promise<number | null>;
  /** SIGKILL (a crash: nothing is drained or finished), and wait for it to be gone. */
  kill(): Promise<void>;
}

export interface ProcessOptions {
  readonly prefix: string;
  readonly keys: IssuerKeys;
  readonly secrets: { leaseKey: string; auditKey: string };
  readonly targets: readonly Record<string, unknown>[];
  readonly config?: Record<string, unknown>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function waitReady(adminUrl: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`escrow exited with ${child.exitCode}:\n${output()}`);
    const ready = await fetch(`${adminUrl}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`escrow did not become ready:\n${output()}`);
}

/** Start `escrow start --config <yaml>` in a new process over the shared Redis prefix. */
export async function spawnEscrow(options: ProcessOptions): Promise<EscrowProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'escrow-proc-'));
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify(options.keys.jwks));
  writeFileSync(join(dir, 'lease.key'), options.secrets.leaseKey);
  writeFileSync(join(dir, 'audit.key'), options.secrets.auditKey);
  const adminToken = `admin-${randomBytes(18).toString('base64url')}`;
  writeFileSync(join(dir, 'admin.token'), adminToken);
  const [proxyPort, adminPort] = [await freePort(), await freePort()];
  const config = {
    proxy: { listen: `127.0.0.1:${proxyPort}` },
    admin: { listen: `127.0.0.1:${adminPort}`, token: 'file:admin.token' },
    store: REDIS_URL,
    storePrefix: options.prefix,
    keys: { leaseEncryption: 'file:lease.key', auditHmac: 'file:audit.key' },
    identity: TEST_IDENTITY,
    policies: REPO_POLICIES,
    watchPolicies: false,
    audit: { sinks: ['file:audit.log'] },
    targets: options.targets,
    ...options.config,
  };
  writeFileSync(join(dir, 'escrow.yaml'), stringify(config));
  const child = spawn(process.execPath, [...cliCommand(), 'start', '--config', join(dir, 'escrow.yaml')], {
    cwd: ROOT,
    env: { ...process.env, ESCROW_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => chunks.push(c));
  child.stderr?.on('data', (c: Buffer) => chunks.push(c));
  const output = () => Buffer.concat(chunks).toString();
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  try {
    await waitReady(adminUrl, child, output);
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `http://127.0.0.1:${proxyPort}`,
    adminUrl,
    pid: child.pid!,
    adminToken,
    output,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
      return child.exitCode;
    },
  };
}

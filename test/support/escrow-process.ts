import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { freePort, waitFor } from '../reliability/support/ports.js';
import { cliCommand, REPO_ROOT } from './cli.js';
import { createIssuerKeys, type IssuerKeys, signToken, TEST_IDENTITY, type TokenOptions } from './keys.js';
import { REDIS_URL, testPrefix } from './redis.js';

export { REPO_ROOT } from './cli.js';

/** How to start an Escrow as its own OS process; everything but `targets` has a default. */
export interface EscrowProcessOptions {
  /** Store URL; the shared test Redis unless given. */
  readonly store?: string;
  readonly targets: readonly Record<string, unknown>[];
  /** Top-level config keys merged over the defaults (shallow; `proxy` one level deep, keeping the port). */
  readonly config?: Record<string, unknown>;
  readonly env?: Record<string, string>;
  /** Store key prefix; processes given the same prefix (and `keys`, `secrets`) act as replicas of one gateway. */
  readonly prefix?: string;
  readonly keys?: IssuerKeys;
  /** Lease-encryption and audit-HMAC keys (base64); fresh random ones unless given (replicas must share them). */
  readonly secrets?: { readonly leaseKey: string; readonly auditKey: string };
  readonly logLevel?: string;
  /** Files written into the config's directory before start (`file:` secrets). */
  readonly files?: Record<string, string>;
}

/** An Escrow running as its own OS process (`escrow start --config …`). */
export interface EscrowProcess {
  readonly url: string;
  readonly adminUrl: string;
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  readonly configPath: string;
  readonly prefix: string;
  readonly keys: IssuerKeys;
  /** The admin API's bearer token (`admin.token`). */
  readonly adminToken: string;
  readonly proc: ChildProcess;
  /** Resolves with the exit code once the process is gone. */
  readonly exited: Promise<number | null>;
  /** Parsed JSON log lines written so far (stderr). */
  logs(): Record<string, unknown>[];
  /** Everything the process wrote (stdout and stderr), for failure messages and leak checks. */
  output(): string;
  token(options?: TokenOptions): Promise<string>;
  openTask(token: string, targets: readonly string[], intent?: string): Promise<string>;
  auditEvents(): Record<string, unknown>[];
  /** Rewrite escrow.yaml (for SIGHUP tests): `edit` gets the current config object. */
  rewriteConfig(edit: (config: Record<string, unknown>) => Record<string, unknown>): void;
  /** Start another process over the same directory, config and ports (after this one exited). */
  restart(): Promise<EscrowProcess>;
  /** SIGTERM and wait for it to drain and exit; SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<number | null>;
  /** SIGKILL (a crash: nothing is drained or finished), and wait for it to be gone. */
  kill(): Promise<void>;
  /** Stop it (as `stop`) and remove its directory; resolves with the exit code. */
  close(graceMs?: number): Promise<number | null>;
}

interface Layout {
  readonly dir: string;
  readonly configPath: string;
  readonly prefix: string;
  readonly keys: IssuerKeys;
  readonly port: number;
  readonly adminPort: number;
  readonly options: EscrowProcessOptions;
}

async function writeLayout(options: EscrowProcessOptions): Promise<Layout> {
  const dir = mkdtempSync(join(tmpdir(), 'escrow-proc-'));
  const keys = options.keys ?? (await createIssuerKeys());
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify(keys.jwks));
  writeFileSync(join(dir, 'lease.key'), options.secrets?.leaseKey ?? randomBytes(32).toString('base64'));
  writeFileSync(join(dir, 'audit.key'), options.secrets?.auditKey ?? randomBytes(32).toString('base64'));
  writeFileSync(join(dir, 'admin.token'), `admin-${randomBytes(18).toString('base64url')}`);
  for (const [name, content] of Object.entries(options.files ?? {})) writeFileSync(join(dir, name), content);
  const [port, adminPort] = [await freePort(), await freePort()];
  const prefix = options.prefix ?? testPrefix('process');
  const config = {
    proxy: { listen: `127.0.0.1:${port}` },
    admin: { listen: `127.0.0.1:${adminPort}`, token: 'file:admin.token' },
    store: options.store ?? REDIS_URL,
    storePrefix: prefix,
    keys: { leaseEncryption: 'file:lease.key', auditHmac: 'file:audit.key' },
    identity: TEST_IDENTITY,
    policies: join(REPO_ROOT, 'policies'),
    watchPolicies: false,
    audit: { sinks: ['file:audit.log'] },
    targets: options.targets,
    ...options.config,
    // `proxy` is merged one level deep so that a test can set drain or size limits and keep the port.
    ...(options.config?.proxy ? { proxy: { ...(options.config.proxy as object), listen: `127.0.0.1:${port}` } } : {}),
  };
  const configPath = join(dir, 'escrow.yaml');
  writeFileSync(configPath, stringify(config));
  return { dir, configPath, prefix, keys, port, adminPort, options };
}

/**
 * Start `escrow start --config <generated yaml>` as a child process and wait until `/readyz` answers 200 (the store
 * is reachable and the revocation subscription live, so a replica started this way sees the others' revocations).
 */
export async function startEscrowProcess(options: EscrowProcessOptions): Promise<EscrowProcess> {
  return launch(await writeLayout(options));
}

async function launch(layout: Layout): Promise<EscrowProcess> {
  const { dir, configPath, port, adminPort, options } = layout;
  const proc = spawn(process.execPath, [...cliCommand(), 'start', '--config', configPath], {
    cwd: REPO_ROOT, // where tsx resolves from; the config's relative paths resolve against its own directory
    env: { ...process.env, ...options.env, ESCROW_LOG_LEVEL: options.logLevel ?? 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  proc.stdout?.on('data', (c: Buffer) => {
    text += c.toString();
  });
  proc.stderr?.on('data', (c: Buffer) => {
    text += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  let gone = false;
  const died = exited.then((code) => {
    gone = true;
    throw new Error(`escrow exited during start-up (code ${code})`);
  });
  await Promise.race([waitFor(async () => (await fetch(`${adminUrl}/readyz`)).ok, 20_000), died]).catch(
    (error: Error) => {
      proc.kill('SIGKILL');
      throw new Error(`${error.message}\n${text}`);
    },
  );
  died.catch(() => {});
  const stop = async (graceMs = 10_000) => {
    if (!gone) proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    adminUrl,
    port,
    pid: proc.pid ?? -1,
    dir,
    configPath,
    prefix: layout.prefix,
    keys: layout.keys,
    adminToken: readFileSync(join(dir, 'admin.token'), 'utf8'),
    proc,
    exited,
    logs: () =>
      text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    output: () => text,
    token: (o) => signToken(layout.keys, o),
    async openTask(token, targets, intent = 'reliability test') {
      const res = await fetch(`${url}/_escrow/tasks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ intent, targets }),
      });
      const body = (await res.json()) as { id?: string };
      if (res.status !== 201 || !body.id) throw new Error(`openTask: ${res.status} ${JSON.stringify(body)}`);
      return body.id;
    },
    auditEvents() {
      const file = join(dir, 'audit.log');
      if (!existsSync(file)) return [];
      return readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    rewriteConfig(edit) {
      writeFileSync(configPath, stringify(edit(parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>)));
    },
    restart: () => launch(layout),
    stop,
    async kill() {
      if (!gone && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    async close(graceMs) {
      const code = await stop(graceMs);
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

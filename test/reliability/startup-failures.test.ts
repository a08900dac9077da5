import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { cliCommand, REPO_ROOT } from '../support/cli.js';
import { createIssuerKeys, TEST_IDENTITY } from '../support/keys.js';
import { deletePrefix, REDIS_URL, testPrefix } from '../support/redis.js';
import { freePort } from './support/ports.js';

/**
 * Every start-up failure ends the process with its error, whatever the store: a supervisor that restarts on exit
 * must see it. With a Redis store the connections opened before the failure used to keep the process alive for
 * ever with nothing listening. The CLI has a last-resort exit 3 s after a failure that says it is a bug; these
 * tests fail if it is needed, so they prove that start-up closes what it opened.
 */

const CANARY = `literal-canary-${randomBytes(6).toString('hex')}`;

interface Outcome {
  readonly code: number | null;
  readonly stderr: string;
  readonly ms: number;
}

/** `escrow start --config <file>` as a real process; resolves when it exits on its own (killed after 20 s). */
function start(config: string, env: Record<string, string> = {}): Promise<Outcome> {
  const began = performance.now();
  const proc = spawn(process.execPath, [...cliCommand(), 'start', '--config', config], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, ESCROW_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const killer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    proc.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stderr, ms: performance.now() - began });
    }),
  );
}

/** The `escrow: …` lines (log lines are JSON), after checking that the process ended by itself. */
function errorLines(out: Outcome): string[] {
  expect(out.stderr).not.toContain('something was still open');
  return out.stderr.split('\n').filter((l) => l.startsWith('escrow:'));
}

describe.each(['redis', 'memory'] as const)(
  'a start-up failure exits non-zero with one line naming the cause (%s store)',
  (kind) => {
    let dir: string;
    let busy: Server;
    let busyPort: number;
    const prefix = testPrefix('startup');

    /** Write a config that starts cleanly unless `change` breaks it; returns its path. */
    function config(name: string, change: (c: Record<string, unknown>) => void): string {
      const base: Record<string, unknown> = {
        proxy: { listen: '127.0.0.1:0' },
        admin: { listen: '127.0.0.1:0' },
        store: kind === 'redis' ? REDIS_URL : 'memory://',
        storePrefix: prefix,
        keys: { leaseEncryption: 'file:lease.key', auditHmac: 'file:audit.key' },
        identity: structuredClone(TEST_IDENTITY),
        policies: join(REPO_ROOT, 'policies'),
        watchPolicies: true, // a watcher is one more thing that holds a process open
        audit: { sinks: kind === 'redis' ? ['redis', 'file:audit.log'] : ['file:audit.log'] },
        targets: [
          {
            name: 'echo',
            upstream: 'http://127.0.0.1:9',
            credential: { adapter: 'header', header: 'x-api-key', value: 'env:ECHO_KEY' },
          },
        ],
      };
      change(base);
      const path = join(dir, `${name}.yaml`);
      writeFileSync(path, stringify(base));
      return path;
    }

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'escrow-startup-'));
      writeFileSync(join(dir, 'jwks.json'), JSON.stringify((await createIssuerKeys()).jwks));
      writeFileSync(join(dir, 'lease.key'), randomBytes(32).toString('base64'));
      writeFileSync(join(dir, 'audit.key'), randomBytes(32).toString('base64'));
      mkdirSync(join(dir, 'bad-policies'));
      cpSync(join(REPO_ROOT, 'policies', 'schema.cedarschema'), join(dir, 'bad-policies', 'schema.cedarschema'));
      writeFileSync(
        join(dir, 'bad-policies', 'p.cedar'),
        '@id("p") permit(principal is Escrow::Nobody, action, resource);',
      );
      busy = createServer();
      await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
      busyPort = (busy.address() as AddressInfo).port;
    });
    afterAll(async () => {
      await new Promise((resolve) => busy.close(resolve));
      rmSync(dir, { recursive: true, force: true });
      if (kind === 'redis') await deletePrefix(prefix);
    });

    const env = { ECHO_KEY: 'echo-key-value' };

    it('a literal secret in credential.value: exit 2, the path named, the value never printed', async () => {
      const path = config('literal', (c) => {
        (c.targets as Record<string, Record<string, unknown>>[])[0]!.credential!.value = CANARY;
      });
      const out = await start(path, env);
      expect(out.code, out.stderr).toBe(2);
      expect(errorLines(out)).toEqual([
        'escrow: invalid configuration: targets[0].credential.value: must be a secret reference: env:NAME or file:PATH',
      ]);
      expect(out.stderr).not.toContain(CANARY);
    });

    it('an unreadable `jwks: file:`: exit 2, the issuer and the file named', async () => {
      const path = config('jwks', (c) => {
        (c.identity as { issuers: Record<string, unknown>[] }).issuers[0]!.jwks = 'file:missing-jwks.json';
      });
      const out = await start(path, env);
      expect(out.code, out.stderr).toBe(2);
      const [line, ...rest] = errorLines(out);
      expect(rest).toEqual([]);
      expect(line).toMatch(/^escrow: invalid configuration: identity issuer test: cannot read its JWK Set: ENOENT/);
      expect(line).toContain(join(dir, 'missing-jwks.json'));
    });

    it('an invalid policy: exit 2, the policy file and the error named', async () => {
      const path = config('policy', (c) => {
        c.policies = join(dir, 'bad-policies');
      });
      const out = await start(path, env);
      expect(out.code, out.stderr).toBe(2);
      const [line, ...rest] = errorLines(out);
      expect(rest).toEqual([]);
      expect(line).toMatch(/^escrow: invalid configuration: .*p\.cedar/);
    });

    it('a busy proxy port: exit 1, the config key and the address named', async () => {
      const path = config('busy', (c) => {
        c.proxy = { listen: `127.0.0.1:${busyPort}` };
      });
      const out = await start(path, env);
      expect(out.code, out.stderr).toBe(1);
      expect(errorLines(out)).toEqual([`escrow: proxy.listen 127.0.0.1:${busyPort}: the address is already in use`]);
    });

    it('a busy admin port after the proxy listens: exit 1, and the proxy listener is closed too', async () => {
      const path = config('busy-admin', (c) => {
        c.admin = { listen: `127.0.0.1:${busyPort}` };
      });
      const out = await start(path, env);
      expect(out.code, out.stderr).toBe(1);
      expect(errorLines(out)).toEqual([`escrow: admin.listen 127.0.0.1:${busyPort}: the address is already in use`]);
    });

    it('a busy PostgreSQL listener port: exit 1, the target named, the HTTP listeners closed too', async () => {
      const path = config('busy-postgres', (c) => {
        (c.targets as unknown[]).push({
          name: 'db',
          protocol: 'postgres',
          listen: `127.0.0.1:${busyPort}`,
          upstream: 'postgres://127.0.0.1:5432',
          requireTask: true,
          postgres: { allowPlaintext: true },
          credential: { adapter: 'postgres', template: 'escrow_template', adminUsername: 'postgres', ttl: 600 },
        });
      });
      const out = await start(path, env);
      expect(out.code, out.stderr).toBe(1);
      expect(errorLines(out)).toEqual([
        `escrow: targets.db.listen 127.0.0.1:${busyPort}: the address is already in use`,
      ]);
    });

    it.runIf(kind === 'redis')('an unreachable Redis: exit 1, the store and the connection error named', async () => {
      const closed = await freePort();
      const path = config('no-redis', (c) => {
        c.store = `redis://127.0.0.1:${closed}/0`;
      });
      const out = await start(path, env);
      expect(out.code, out.stderr).toBe(1);
      expect(errorLines(out)).toEqual([
        expect.stringMatching(/^escrow: the lease store is unavailable: .*ECONNREFUSED/),
      ]);
    });
  },
);

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { auditSinks } from '../../gateway/audit/config.js';
import { REPO_ROOT } from '../support/cli.js';
import { createIssuerKeys, TEST_IDENTITY } from '../support/keys.js';
import { deletePrefix, REDIS_URL, testPrefix } from '../support/redis.js';
import { escrowCli } from './support/trail.js';

describe('with a Redis store the stream sink is on unless configured off', () => {
  it('defaults to stdout and the stream with Redis, stdout alone in memory, and keeps what is configured', () => {
    const audit = { failMode: 'closed' } as const;
    expect(auditSinks({ store: 'redis://r:6379/0', audit } as never)).toEqual(['stdout', 'redis']);
    expect(auditSinks({ store: 'redis+sentinel://s:26379/m', audit } as never)).toEqual(['stdout', 'redis']);
    expect(auditSinks({ store: 'memory://', audit } as never)).toEqual(['stdout']);
    expect(auditSinks({ store: 'redis://r:6379/0', audit: { ...audit, sinks: ['file:a.log'] } } as never)).toEqual([
      'file:a.log',
    ]);
  });
});

/** `escrow audit trace|verify --config` names the source it read, and says why a source holds nothing. */
describe('escrow audit trace and verify name their source, and say so when it holds no events', () => {
  let dir: string;
  const prefix = testPrefix('trace-source');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'escrow-trace-source-'));
    const keys = await createIssuerKeys();
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify(keys.jwks));
    writeFileSync(join(dir, 'lease.key'), randomBytes(32).toString('base64'));
    writeFileSync(join(dir, 'audit.key'), randomBytes(32).toString('base64'));
    const config = (store: string, audit: Record<string, unknown>) => ({
      store,
      storePrefix: prefix,
      keys: { leaseEncryption: 'file:lease.key', auditHmac: 'file:audit.key' },
      identity: TEST_IDENTITY,
      policies: join(REPO_ROOT, 'policies'),
      audit,
      targets: [
        {
          name: 'echo',
          upstream: 'http://127.0.0.1:9',
          credential: { adapter: 'header', header: 'x-k', value: 'env:HOME' },
        },
      ],
    });
    writeFileSync(join(dir, 'default.yaml'), stringify(config(REDIS_URL, {})));
    writeFileSync(join(dir, 'file-only.yaml'), stringify(config(REDIS_URL, { sinks: ['file:audit.log'] })));
    writeFileSync(join(dir, 'memory.yaml'), stringify(config('memory://', { sinks: ['file:audit.log'] })));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await deletePrefix(prefix);
  });

  it('says the default stream holds no events yet, naming the stream and the server', async () => {
    const result = await escrowCli(['audit', 'trace', 'a'.repeat(64), '--config', join(dir, 'default.yaml')]);
    expect(result.stdout.trim()).toBe(`No audit events in Redis stream ${prefix}audit at ${new URL(REDIS_URL).host}.`);
    expect(result.code).toBe(1);
  });

  it('says the stream sink is off and points at the file sink, instead of "no lease was given the secret"', async () => {
    for (const command of ['trace', 'verify']) {
      const args = command === 'trace' ? ['trace', 'a'.repeat(64)] : ['verify'];
      const result = await escrowCli(['audit', ...args, '--config', join(dir, 'file-only.yaml')]);
      expect(result.stdout).toContain(`No audit events in Redis stream ${prefix}audit at ${new URL(REDIS_URL).host}`);
      expect(result.stdout).toContain('the Redis stream sink is off in this config (audit.sinks: [file:audit.log])');
      expect(result.stdout).toContain('read the file sink instead: --file audit.log');
      expect(result.stdout).not.toContain('No lease');
      expect(result.code).toBe(1);
    }
  });

  it('says an in-memory store has no stream to read', async () => {
    const result = await escrowCli(['audit', 'verify', '--config', join(dir, 'memory.yaml')]);
    expect(result.stdout).toContain('in-memory store');
    expect(result.code).toBe(1);
  });

  it('names the file it read', async () => {
    const file = join(dir, 'empty.log');
    writeFileSync(file, '');
    const result = await escrowCli(['audit', 'verify', '--file', file]);
    expect(result.stdout.trim()).toBe(`No audit events in file ${file}.`);
    expect(result.code).toBe(1);
  });
});

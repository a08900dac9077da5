import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../gateway/config/load.js';
import { EscrowError } from '../../gateway/errors.js';
import { cliCommand } from '../support/cli.js';

/** Node's arguments that run the CLI (test/support/cli.ts). */
const cli = cliCommand();
const run = promisify(execFile);

const base = `
keys: { leaseEncryption: env:LK, auditHmac: env:AK }
identity:
  issuers:
    - { name: t, principal: Agent, issuer: https://i, audience: escrow, jwks: file:./jwks.json }
`;

function configError(text: string): string {
  try {
    parseConfig(text, 'test.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(EscrowError);
    return (error as EscrowError).message;
  }
  throw new Error('expected a config error');
}

describe('a bad config names the offending path', () => {
  it('reports a missing adapter option by its path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'escrow-cfg-'));
    writeFileSync(
      join(dir, 'escrow.yaml'),
      `${base}targets:\n  - { name: a, upstream: "http://127.0.0.1:1", credential: { adapter: header, value: env:X, ttl: 60 } }\n`,
    );
    writeFileSync(join(dir, 'jwks.json'), '{"keys":[]}');
    const failure = await run(process.execPath, [...cli, 'check', '--config', join(dir, 'escrow.yaml')], {
      env: {
        ...process.env,
        LK: randomBytes(32).toString('base64'),
        AK: 'audit-key-0123456789',
        X: 'secret-canary-123',
      },
    }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain('targets[0].credential.header: required');
    expect(failure?.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(failure?.stderr).not.toContain('secret-canary-123');
  });

  it('rejects unknown keys', () => {
    expect(configError(`${base}targets: []\nproxyy: {}\n`)).toContain('proxyy: unknown key');
  });

  it('rejects a literal secret where a reference is required', () => {
    const message = configError(
      `${base.replace('env:LK', 'hunter2hunter2')}targets:\n  - { name: a, upstream: "http://x", credential: { adapter: header } }\n`,
    );
    expect(message).toContain('keys.leaseEncryption: must be a secret reference');
    expect(message).not.toContain('hunter2');
  });

  it('rejects duplicate YAML keys and duplicate target names', () => {
    expect(configError(`${base}targets: []\ntargets: []\n`)).toContain('duplicate key');
    const dup = `${base}targets:\n  - { name: a, upstream: "http://x", credential: { adapter: header } }\n  - { name: a, upstream: "http://y", credential: { adapter: header } }\n`;
    expect(configError(dup)).toContain('targets[1].name: duplicate target');
  });

  it('rejects an upstream carrying userinfo', () => {
    const message = configError(
      `${base}targets:\n  - { name: a, upstream: "http://u:p@x", credential: { adapter: header } }\n`,
    );
    expect(message).toContain('targets[0].upstream');
  });
});

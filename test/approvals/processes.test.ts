import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { cliCommand } from '../support/cli.js';
import { REPO_POLICIES } from '../support/escrow.js';
import { type EscrowProcess, startEscrowProcess } from '../support/escrow-process.js';
import { createIssuerKeys, type IssuerKeys, signToken, TEST_IDENTITY } from '../support/keys.js';
import { deletePrefix, REDIS_URL, testPrefix } from '../support/redis.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { call, humanIssuer, humanToken, perRequestTarget, perTaskTarget } from './support.js';

const ROOT = resolve(import.meta.dirname, '../..');
const BILLING = `canary-proc-billing-${randomBytes(6).toString('hex')}`;
const PAYROLL = `canary-proc-payroll-${randomBytes(6).toString('hex')}`;

/** Run the `escrow` CLI as its own process; `input` goes to its standard input (a token, never an argument). */
function cli(
  args: string[],
  input = '',
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [...cliCommand(), ...args], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => done({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

interface Body {
  id: string;
  state: string;
  code?: string;
  approvalId?: string;
  leases?: unknown[];
}

describe('two Escrow processes over one Redis, agents and people from two issuers: approvals end to end', () => {
  const prefix = testPrefix('approvals-proc');
  const dir = mkdtempSync(join(tmpdir(), 'escrow-approvals-'));
  let keys: IssuerKeys;
  let humans: IssuerKeys;
  let upstream: TestUpstream;
  let a: EscrowProcess;
  let b: EscrowProcess;
  let agent: string;
  let alice: string;
  let configFile: string;
  const tokens: string[] = [];

  beforeAll(async () => {
    [keys, humans] = await Promise.all([createIssuerKeys(), createIssuerKeys()]);
    upstream = await startUpstream();
    writeFileSync(join(dir, 'human-jwks.json'), JSON.stringify(humans.jwks));
    writeFileSync(join(dir, 'billing.key'), BILLING);
    writeFileSync(join(dir, 'payroll.key'), PAYROLL);
    const secrets = { leaseKey: randomBytes(32).toString('base64'), auditKey: randomBytes(32).toString('base64') };
    writeFileSync(join(dir, 'audit.key'), secrets.auditKey);
    writeFileSync(join(dir, 'lease.key'), secrets.leaseKey);
    const targets = [
      perRequestTarget(upstream.url, `file:${join(dir, 'billing.key')}`),
      perTaskTarget(upstream.url, `file:${join(dir, 'payroll.key')}`),
    ];
    const identity = { issuers: [...TEST_IDENTITY.issuers, humanIssuer(`file:${join(dir, 'human-jwks.json')}`)] };
    const config = { identity, audit: { sinks: ['redis'] } };
    const options = { prefix, keys, secrets, targets, config };
    [a, b] = await Promise.all([startEscrowProcess(options), startEscrowProcess(options)]);
    // What an operator's `escrow audit trace --config` reads: the same store and audit key.
    configFile = join(dir, 'escrow.yaml');
    writeFileSync(
      configFile,
      stringify({
        store: REDIS_URL,
        storePrefix: prefix,
        keys: { leaseEncryption: 'file:lease.key', auditHmac: 'file:audit.key' },
        identity,
        policies: REPO_POLICIES,
        targets,
      }),
    );
    agent = await signToken(keys);
    alice = await humanToken(humans, 'alice@example.org', ['billing-approvers', 'payroll-approvers']);
    tokens.push(agent, alice);
  }, 90_000);
  afterAll(async () => {
    const codes = await Promise.all([a?.close(), b?.close()]);
    await upstream?.close();
    await deletePrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
    expect(codes).toEqual([0, 0]);
  });

  const json = async (res: Response) => ({ status: res.status, ...((await res.json()) as Body) });
  const leaseKeys = async (task: string) => {
    const redis = new Redis(REDIS_URL);
    try {
      return await redis.keys(`${prefix}lease:{${task}}*`);
    } finally {
      redis.disconnect();
    }
  };
  const stream = async () => {
    const redis = new Redis(REDIS_URL);
    try {
      const entries = await redis.xrange(`${prefix}audit`, '-', '+');
      // Each entry holds `p` (the writer's previous entry) and `e` (the event line).
      return entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('e') + 1]!) as Record<string, unknown>);
    } finally {
      redis.disconnect();
    }
  };

  it('holds a prod delete until a person approves it through the API of the other process; the retry gets a lease', async () => {
    const task = await json(
      await call(`${a.url}/_escrow/tasks`, agent, { body: { intent: 'refund CHG-2001', targets: ['billing'] } }),
    );
    expect(task.status).toBe(201);
    const waiting = await json(await call(`${a.url}/billing/invoices/7`, agent, { method: 'DELETE', task: task.id }));
    expect(waiting).toMatchObject({ status: 403, code: 'approval_required' });
    expect(await leaseKeys(task.id)).toEqual([]);
    const seen = await json(await call(`${b.url}/_escrow/approvals/${waiting.approvalId}`, alice));
    expect(seen).toMatchObject({ status: 200, state: 'pending' });
    const decided = await json(
      await call(`${b.url}/_escrow/approvals/${waiting.approvalId}`, alice, { body: { decision: 'approve' } }),
    );
    expect(decided).toMatchObject({ status: 200, state: 'approved' });
    const retried = await call(`${a.url}/billing/invoices/7`, agent, { method: 'DELETE', task: task.id });
    expect(retried.status).toBe(200);
    expect(upstream.requests.at(-1)).toMatchObject({ method: 'DELETE', url: '/invoices/7' });
    expect(upstream.requests.at(-1)!.headers['x-api-key']).toBe(BILLING);
    expect(await leaseKeys(task.id)).toHaveLength(1);
  });

  it('holds a task on A (202), shows it pending on B, and wakes a long-poll on A when a person approves with the CLI on B', async () => {
    const opened = await json(
      await call(`${a.url}/_escrow/tasks`, agent, { body: { intent: 'pay June', targets: ['payroll'] } }),
    );
    expect(opened).toMatchObject({ status: 202, state: 'pending' });
    expect(await json(await call(`${b.url}/_escrow/tasks/${opened.id}`, agent))).toMatchObject({
      state: 'pending',
      approvalId: opened.approvalId,
    });
    expect((await call(`${b.url}/payroll/runs`, agent, { task: opened.id })).status).toBe(403);
    const listed = await cli(['approvals', 'list', '--human-token-file', '-', '--url', b.url], alice);
    expect(listed.stdout).toContain(opened.approvalId);
    expect(listed.stdout).toContain('open a task on payroll');
    // Operators see it too, through the admin API, with the admin credential rather than a person's token.
    const asOperator = await cli(['approvals', 'list', '--admin', a.adminUrl], '', {
      ESCROW_ADMIN_TOKEN: a.adminToken,
    });
    expect(asOperator.code, asOperator.stderr).toBe(0);
    expect(asOperator.stdout).toContain(opened.approvalId);
    const polled = call(`${a.url}/_escrow/tasks/${opened.id}?wait=30s`, agent).then(json);
    const approved = await cli(
      [
        'approvals',
        'approve',
        opened.approvalId!,
        '--comment',
        'June run checked',
        '--human-token-file',
        '-',
        '--url',
        b.url,
      ],
      alice,
    );
    expect(approved).toMatchObject({ code: 0 });
    expect(approved.stdout).toContain(`approved ${opened.approvalId}: open a task on payroll`);
    expect(await polled).toMatchObject({ status: 200, state: 'active' });
    expect((await call(`${a.url}/payroll/runs`, agent, { task: opened.id })).status).toBe(200);
    expect(upstream.requests.at(-1)!.headers['x-api-key']).toBe(PAYROLL);
  }, 60_000);

  it('traces each secret to the person who approved (escrow audit trace over the Redis stream)', async () => {
    for (const [secret, approver] of [
      [PAYROLL, /approved {3}task by Human alice@example\.org \(issuer corp\).*"June run checked"/],
      [BILLING, /DELETE \/invoices\/7 → 200.*\n\s+approved by Human alice@example\.org \(issuer corp\)/],
    ] as const) {
      const traced = await cli(['audit', 'trace', '-', '--config', configFile], secret);
      expect(traced.code, traced.stderr).toBe(0);
      expect(traced.stdout).toMatch(approver);
      expect(traced.stdout).not.toContain(secret);
    }
  }, 60_000);

  it('refuses an agent token that tries to approve, and audits the attempt', async () => {
    const opened = await json(
      await call(`${b.url}/_escrow/tasks`, agent, { body: { intent: 'pay July', targets: ['payroll'] } }),
    );
    const refused = await cli(
      ['approvals', 'approve', opened.approvalId!, '--human-token-file', '-', '--url', a.url],
      agent,
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('403 approval_forbidden, not_human');
    expect(await json(await call(`${a.url}/_escrow/tasks/${opened.id}`, agent))).toMatchObject({ state: 'pending' });
    await expect
      .poll(async () =>
        (await stream()).filter((e) => e.event === 'approval.refused' && e.approvalId === opened.approvalId),
      )
      .toMatchObject([{ reason: 'not_human', principal: { type: 'Agent' } }]);
    await cli(['approvals', 'deny', opened.approvalId!, '--human-token-file', '-', '--url', a.url], alice);
  }, 60_000);

  it('leaves no lease after a denial: both processes say denied and refuse the task', async () => {
    const opened = await json(
      await call(`${a.url}/_escrow/tasks`, agent, { body: { intent: 'pay August', targets: ['payroll'] } }),
    );
    const denied = await cli(
      ['approvals', 'deny', opened.approvalId!, '--human-token-file', '-', '--url', b.url],
      alice,
    );
    expect(denied).toMatchObject({ code: 0 });
    for (const at of [a, b]) {
      expect(await json(await call(`${at.url}/_escrow/tasks/${opened.id}`, agent))).toMatchObject({ state: 'denied' });
      expect((await call(`${at.url}/payroll/runs`, agent, { task: opened.id })).status).toBe(403);
    }
    expect(await leaseKeys(opened.id)).toEqual([]);
  }, 60_000);

  it('leaves no lease after an expiry: a long-poll on B wakes at it, and the trail records it', async () => {
    const opened = await json(
      await call(`${a.url}/_escrow/tasks`, agent, {
        body: { intent: 'pay September', targets: ['payroll'], ttlSeconds: 2 },
      }),
    );
    expect(opened.state).toBe('pending');
    expect(await json(await call(`${b.url}/_escrow/tasks/${opened.id}?wait=30s`, agent))).toMatchObject({
      state: 'expired',
    });
    expect((await call(`${a.url}/payroll/runs`, agent, { task: opened.id })).status).toBe(403);
    await expect
      .poll(
        async () =>
          (await stream()).filter((e) => e.event === 'approval.expired' && e.approvalId === opened.approvalId),
        {
          timeout: 10_000,
        },
      )
      .toHaveLength(1);
    expect(await leaseKeys(opened.id)).toEqual([]);
  }, 60_000);

  it('never writes a credential or a token to either process log', () => {
    const logs = a.output() + b.output();
    expect(logs).toContain('escrow started');
    for (const secret of [BILLING, PAYROLL]) expect(logs).not.toContain(secret);
    for (const t of tokens) expect(logs).not.toContain(t.split('.')[2]!);
  });
});

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, humanToken, twoIssuers } from '../approvals/support.js';
import type { TestEscrow } from '../support/escrow.js';
import { createIssuerKeys, type IssuerKeys } from '../support/keys.js';
import { createPgFixture, type PgFixture } from '../support/postgres.js';
import { agentClient, createDbPki, DB_POLICIES, type DbPki, startDbEscrow } from '../support/postgres-escrow.js';

// An agent that probes: a task that waits for (or was denied by) a person, and a connection whose `connect` needs a
// person, must never get a database role. Approvals apply to `connect` like to any HTTP request.
const CAREFUL = 'spiffe://test.example/agent/careful';
const PENDING = 'spiffe://test.example/agent/pending';
const POLICIES = {
  ...DB_POLICIES,
  'approvals.cedar': [
    '@id("careful-connect-needs-person")',
    '@approval("required")',
    `forbid (principal == Escrow::Agent::"${CAREFUL}", action == Escrow::Action::"connect", resource);`,
    '',
    '@id("pending-tasks-need-person")',
    '@approval("required")',
    `forbid (principal == Escrow::Agent::"${PENDING}", action == Escrow::Action::"openTask", resource);`,
    '',
    '@id("people-decide")',
    'permit (principal is Escrow::Human, action == Escrow::Action::"approve", resource);',
    '',
  ].join('\n'),
};

let fx: PgFixture;
let pki: DbPki;
let humans: IssuerKeys;
let escrow: TestEscrow & { dbPort: number };

beforeAll(async () => {
  fx = await createPgFixture('approvals');
  pki = createDbPki();
  humans = await createIssuerKeys();
  escrow = await startDbEscrow(
    pki,
    { template: fx.readOnly, rolePrefix: fx.rolePrefix },
    {
      policies: POLICIES,
      configure: (dir) => {
        writeFileSync(join(dir, 'human-jwks.json'), JSON.stringify(humans.jwks));
        return { identity: twoIssuers() };
      },
    },
  );
});
afterAll(async () => {
  await escrow?.close();
  await fx?.drop();
});

async function connect(user: string, password: string): Promise<{ role?: string; code?: string; message?: string }> {
  const client = agentClient(escrow.dbPort, fx, pki, { user, password });
  try {
    await client.connect();
    const { rows } = await client.query<{ role: string }>('select current_user as role');
    return { role: rows[0]!.role };
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    return { ...(code ? { code } : {}), message };
  } finally {
    await client.end().catch(() => {});
  }
}

describe('a database connection waits for a person like any request', () => {
  it('gives a task that waits for a person, or that a person denied, no role', async () => {
    const token = await escrow.token({ sub: PENDING });
    const opened = (await (
      await call(`${escrow.url}/_escrow/tasks`, token, { body: { intent: 'nightly report', targets: ['db'] } })
    ).json()) as { id: string; state: string; approvalId: string };
    expect(opened.state).toBe('pending');
    expect(await connect(opened.id, token)).toMatchObject({
      code: '42501',
      message: expect.stringContaining(opened.approvalId),
    });
    expect(await fx.leaseRoles()).toEqual([]);
    const alice = await humanToken(humans, 'alice@example.org');
    const denied = await call(`${escrow.url}/_escrow/approvals/${opened.approvalId}`, alice, {
      body: { decision: 'deny' },
    });
    expect(denied.status).toBe(200);
    const after = await connect(opened.id, token);
    // A denied task is over: refused as a closed one.
    expect(after).toMatchObject({ code: '28000', message: 'escrow: the task is unknown, closed or expired' });
    expect(await fx.leaseRoles()).toEqual([]);
  });

  it('holds an @approval connect until a person approves it; the approved connection gets its role and names the approval', async () => {
    const token = await escrow.token({ sub: CAREFUL });
    const task = await escrow.openTask(token, ['db']);
    const waiting = await connect(task, token);
    expect(waiting).toMatchObject({ code: '42501' });
    const approvalId = /\(approval (apr_[\w-]+)\)/.exec(waiting.message ?? '')?.[1];
    expect(approvalId).toBeDefined();
    expect(await fx.leaseRoles()).toEqual([]);
    // A second try before anyone decided is still refused, with the same approval.
    expect((await connect(task, token)).message).toContain(approvalId);
    const alice = await humanToken(humans, 'alice@example.org');
    const approved = await call(`${escrow.url}/_escrow/approvals/${approvalId}`, alice, {
      body: { decision: 'approve' },
    });
    expect(approved.status).toBe(200);
    const connected = await connect(task, token);
    expect(connected.role).toMatch(new RegExp(`^${fx.rolePrefix}`));
    await escrow.gw.audit.flush();
    const opened = (await escrow.auditEvents()).filter(
      (e) => e.event === 'connection.opened' && (e.task as { id?: string } | undefined)?.id === task,
    );
    expect(opened).toMatchObject([{ approvalId }]);
  });
});

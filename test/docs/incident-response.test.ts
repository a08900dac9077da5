import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliCommand } from '../support/cli.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

const run = promisify(execFile);
/** Node's arguments that run the CLI (test/support/cli.ts). */
const CLI = cliCommand();
const KEY = 'canary-kill-switch-5c1e8a92f04b';
const A = 'spiffe://test.example/agent/rogue';
const B = 'spiffe://test.example/agent/bystander';

const target = (name: string, upstream: string) => ({
  name,
  upstream,
  attributes: { sensitivity: 'low', environment: 'dev' },
  credential: { adapter: 'header', header: 'x-api-key', value: 'env:KEY', ttl: 300 },
});

/** The kill switch of docs/security.md (incident response) and docs/cli.md (`escrow revoke`), as documented. */
describe('the kill switch revokes a principal’s or a target’s leases at once and leaves the rest alone', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  const tokens: Record<string, string> = {};

  const call = async (who: string, task: string, path: string) =>
    (
      await fetch(`${escrow.url}${path}`, {
        headers: { authorization: `Bearer ${tokens[who]}`, 'x-escrow-task': task },
      })
    ).status;

  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({
      env: { KEY },
      targets: [target('crm', upstream.url), target('billing', upstream.url)],
    });
    tokens.A = await escrow.token({ sub: A });
    tokens.B = await escrow.token({ sub: B });
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('POST /admin/revoke?principal= closes that principal’s tasks and no other’s', async () => {
    const rogue = await escrow.openTask(tokens.A!, ['crm']);
    const bystander = await escrow.openTask(tokens.B!, ['crm']);
    expect(await call('A', rogue, '/crm/x')).toBe(200);
    expect(await call('B', bystander, '/crm/x')).toBe(200);
    const res = await fetch(`${escrow.adminUrl}/admin/revoke?principal=${encodeURIComponent(A)}`, {
      method: 'POST',
      headers: escrow.adminHeaders,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ tasks: 1, leases: 1 });
    const before = upstream.requests.length;
    expect(await call('A', rogue, '/crm/x')).toBe(403);
    expect(upstream.requests.length).toBe(before);
    expect(await call('B', bystander, '/crm/x')).toBe(200);
    const revoked = (await escrow.auditEvents()).filter((e) => e.event === 'lease.revoked');
    expect(revoked.at(-1)).toMatchObject({ reason: 'admin' });
  });

  it('`escrow revoke --target` through the CLI closes every task on that target, and prints JSON', async () => {
    const onBilling = await escrow.openTask(tokens.B!, ['billing']);
    const onCrm = await escrow.openTask(tokens.B!, ['crm']);
    expect(await call('B', onBilling, '/billing/x')).toBe(200);
    const { stdout } = await run(
      process.execPath,
      [...CLI, 'revoke', '--target', 'billing', '--admin', escrow.adminUrl, '--json'],
      { env: { ...process.env, ESCROW_ADMIN_TOKEN: escrow.adminToken } },
    );
    expect(JSON.parse(stdout)).toEqual({ tasks: 1, leases: 1 });
    expect(await call('B', onBilling, '/billing/x')).toBe(403);
    expect(await call('B', onCrm, '/crm/x')).toBe(200);
  });

  it('`escrow revoke` exits 1 when the admin API cannot be reached, and 2 without a selector', async () => {
    const unreachable = run(process.execPath, [...CLI, 'revoke', '--all', '--admin', 'http://127.0.0.1:9']);
    await expect(unreachable).rejects.toMatchObject({ code: 1 });
    const usage = run(process.execPath, [...CLI, 'revoke', '--admin', escrow.adminUrl]);
    await expect(usage).rejects.toMatchObject({ code: 2 });
  });
});

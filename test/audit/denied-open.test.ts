import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';

// A refused task opening is evidence like any denial: the 403's decision id is in the trail when the answer
// arrives (read the file at once, no flush), with who asked and which policy refused.
describe('a task opening refused by policy is in the audit trail', () => {
  let escrow: TestEscrow;
  beforeAll(async () => {
    escrow = await startEscrow({
      store: 'memory',
      policies: {
        'open.cedar': `@id("open-tasks")
permit (principal, action == Escrow::Action::"openTask", resource);

@id("no-nope")
forbid (principal, action == Escrow::Action::"openTask", resource) when { context has task && context.task.intent == "nope" };`,
      },
      targets: [
        {
          name: 'echo',
          upstream: 'http://127.0.0.1:9',
          attributes: { sensitivity: 'low', environment: 'dev' },
          credential: { adapter: 'header', header: 'x-api-key', value: 'env:DENIED_OPEN_KEY', ttl: 300 },
        },
      ],
      env: { DENIED_OPEN_KEY: 'canary-denied-open-7a1f' },
    });
  });
  afterAll(async () => {
    await escrow?.close();
  });

  it('writes the denial, with its decision id, before the 403 arrives', async () => {
    const token = await escrow.token();
    const res = await fetch(`${escrow.url}/_escrow/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ intent: 'nope', targets: ['echo'] }),
    });
    const problem = (await res.json()) as { code: string; decisionId: string };
    expect(res.status).toBe(403);
    expect(problem.code).toBe('policy_denied');
    const file = join(escrow.dir, 'audit.log');
    const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    const events = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.filter((e) => e.decisionId === problem.decisionId)).toMatchObject([
      { event: 'request', decision: 'deny', policies: ['no-nope'], target: 'echo', status: 403, method: 'POST' },
    ]);
    expect(lines.join('\n')).not.toContain(token.split('.')[2]!);
  });
});

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditTrace, auditVerify, hashSecret, traceSecret, verifyChain } from '../../gateway/audit/index.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';

const CANARY = 'canary-drill-key-4b8e2f9a61c3';
const INTENT = 'triage the nightly build failures';

/**
 * The leaked-key drill end to end: a real Escrow over real Redis writes its trail to a file and to the Redis
 * stream; the key then "leaks", and `escrow audit trace` must name the agent, the task, the decision.
 */
describe('a leaked key is traced through a real Escrow to its principal, task, intent and decision', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  let token: string;
  let taskId: string;
  let fileLines: string[];
  let streamLines: string[];

  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({
      env: { DRILL_KEY: CANARY },
      config: { audit: { sinks: ['file:audit.log', 'redis'] } },
      targets: [echoTarget(upstream.url, 'env:DRILL_KEY')],
    });
    token = await escrow.token();
    taskId = await escrow.openTask(token, ['echo'], INTENT);
    const headers = { authorization: `Bearer ${token}`, 'x-escrow-task': taskId };
    expect((await fetch(`${escrow.url}/echo/builds?status=failed`, { headers })).status).toBe(200);
    expect((await fetch(`${escrow.url}/echo/builds/42/retry`, { method: 'POST', headers })).status).toBe(200);
    const closed = await fetch(`${escrow.url}/_escrow/tasks/${taskId}`, { method: 'DELETE', headers });
    expect(closed.status).toBe(204);
    await escrow.gw.audit.flush();
    fileLines = readFileSync(join(escrow.dir, 'audit.log'), 'utf8').split('\n').filter(Boolean);
    streamLines = [...(await escrow.gw.store.events.readAll())];
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('trace with the raw key names the agent, the task and intent, the decision and its policies', () => {
    const trace = traceSecret(fileLines, hashSecret(CANARY, escrow.secrets.auditKey));
    expect(trace.leases).toHaveLength(1);
    const lease = trace.leases[0];
    expect(lease?.principal).toEqual({ type: 'Agent', id: 'spiffe://test.example/agent/a', issuer: 'test' });
    expect(lease?.task).toMatchObject({ id: taskId, chain: [taskId], intent: INTENT });
    expect(lease?.target).toBe('echo');
    expect(lease?.decisionId).toMatch(/\S/);
    expect(lease?.policies.length).toBeGreaterThan(0);
    expect(lease?.revoked?.reason).toBe('task_closed');
    expect(lease?.requests.map((request) => `${request.method} ${request.status}`)).toEqual(['GET 200', 'POST 200']);
  });

  it('the CLI gives the same answer from the Redis stream, and neither trail holds the key or the token', () => {
    const fromFile = auditTrace({
      input: fileLines,
      secretOrFingerprint: CANARY,
      hmacKey: escrow.secrets.auditKey,
      json: true,
    });
    const fromStream = auditTrace({
      input: streamLines,
      secretOrFingerprint: CANARY,
      hmacKey: escrow.secrets.auditKey,
      json: true,
    });
    expect(fromStream).toBe(fromFile);
    for (const trail of [fileLines.join('\n'), streamLines.join('\n')]) {
      expect(trail).not.toContain(CANARY);
      expect(trail).not.toContain(token);
      expect(trail).not.toContain(token.split('.')[1]);
    }
  });

  it('both trails verify, and an edit to the file is caught', () => {
    expect(streamLines).toEqual(fileLines);
    expect(verifyChain(fileLines)).toMatchObject({ ok: true, writers: 1 });
    const tampered = fileLines.map((line) => line.replace('"status":200', '"status":404'));
    const path = join(escrow.dir, 'tampered.log');
    writeFileSync(path, tampered.join('\n'));
    const result = auditVerify({ input: readFileSync(path, 'utf8').split('\n'), json: false });
    expect(result).toMatchObject({ ok: false, outcome: 'edited', exitCode: 7 });
    expect(result.output).toMatch(/^EDITED: .*\n {2}line \d+: edited event/);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditTrace, createAuditLog, hashSecret, traceSecret, verifyChain } from '../../../gateway/audit/index.js';
import type { PrincipalRef } from '../../../gateway/domain.js';
import { HMAC_KEY, readLines, steppingClock, tempDir } from './helpers.js';

const LEAKED = 'canary-leaked-upstream-key-7f3c9a';
const OTHER = 'canary-other-upstream-key-21be04';
const agent: PrincipalRef = { type: 'Agent', id: 'spiffe://example.org/agent/summariser', issuer: 'spire' };
const other: PrincipalRef = { type: 'Agent', id: 'spiffe://example.org/agent/other', issuer: 'spire' };
const task = { id: 't-child', chain: ['t-root', 't-child'], intent: 'summarise open tickets' };

let lines: string[];
let cleanup: () => Promise<void>;

/** The events of one leaked-key incident, plus an unrelated task, as the pipeline would record them. */
beforeAll(async () => {
  const temp = await tempDir();
  cleanup = temp.cleanup;
  const path = `${temp.dir}/audit.jsonl`;
  const log = createAuditLog({ hmacKey: HMAC_KEY, sinks: [`file:${path}`], failMode: 'closed', now: steppingClock() });
  const otherTask = { id: 't-other', chain: ['t-other'], intent: 'unrelated' };
  log.record({
    event: 'task.opened',
    principal: agent,
    task,
    decisionId: 'd-open',
    decision: 'allow',
    policies: ['open'],
  });
  log.record({ event: 'task.opened', principal: other, task: otherTask, decisionId: 'd-open-2', decision: 'allow' });
  log.record({
    event: 'lease.issued',
    principal: agent,
    task,
    target: 'tickets',
    leaseId: 'l-1',
    decisionId: 'd-issue',
    decision: 'allow',
    policies: ['tickets-read', 'business-hours'],
    secretFingerprint: log.fingerprint(LEAKED),
  });
  log.record({
    event: 'lease.issued',
    principal: other,
    task: otherTask,
    target: 'tickets',
    leaseId: 'l-2',
    secretFingerprint: log.fingerprint(OTHER),
  });
  log.record({
    event: 'request',
    principal: agent,
    task,
    target: 'tickets',
    leaseId: 'l-1',
    requestId: 'r-1',
    method: 'GET',
    path: '/tickets',
    status: 200,
    decision: 'allow',
    decisionId: 'd-issue',
  });
  log.record({
    event: 'request',
    principal: other,
    task: otherTask,
    target: 'tickets',
    leaseId: 'l-2',
    requestId: 'r-2',
    method: 'GET',
    path: '/x',
    status: 200,
  });
  log.record({
    event: 'lease.renewed',
    task,
    target: 'tickets',
    leaseId: 'l-1',
    secretFingerprint: log.fingerprint(LEAKED),
  });
  log.record({
    event: 'request',
    principal: agent,
    task,
    target: 'tickets',
    leaseId: 'l-1',
    requestId: 'r-3',
    method: 'POST',
    path: '/tickets/9/comments',
    status: 201,
    decision: 'allow',
    decisionId: 'd-3',
  });
  log.record({ event: 'lease.revoked', task, target: 'tickets', leaseId: 'l-1', reason: 'task_closed' });
  await log.close();
  lines = await readLines(path);
});
afterAll(() => cleanup());

describe('the leaked-secret drill finds who was given the secret, for which task, by which decision', () => {
  it('traces the raw secret to principal, task, intent, decision, policies, lease times and requests', () => {
    const trace = traceSecret(lines, hashSecret(LEAKED, HMAC_KEY));
    expect(trace.leases).toHaveLength(1);
    const lease = trace.leases[0];
    expect(lease).toMatchObject({
      leaseId: 'l-1',
      target: 'tickets',
      principal: agent,
      task: { id: 't-child', chain: ['t-root', 't-child'], intent: 'summarise open tickets', openedBy: agent },
      decisionId: 'd-issue',
      policies: ['tickets-read', 'business-hours'],
      issuedAt: '2025-01-01T12:00:02.000Z',
      renewedAt: ['2025-01-01T12:00:06.000Z'],
      revoked: { time: '2025-01-01T12:00:08.000Z', reason: 'task_closed' },
    });
    expect(lease?.requests.map((request) => request.requestId)).toEqual(['r-1', 'r-3']);
  });

  it('the trail it reads verifies, and never contains the secret', () => {
    expect(verifyChain(lines).ok).toBe(true);
    expect(lines.join('\n')).not.toContain(LEAKED);
  });

  it('the CLI accepts the raw secret or its fingerprint, as text or JSON', () => {
    const text = auditTrace({ input: lines, secretOrFingerprint: LEAKED, hmacKey: HMAC_KEY, json: false });
    expect(text).toContain('spiffe://example.org/agent/summariser');
    expect(text).toContain('"summarise open tickets"');
    expect(text).toContain('d-issue by tickets-read, business-hours');
    expect(text).toContain('opened     2025-01-01T12:00:00.000Z (decision d-open by open)');
    expect(text).not.toContain(LEAKED);
    const json = auditTrace({
      input: lines,
      secretOrFingerprint: hashSecret(LEAKED, HMAC_KEY),
      hmacKey: HMAC_KEY,
      json: true,
    });
    expect(JSON.parse(json).leases[0].leaseId).toBe('l-1');
  });

  it('a 64-hex secret that is not a fingerprint in the trail is hashed as a secret', () => {
    const hexSecret = 'ab'.repeat(32);
    const trail = [...lines];
    const out = auditTrace({ input: trail, secretOrFingerprint: hexSecret, hmacKey: HMAC_KEY, json: true });
    expect(JSON.parse(out)).toEqual({ fingerprint: hashSecret(hexSecret, HMAC_KEY), leases: [] });
  });

  it('an unknown secret finds nothing, and says so', () => {
    const text = auditTrace({ input: lines, secretOrFingerprint: 'never-issued', hmacKey: HMAC_KEY, json: false });
    expect(text).toMatch(/^No lease in this audit trail/);
  });

  it('finds the same lease when the trail is out of order', () => {
    const trace = traceSecret([...lines].reverse(), hashSecret(LEAKED, HMAC_KEY));
    expect(trace.leases[0]).toMatchObject({
      leaseId: 'l-1',
      decisionId: 'd-issue',
      revoked: { reason: 'task_closed' },
    });
    expect(trace.leases[0]?.requests).toHaveLength(2);
  });
});

describe('the trace follows a renewal that issues a new lease, and takes policies from the deciding request', () => {
  it('finds both leases that carried a static secret, linked by previousLeaseId', () => {
    const fp = hashSecret(LEAKED, HMAC_KEY);
    const t = { id: 't-9', chain: ['t-9'], intent: 'nightly sync' };
    const trail = [
      { event: 'task.opened', time: '2025-01-01T00:00:00.000Z', principal: agent, task: t },
      {
        event: 'request',
        time: '2025-01-01T00:00:01.000Z',
        decisionId: 'd-1',
        policies: ['sync-write'],
        leaseId: 'l-a',
      },
      {
        event: 'lease.issued',
        time: '2025-01-01T00:00:01.000Z',
        decisionId: 'd-1',
        task: { id: 't-9', chain: ['t-9'] },
        leaseId: 'l-a',
        secretFingerprint: fp,
      },
      {
        event: 'lease.renewed',
        time: '2025-01-01T00:05:00.000Z',
        decisionId: 'd-2',
        task: t,
        leaseId: 'l-b',
        previousLeaseId: 'l-a',
        secretFingerprint: fp,
      },
      {
        event: 'lease.revoked',
        time: '2025-01-01T00:05:00.000Z',
        reason: 'renewed',
        leaseId: 'l-a',
        secretFingerprint: fp,
      },
    ].map((event) => JSON.stringify(event));
    const [first, second] = traceSecret(trail, fp).leases;
    expect(first).toMatchObject({
      leaseId: 'l-a',
      principal: agent,
      policies: ['sync-write'],
      grantedBy: 'lease.issued',
    });
    expect(first).toMatchObject({ renewedAt: ['2025-01-01T00:05:00.000Z'], revoked: { reason: 'renewed' } });
    expect(first?.task?.intent).toBe('nightly sync');
    expect(first?.requests).toHaveLength(1);
    expect(second).toMatchObject({ leaseId: 'l-b', grantedBy: 'lease.renewed', renews: 'l-a', decisionId: 'd-2' });
  });
});

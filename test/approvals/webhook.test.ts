import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../gateway/log.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { type ApprovalEscrow, call, humanToken, perRequestTarget, startApprovalEscrow } from './support.js';

const SECRET = 'whsec-canary-approvals-4411aa';
const KEY = 'canary-webhook-billing-2b7d';

interface Delivery {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly url: string;
}

/** A webhook receiver on port 0 that answers each delivery with the next status of `script` (then 200). */
async function startReceiver(script: number[] = []) {
  const deliveries: Delivery[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString(), url: req.url ?? '' });
      const status = script.shift() ?? 200;
      res.writeHead(status, status === 302 ? { location: 'http://127.0.0.1:1/elsewhere' } : {}).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/escrow`;
  return { url, deliveries, script, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('people are told when an approval is requested and when it is decided', () => {
  let upstream: TestUpstream;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let escrow: ApprovalEscrow;
  const logs = new PassThrough();
  let logText = '';
  logs.on('data', (c: Buffer) => {
    logText += c.toString();
  });
  beforeAll(async () => {
    upstream = await startUpstream();
    receiver = await startReceiver();
    escrow = await startApprovalEscrow({
      store: 'memory',
      env: { BILLING_KEY: KEY, HOOK_SECRET: SECRET, HOOK_URL: receiver.url },
      targets: [perRequestTarget(upstream.url)],
      approvals: { webhook: { url: 'env:HOOK_URL', secret: 'env:HOOK_SECRET', retryBaseMs: 10, maxAttempts: 3 } },
      log: createLogger({ level: 'info', destination: logs }),
    });
  });
  afterAll(async () => {
    await escrow?.close();
    await receiver?.close();
    await upstream?.close();
  });

  const ask = async (path: string, intent = 'refund CHG-51') => {
    const agent = await escrow.token();
    const task = await escrow.openTask(agent, ['billing'], intent);
    const res = await call(`${escrow.url}/billing${path}`, agent, { method: 'DELETE', task });
    return ((await res.json()) as { approvalId: string }).approvalId;
  };
  const deliveriesOf = (id: string) => receiver.deliveries.filter((d) => d.body.includes(id));

  it('posts a signed JSON body when an approval is requested and when it is decided', async () => {
    const id = await ask('/invoices/1');
    await expect.poll(() => deliveriesOf(id).length).toBe(1);
    const alice = await humanToken(escrow.humanKeys, 'alice@example.org', ['billing-approvers']);
    await call(`${escrow.url}/_escrow/approvals/${id}`, alice, { body: { decision: 'approve' } });
    await expect.poll(() => deliveriesOf(id).length).toBe(2);
    const [requested, granted] = deliveriesOf(id);
    for (const d of [requested!, granted!]) {
      const [t, v1] = String(d.headers['x-escrow-signature']).split(',');
      const timestamp = t!.slice(2);
      expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(60);
      const expected = createHmac('sha256', SECRET).update(`${timestamp}.${d.body}`).digest('hex');
      expect(v1).toBe(`v1=${expected}`);
      expect(d.headers['content-type']).toBe('application/json');
      expect(d.headers['x-escrow-delivery']).toMatch(/^whd_/);
    }
    expect(JSON.parse(requested!.body)).toMatchObject({
      type: 'approval.requested',
      approval: { id, state: 'pending', method: 'DELETE', path: '/invoices/1', agent: { type: 'Agent' } },
    });
    expect(JSON.parse(granted!.body)).toMatchObject({
      type: 'approval.granted',
      approval: { id, state: 'approved', decision: { by: { id: 'alice@example.org' } } },
    });
    expect(requested!.headers['x-escrow-event']).toBe('approval.requested');
  });

  it('retries a failing receiver with backoff, under the same delivery id', async () => {
    receiver.script.push(503, 500);
    const id = await ask('/invoices/2');
    await expect.poll(() => deliveriesOf(id).length).toBe(3);
    const ids = new Set(deliveriesOf(id).map((d) => d.headers['x-escrow-delivery']));
    expect(ids.size).toBe(1);
  });

  it('gives up after maxAttempts, and never follows a redirect', async () => {
    receiver.script.push(500, 500, 500);
    const failing = await ask('/invoices/3');
    await expect.poll(() => deliveriesOf(failing).length).toBe(3);
    receiver.script.push(302);
    const redirected = await ask('/invoices/4');
    await expect.poll(() => deliveriesOf(redirected).length).toBe(1);
    await expect.poll(() => escrow.gw.approvals.o.webhook?.pending).toBe(0);
    const metric = await escrow.gw.metrics.registry.getSingleMetricAsString('escrow_approval_notifications_total');
    // One gave up after three attempts, one at its redirect.
    expect(metric).toMatch(/result="failed"} 2$/m);
    expect(deliveriesOf(failing)).toHaveLength(3);
    expect(deliveriesOf(redirected)).toHaveLength(1);
  });

  it('puts no secret, token or webhook URL in a body or a log line', async () => {
    await expect.poll(() => escrow.gw.approvals.o.webhook?.pending).toBe(0);
    const bodies = receiver.deliveries.map((d) => d.body).join('\n');
    expect(logText).toContain('approval webhook failed');
    for (const text of [bodies, logText]) {
      expect(text).not.toContain(KEY);
      expect(text).not.toContain(SECRET);
    }
    expect(logText).not.toContain(receiver.url);
    expect(logText).not.toContain('/hooks/escrow');
  });
});

describe('the Slack body escapes what the agent wrote', () => {
  it('turns <!channel>, links and & in the intent and path into text', async () => {
    const upstream = await startUpstream();
    const receiver = await startReceiver();
    const escrow = await startApprovalEscrow({
      store: 'memory',
      env: { BILLING_KEY: KEY, SLACK_URL: receiver.url },
      targets: [perRequestTarget(upstream.url)],
      approvals: { webhook: { url: 'env:SLACK_URL', format: 'slack' } },
    });
    try {
      const agent = await escrow.token();
      const intent = 'CHG-1 <!channel> approve <https://evil.example|this> & hurry';
      const task = await escrow.openTask(agent, ['billing'], intent);
      await call(`${escrow.url}/billing/a%3Cb`, agent, { method: 'DELETE', task });
      await expect.poll(() => receiver.deliveries.length).toBe(1);
      const body = JSON.parse(receiver.deliveries[0]!.body) as { text: string; blocks: { text: { text: string } }[] };
      const all = `${body.text}\n${body.blocks[0]!.text.text}`;
      expect(all).toContain('&lt;!channel&gt; approve &lt;https://evil.example|this&gt; &amp; hurry');
      expect(all).not.toMatch(/<!channel>|<https:/);
      expect(receiver.deliveries[0]!.headers['x-escrow-signature']).toBeUndefined();
    } finally {
      await escrow.close();
      await receiver.close();
      await upstream.close();
    }
  });
});

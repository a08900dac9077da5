import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from './support/escrow.js';

const KEY = 'canary-sse-events-7c41e09b2d';

describe('server-sent events: a secret streamed in pieces across events is masked, the framing kept', () => {
  let upstream: TestUpstream;
  let escrow: LoggedEscrow;
  let headers: Record<string, string>;

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      const key = String(req.headers['x-api-key']);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // An LLM-style plain-text token stream: the key arrives over three events, the last with its own fields.
      res.write(`data: the key is ${key.slice(0, 9)}\n\n`);
      res.write(`data: ${key.slice(9, 20)}\n\n`);
      res.end(`event: delta\nid: 3\ndata: ${key.slice(20)}, done\n\n`);
    });
    escrow = await startLoggedEscrow({ env: { KEY }, targets: [headerTarget('events', upstream.url)] });
    const token = await escrow.token();
    headers = { authorization: `Bearer ${token}`, 'x-escrow-task': await escrow.openTask(token, ['events']) };
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('masks every piece and leaves the event framing as it was', async () => {
    const text = await (await fetch(`${escrow.url}/events/stream`, { headers })).text();
    expect(text).toBe(
      `data: the key is ${'*'.repeat(9)}\n\ndata: ${'*'.repeat(11)}\n\nevent: delta\nid: 3\ndata: ${'*'.repeat(KEY.length - 20)}, done\n\n`,
    );
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { rawExchange } from '../support/raw.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';

describe('Expect: 100-continue is answered only once the request is allowed', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  beforeAll(async () => {
    upstream = await startUpstream();
    escrow = await startEscrow({
      store: 'memory',
      env: { K: 'canary-continue-9f1' },
      targets: [echoTarget(upstream.url, 'env:K', { ttl: 60, requireTask: false })],
    });
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  const head = (auth: string, task = '') =>
    `POST /echo/upload HTTP/1.1\r\nhost: x\r\nauthorization: ${auth}\r\nx-escrow-task: ${task}\r\ncontent-type: text/plain\r\ncontent-length: 5\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n`;

  it('refuses a bad identity without inviting the body', async () => {
    const res = await rawExchange(Number(new URL(escrow.url).port), head('Bearer nope'));
    expect(res.status).toBe(401);
    expect(res.raw).not.toContain('100 Continue');
    expect(upstream.requests).toHaveLength(0);
  });

  it('sends 100 Continue to an allowed request, then forwards the body without the Expect header', async () => {
    const port = Number(new URL(escrow.url).port);
    const token = await escrow.token();
    const task = await escrow.openTask(token, ['echo']);
    const res = await new Promise<string>((resolve, reject) => {
      import('node:net').then(({ connect }) => {
        const socket = connect(port, '127.0.0.1');
        let text = '';
        socket.on('data', (c: Buffer) => {
          text += c.toString('latin1');
          if (text.startsWith('HTTP/1.1 100') && !text.includes('hello')) socket.write('hello');
        });
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
        socket.write(head(`Bearer ${token}`, task));
      }, reject);
    });
    expect(res.slice(0, 200)).toMatch(/^HTTP\/1.1 100 Continue/);
    expect(res).toContain('HTTP/1.1 200');
    const seen = upstream.requests.at(-1)!;
    expect(seen.body.toString()).toBe('hello');
    expect(seen.headers.expect).toBeUndefined();
  });
});

import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';

/*
 * An agent that stops reading must hold back the upstream, not make Escrow hold the answer: otherwise a hostile
 * agent could open a few requests for large answers, never read them, and have Escrow buffer every byte. The answer
 * path hands undici's parser output straight to the scrubber (gateway/proxy/forward.ts); when the agent's response
 * is full, the upstream socket is paused until it drains.
 */
const TOTAL = 64 * 1024 * 1024;
const CHUNK = 64 * 1024;

describe('a slow agent holds back the upstream instead of making Escrow buffer the answer', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  let written = 0;
  let finished = false;
  beforeAll(async () => {
    upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(TOTAL) });
      const chunk = Buffer.alloc(CHUNK, 0x61);
      const pump = () => {
        while (written < TOTAL) {
          written += CHUNK;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end(() => {
          finished = true;
        });
      };
      pump();
    });
    escrow = await startEscrow({
      env: { K: 'slow-reader-key-0123456789' },
      targets: [echoTarget(upstream.url, 'env:K')],
    });
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('pauses the upstream while the agent does not read, and delivers every byte once it does', async () => {
    const token = await escrow.token({ sub: 'spiffe://test.example/agent/slow-reader' });
    const task = await escrow.openTask(token, ['echo'], 'read a large export slowly');
    const { port } = new URL(escrow.url);
    const socket: Socket = connect(Number(port), '127.0.0.1');
    socket.pause(); // the agent reads nothing
    socket.write(
      `GET /echo/export HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${token}\r\nx-escrow-task: ${task}\r\nconnection: close\r\n\r\n`,
    );
    // Wait until the upstream stops making progress (its socket and Escrow's are full), then a while longer.
    let last = -1;
    for (let still = 0; still < 10; ) {
      await sleep(50);
      still = written === last && written > 0 ? still + 1 : 0;
      last = written;
    }
    // Without backpressure Escrow would have taken all 64 MiB into the agent's response buffer by now.
    expect(finished).toBe(false);
    expect(written).toBeLessThan(TOTAL);

    let received = 0;
    let head = '';
    await new Promise<void>((resolve, reject) => {
      socket.on('data', (c: Buffer) => {
        if (head === '' || !head.includes('\r\n\r\n')) {
          head += c.toString('latin1');
          const split = head.indexOf('\r\n\r\n');
          if (split !== -1) received += Buffer.byteLength(head.slice(split + 4), 'latin1');
        } else {
          received += c.length;
        }
      });
      socket.on('end', resolve);
      socket.on('error', reject);
      socket.resume();
    });
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    expect(received).toBe(TOTAL);
    expect(finished).toBe(true);
  }, 60_000);
});

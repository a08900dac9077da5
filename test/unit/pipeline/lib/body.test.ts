import { createServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { finished } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { requestBody } from '../../../../gateway/pipeline/lib/body.js';

/** Run `requestBody` inside a real server on a request whose agent disconnects after sending `bytes`. */
async function abortedBody(bytes: string, buffer: boolean): Promise<unknown> {
  let settle: (outcome: unknown) => void = () => {};
  const outcome = new Promise<unknown>((resolve) => {
    settle = resolve;
  });
  const server = createServer((req: IncomingMessage) => {
    Promise.resolve()
      .then(() => requestBody(req, 1024, buffer))
      .then(async (body) => {
        if (!body.stream) return settle('no stream');
        body.stream.resume();
        await finished(body.stream);
        settle('ended');
      })
      .catch((error: unknown) => settle(error));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(bytes);
  setTimeout(() => socket.destroy(), 50);
  const timeout = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2_000));
  try {
    return await Promise.race([outcome, timeout]);
  } finally {
    server.close();
  }
}

describe('a body the agent abandons fails the forwarding instead of leaving it waiting (regression: req.pipe)', () => {
  const chunked = 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab';
  const sized = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab';

  it.each([
    ['chunked, streamed', chunked, false],
    ['Content-Length, streamed', sized, false],
    ['chunked, buffered for the adapter', chunked, true],
    ['Content-Length, buffered for the adapter', sized, true],
  ])('%s: the body errors', async (_name, bytes, buffer) => {
    const outcome = await abortedBody(bytes, buffer);
    expect(outcome).toBeInstanceOf(Error);
  });
});

import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ScrubSink } from '../../gateway/pipeline/lib/scrub-sink.js';
import { NeedleIndex } from '../../gateway/scrub/index.js';
import { StreamScrubber } from '../../gateway/scrub/stream.js';

const SECRET = 'canary-sk-5e1d9a77c3b04f21';
const index = new NeedleIndex();
index.add(SECRET);

let server: Server | undefined;
afterEach(() => server?.close());

/** Serve one response whose body is written into a ScrubSink as `chunks`; return what the client received. */
async function through(chunks: readonly Buffer[]): Promise<string> {
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    const sink = new ScrubSink(res, { scrubber: new StreamScrubber(index), flushAfterMs: 100 });
    for (const chunk of chunks) sink.write(chunk);
    sink.end();
  });
  await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return new Promise((done, fail) => {
    get({ port, host: '127.0.0.1', agent: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => done(text));
    }).on('error', fail);
  });
}

describe('ScrubSink masks a secret on its way into the response, wherever the chunks split it', () => {
  it('masks a secret split over every possible boundary and keeps the length', async () => {
    const body = `{"echo":"${SECRET}","n":1}`;
    for (let cut = 1; cut < body.length; cut += 5) {
      const text = await through([Buffer.from(body.slice(0, cut)), Buffer.from(body.slice(cut))]);
      server?.close();
      expect(text).not.toContain(SECRET);
      expect(text.length).toBe(body.length);
      expect(text).toContain('"n":1');
    }
  });

  it('passes a body without secrets through unchanged, chunk by chunk', async () => {
    const parts = ['{"items":[', '1,2,3', ']}'];
    expect(await through(parts.map((p) => Buffer.from(p)))).toBe(parts.join(''));
  });
});

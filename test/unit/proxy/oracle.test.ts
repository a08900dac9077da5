import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScrubStream as LegacyScrubStream, scrubNeedles } from '../../../bench/lib/legacy-scrub.js';
import { ScrubStream } from '../../../gateway/proxy/scrub.js';
import { NeedleIndex } from '../../../gateway/scrub/index.js';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from '../../security/support/escrow.js';
import { type Probe, runOracleAttack } from '../../security/support/oracle-attack.js';
import { httpFraming, observeHttp, wsFramings } from '../../security/support/probes.js';
import { type Reflector, startReflector } from '../../security/support/reflector.js';
import { FakeClock } from '../../support/fake-clock.js';

/**
 * A 24-byte key, as an API key of that length would be. The reflector follows a guess with `\n\ndata: !done` (SSE),
 * and the decoded view reads across line breaks: where the key's next character after a right prefix is `d`, the
 * stream does hold the whole key, and it is rightly masked (a run in 64 failed that way). Such keys are not drawn.
 */
function drawKey(): string {
  for (;;) {
    const key = randomBytes(18).toString('base64url');
    if (![1, 2, 8, 16, 23].some((k) => key[k] === 'd')) return key;
  }
}
const KEY = drawKey();
const other = (c: string) => (c === 'A' ? 'B' : 'A');

/** Guesses of every length: right prefixes, and the same with the last character wrong. */
const PAIRS = [1, 2, 8, 16, 23].map((k) => [`#${KEY.slice(0, k)}`, `#${KEY.slice(0, k - 1)}${other(KEY[k - 1]!)}`]);

describe('an agent learns nothing about a secret from the framing of what Escrow sends back (issue #14)', () => {
  let reflector: Reflector;
  let escrow: LoggedEscrow;
  let headers: Record<string, string>;

  beforeAll(async () => {
    reflector = await startReflector();
    escrow = await startLoggedEscrow({
      env: { KEY },
      targets: [
        // Deadlines far off: within one observation only the window and the end release bytes.
        headerTarget('mirror', reflector.url, { websocket: true, scrub: { flushAfterMs: 10_000 } }),
        headerTarget('mirror-timed', reflector.url, { scrub: { flushAfterMs: 40 } }),
      ],
    });
    const token = await escrow.token();
    headers = {
      authorization: `Bearer ${token}`,
      'x-escrow-task': await escrow.openTask(token, ['mirror', 'mirror-timed']),
    };
  });
  afterAll(async () => {
    await escrow?.close();
    await reflector?.close();
  });

  it.each(['chunked', 'length', 'sse'])(
    'HTTP %s: right and wrong guesses of every length are framed alike',
    async (mode) => {
      for (const [right, wrong] of PAIRS) {
        const a = await observeHttp(escrow.port, `/mirror/${mode}`, headers, right!, reflector);
        const b = await observeHttp(escrow.port, `/mirror/${mode}`, headers, wrong!, reflector);
        expect(httpFraming(a), `${mode} ${right!.length - 1} bytes`).toBe(httpFraming(b));
        // The observation is a real one: part of the answer came early, and the reflected guess is there, unmasked.
        expect(a.early).toBeGreaterThan(0);
        expect(a.raw.toString('latin1')).toContain(right);
      }
    },
  );

  it('HTTP: the whole key is masked, and framed like any wrong guess of the same length', async () => {
    const whole = await observeHttp(escrow.port, '/mirror/chunked', headers, `#${KEY}`, reflector);
    const wrong = await observeHttp(
      escrow.port,
      '/mirror/chunked',
      headers,
      `#${other(KEY[0]!)}${KEY.slice(1)}`,
      reflector,
    );
    expect(whole.raw.toString('latin1')).toContain(`#${'*'.repeat(KEY.length)}!done`);
    expect(httpFraming(whole)).toBe(httpFraming(wrong));
  });

  it('SSE: held bytes leave at their deadline, framed alike for right and wrong guesses', async () => {
    const observe = async (guess: string) => {
      const o = await observeHttp(escrow.port, '/mirror-timed/sse', headers, guess, reflector, { awaitDeadline: true });
      expect(o.chunks.length).toBe(3);
      return httpFraming(o);
    };
    for (const [right, wrong] of PAIRS) expect(await observe(right!)).toBe(await observe(wrong!));
  });

  it.each([
    ['text', false],
    ['binary', true],
  ])('WebSocket %s: frame sizes and FIN bits are the same for right and wrong guesses', async (_kind, binary) => {
    const framings = await wsFramings(escrow.port, '/mirror/echo', headers, PAIRS.flat(), binary as boolean);
    PAIRS.forEach(([right], i) => {
      expect(framings[2 * i], `${right!.length - 1} bytes`).toBe(framings[2 * i + 1]);
      expect(framings[2 * i]).toMatch(binary ? /^2:-:\d+ 0:F:\d+$/ : /^1:-:\d+ 0:F:\d+$/);
    });
  });

  it('the attack recovers 0 bytes of a 24-byte key in 20 000 WebSocket guesses', async () => {
    const probe: Probe = (guesses) => wsFramings(escrow.port, '/mirror/echo', headers, guesses, false);
    const result = await runOracleAttack(probe, KEY, 20_000);
    expect(result.guesses).toBeGreaterThanOrEqual(19_968);
    expect(result).toMatchObject({ recovered: 0, outliers: 0, differing: 0 });
  }, 60_000);

  it('the attack recovers 0 bytes in 1 280 HTTP guesses (chunked)', async () => {
    const probe: Probe = async (guesses) => {
      const out: string[] = [];
      for (const g of guesses)
        out.push(httpFraming(await observeHttp(escrow.port, '/mirror/chunked', headers, g, reflector)));
      return out;
    };
    const result = await runOracleAttack(probe, KEY, 1_280);
    expect(result).toMatchObject({ guesses: 1_280, recovered: 0, outliers: 0, differing: 0 });
  }, 60_000);
});

describe('the attack is real: it reads the key out of the scrubber Escrow had before', () => {
  const filler = 'f'.repeat(4096);
  /** What an agent saw through that scrubber: the chunk sizes of the reflected answer. */
  async function chunkSizes(stream: NodeJS.ReadWriteStream, guess: string): Promise<string> {
    const sizes: number[] = [];
    const out = Readable.from([Buffer.from(filler + guess), Buffer.from('!done')]).pipe(stream);
    // 'data' events, one per push: an async iterator would hand over whatever is buffered as one chunk.
    out.on('data', (c: Buffer) => sizes.push(c.length));
    await new Promise((resolve) => out.once('end', resolve));
    return sizes.join(',');
  }

  it('recovers the key (raw, or a base64 form of it) from the old scrubber, and nothing from the new one', async () => {
    const needles = scrubNeedles([KEY]);
    const old = await runOracleAttack(
      async (guesses) => Promise.all(guesses.map((g) => chunkSizes(new LegacyScrubStream(needles), g))),
      KEY,
      20_000,
      // As the attacker read it: the first chunk is shorter by the bytes held back, the length of the match.
      (framing) => -Number(framing.split(',')[0]),
    );
    expect(old.recovered).toBeGreaterThanOrEqual(KEY.length * 0.75);

    const index = new NeedleIndex();
    index.add(KEY);
    const clock = new FakeClock();
    const fresh = await runOracleAttack(
      async (guesses) =>
        Promise.all(guesses.map((g) => chunkSizes(new ScrubStream(index, { flushAfterMs: 100, clock }), g))),
      KEY,
      20_000,
    );
    expect(fresh).toMatchObject({ recovered: 0, outliers: 0, differing: 0 });
  });
});

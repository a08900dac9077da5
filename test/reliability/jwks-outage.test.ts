import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import {
  createIssuerKeys,
  type IssuerKeys,
  signToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
  TEST_TRUST_DOMAIN,
} from '../support/keys.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { burst, problemOf, timedFetch } from './support/load.js';
import { scrape } from './support/metrics.js';
import { waitFor } from './support/ports.js';

// Long enough that no test below ages the keys past it by accident (the stale test moves the clock past it).
const MAX_STALE_S = 10;

/**
 * A JWKS endpoint that can answer, fail with 503, hold its answer until `release()` (slow), or be switched off; it
 * counts fetches and the answers it holds (a held fetch the client gave up on is not counted).
 */
interface JwksServer {
  url: string;
  mode: 'up' | 'failing' | 'slow';
  fetches: number;
  held: number;
  release(): void;
  stop(): Promise<void>;
  start(): Promise<void>;
}

async function startJwksServer(keys: IssuerKeys): Promise<JwksServer> {
  let server: Server | undefined;
  let port = 0;
  const holding: (() => void)[] = [];
  const jwks: JwksServer = {
    url: '',
    mode: 'up',
    fetches: 0,
    get held() {
      return holding.length;
    },
    release: () => {
      for (const send of holding.splice(0)) send();
    },
    async start() {
      server = createServer((_req, res) => {
        jwks.fetches++;
        if (jwks.mode === 'failing') return void res.writeHead(503).end();
        const send = () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(keys.jwks));
        if (jwks.mode !== 'slow') return send();
        holding.push(send);
        // A fetch Escrow gave up on (its own timeout) is no longer held.
        res.once('close', () => holding.includes(send) && holding.splice(holding.indexOf(send), 1));
      });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
      jwks.url = `http://127.0.0.1:${port}/jwks.json`;
    },
    stop: () =>
      new Promise((resolve) => {
        holding.length = 0;
        server?.closeAllConnections();
        server?.close(() => resolve());
      }),
  };
  await jwks.start();
  return jwks;
}

describe('an identity provider whose JWKS endpoint fails: known keys work until max stale age, unknown keys fail closed without a fetch storm', () => {
  let keys: IssuerKeys;
  let jwks: JwksServer;
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  let lastGoodFetch = 0;
  /** Escrow's clock runs this far ahead of the wall clock: tests move it past refresh and stale ages. */
  let ahead = 0;
  /** While set, Escrow's clock stands still at this wall-clock time (plus `ahead`): no cool-down ends by itself. */
  let frozenAt: number | undefined;
  const escrowNow = () => (frozenAt ?? Date.now()) + ahead;

  beforeAll(async () => {
    keys = await createIssuerKeys();
    jwks = await startJwksServer(keys);
    upstream = await startUpstream();
    escrow = await startEscrow({
      store: 'memory',
      keys,
      now: escrowNow,
      env: { KEY: 'canary-jwks-77aa' },
      config: {
        identity: {
          issuers: [
            {
              name: 'remote',
              principal: 'Agent',
              issuer: TEST_ISSUER,
              audience: TEST_AUDIENCE,
              jwks: jwks.url,
              algorithms: ['ES256'],
              trustDomain: TEST_TRUST_DOMAIN,
              jwksRefreshSeconds: 1,
              jwksCooldownSeconds: 1,
              jwksMaxStaleSeconds: MAX_STALE_S,
            },
          ],
        },
      },
      targets: [
        {
          name: 'echo',
          upstream: upstream.url,
          attributes: { sensitivity: 'low', environment: 'dev' },
          requireTask: false,
          credential: { adapter: 'header', header: 'x-api-key', value: 'env:KEY', ttl: 300 },
        },
      ],
    });
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
    await jwks?.stop();
  });

  // A fresh token each time: a verified token is cached for one refresh interval, which would hide the keys.
  const call = async (token?: string) =>
    timedFetch(`${escrow.url}/echo/x`, { headers: { authorization: `Bearer ${token ?? (await signToken(keys))}` } });

  it('accepts tokens while the endpoint answers', async () => {
    expect((await call()).status).toBe(200);
    lastGoodFetch = escrowNow();
    expect(jwks.fetches).toBeGreaterThanOrEqual(1);
  });

  it('keeps accepting known keys while the endpoint fails (503, then switched off)', async () => {
    jwks.mode = 'failing';
    ahead += 1_100; // past the refresh interval: refreshes now fail
    const answers = await burst(20, 5, () => call());
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    await jwks.stop();
    expect((await call()).status).toBe(200);
  });

  it('refuses unknown keys without waiting for a key fetch, with one fetch per cool-down', async () => {
    await jwks.start();
    jwks.mode = 'slow'; // the endpoint holds every answer until release(): a request that waited for one would hang
    frozenAt = Date.now();
    ahead += 1_000; // one cool-down since any earlier attempt; the clock then stands still, so exactly one is due
    try {
      const rogue = await createIssuerKeys();
      const before = jwks.fetches;
      const answers = await burst(50, 10, async () => call(await signToken(rogue)));
      for (const answer of answers) {
        expect(answer.status).toBe(401);
        expect(problemOf(answer).reason).toBe('unknown_key');
      }
      expect(jwks.fetches - before).toBe(1); // 50 unknown kids, one fetch
      expect(jwks.held).toBe(1); // and every refusal above came while that fetch was still unanswered
    } finally {
      // Restarting cuts the held fetch (a failed read, so the keys still age from the last good one) and leaves the
      // endpoint failing, as the next test expects.
      await jwks.stop();
      await jwks.start();
      jwks.mode = 'failing';
      frozenAt = undefined;
    }
  });

  it('refuses known keys too once the keys are older than jwksMaxStaleSeconds (fail closed)', async () => {
    ahead += Math.max(0, MAX_STALE_S * 1000 + 200 - (escrowNow() - lastGoodFetch)); // the keys are now too old
    const answer = await call();
    expect(answer.status).toBe(401);
    expect(problemOf(answer).reason).toBe('jwks_unavailable');
    expect(
      await scrape(escrow.adminUrl, 'escrow_identity_failures_total', { reason: 'jwks_unavailable' }),
    ).toBeGreaterThan(0);
  });

  it('accepts tokens again once the endpoint answers, without a restart', async () => {
    jwks.mode = 'up';
    await waitFor(async () => (await call()).status === 200, 5_000, 200);
  });

  it('does not make requests wait on a slow endpoint while the keys are fresh enough', async () => {
    jwks.mode = 'slow';
    ahead += 1_100; // due for a refresh, whose answer the endpoint now holds
    const answers = await burst(10, 5, () => call());
    // Every request was answered while the refresh it started was still unanswered: none waited on it.
    await waitFor(() => jwks.held > 0, 5_000);
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    jwks.release();
    const events = (await escrow.auditEvents()).filter((e) => e.event === 'identity.rejected');
    expect(events.length).toBeGreaterThan(0);
    expect(JSON.stringify(events)).not.toContain('canary-jwks-77aa');
  });
});

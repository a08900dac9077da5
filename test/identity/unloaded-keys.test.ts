import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createGateway, type RunningGateway } from '../../gateway/app.js';
import { loadConfig } from '../../gateway/config/load.js';
import { createLogger } from '../../gateway/log.js';
import { createMetrics } from '../../gateway/metrics.js';
import { type Listeners, startListeners } from '../../gateway/server.js';
import { metricValue } from '../reliability/support/metrics.js';
import { REPO_POLICIES } from '../support/escrow.js';
import { createIssuerKeys, type IssuerKeys, signToken, TEST_IDENTITY } from '../support/keys.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

/**
 * A replica whose issuer's JWKS never loaded refused every token with 401 `jwks_unavailable`, said it was ready,
 * and logged nothing. Now it is not ready until the keys load, every failed read is logged and counted by
 * issuer, and the readiness probe is what retries (an unready replica gets no token that would).
 */
describe('an issuer whose keys never loaded: not ready, logged, counted, and retried by the probe', () => {
  let keys: IssuerKeys;
  let jwks: Server;
  let jwksUp = false;
  let upstream: TestUpstream;
  let gw: RunningGateway;
  let listeners: Listeners;
  let admin: string;
  let proxy: string;
  let dir: string;
  let clock = Date.now();
  const logs: string[] = [];

  beforeAll(async () => {
    keys = await createIssuerKeys();
    upstream = await startUpstream();
    jwks = createServer((_req, res) => {
      if (!jwksUp) return void res.writeHead(503).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(keys.jwks));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/keys`;
    dir = mkdtempSync(join(tmpdir(), 'escrow-unloaded-'));
    writeFileSync(join(dir, 'lease.key'), randomBytes(32).toString('base64'));
    writeFileSync(join(dir, 'audit.key'), randomBytes(32).toString('base64'));
    const issuer = { ...TEST_IDENTITY.issuers[0]!, jwks: jwksUrl, jwksCooldownSeconds: 30 };
    writeFileSync(
      join(dir, 'escrow.yaml'),
      stringify({
        proxy: { listen: '127.0.0.1:0' },
        admin: { listen: '127.0.0.1:0' },
        store: 'memory://',
        keys: { leaseEncryption: 'file:lease.key', auditHmac: 'file:audit.key' },
        identity: { issuers: [issuer] },
        policies: REPO_POLICIES,
        watchPolicies: false,
        audit: { sinks: ['none'] },
        targets: [
          {
            name: 'echo',
            upstream: upstream.url,
            attributes: { sensitivity: 'low', environment: 'dev' },
            requireTask: false,
            credential: { adapter: 'header', header: 'x-api-key', value: 'env:H16_KEY' },
          },
        ],
      }),
    );
    const sink = new Writable({
      write(chunk, _enc, done) {
        logs.push(chunk.toString());
        done();
      },
    });
    const env = { ...process.env, H16_KEY: 'k' };
    gw = await createGateway(loadConfig(join(dir, 'escrow.yaml'), env), {
      log: createLogger({ level: 'warn', destination: sink }),
      env,
      metrics: createMetrics(),
      now: () => clock,
      sweepIntervalMs: 0,
    });
    listeners = await startListeners(gw);
    admin = `http://127.0.0.1:${(listeners.admin.address() as AddressInfo).port}`;
    proxy = `http://127.0.0.1:${(listeners.proxy.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await listeners?.shutdown(1_000);
    await new Promise((resolve) => jwks.close(resolve));
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const ready = async () => {
    const res = await fetch(`${admin}/readyz`);
    return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
  };
  const failures = async () =>
    metricValue(await (await fetch(`${admin}/metrics`)).text(), 'escrow_identity_key_fetch_failures_total', {
      issuer: 'test',
    });

  it('starts, but /readyz is 503 naming the issuer, and the failed read is logged and counted', async () => {
    const { status, body } = await ready();
    expect(status).toBe(503);
    expect(body.checks.identity).toBe('test: never_loaded');
    expect(await failures()).toBe(1);
    const line = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.issuer === 'test');
    expect(line).toMatchObject({ msg: 'identity issuer keys could not be read', err: expect.stringContaining('503') });
  });

  it('refuses every token meanwhile (fail closed), and the upstream is never called', async () => {
    const res = await fetch(`${proxy}/echo/x`, { headers: { authorization: `Bearer ${await signToken(keys)}` } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'identity_rejected', reason: 'jwks_unavailable' });
    expect(upstream.requests).toHaveLength(0);
  });

  it('does not fetch again before the cooldown, however often it is probed', async () => {
    for (let i = 0; i < 5; i++) expect((await ready()).status).toBe(503);
    expect(await failures()).toBe(1);
  });

  it('turns ready once a probe after the cooldown finds the keys, and tokens are accepted', async () => {
    jwksUp = true;
    clock += 31_000;
    await ready(); // starts the read
    await expect.poll(async () => (await ready()).status).toBe(200);
    expect((await ready()).body.checks.identity).toBe('ok');
    expect(await failures()).toBe(1);
    const res = await fetch(`${proxy}/echo/x`, { headers: { authorization: `Bearer ${await signToken(keys)}` } });
    expect(res.status).toBe(200);
  });
});

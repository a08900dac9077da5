import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contractScope, runAdapterContract } from '../../../adapters/contract.js';
import { createAdapter } from '../../../adapters/registry.js';
import type { UpstreamRequest } from '../../../adapters/types.js';
import type { CredentialConfig } from '../../../gateway/config/schema.js';
import { canary, testContext } from './context.js';
import { listen, readBody, sendJson, type TestServer } from './servers.js';

const secret = canary('hmac');
const fixedNow = Date.parse('2025-01-07T10:00:00Z');
const context = testContext({ HMAC_SECRET: secret }, { now: () => fixedNow });
const options: CredentialConfig = { adapter: 'hmac', ttl: 300, keyId: 'escrow-key-1', secret: 'env:HMAC_SECRET' };

runAdapterContract('hmac', async () => ({ adapter: await createAdapter(options, context) }), {
  options,
  build: (o) => createAdapter(o as CredentialConfig, context),
  path: context.path,
  canary: secret,
});

/** The upstream's side: parse the header, check the body digest, recompute the signature from what arrived. */
function verify(req: IncomingMessage, body: Buffer, header: string): string {
  const raw = String(req.headers[header] ?? '').replace(/^HMAC /, '');
  const params = Object.fromEntries([...raw.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  if (params.keyId !== 'escrow-key-1') return 'unknown key';
  const algorithm = params.algorithm === 'hmac-sha512' ? 'sha512' : 'sha256';
  const sha = createHash('sha256').update(body).digest('base64');
  if (req.headers.digest !== undefined && req.headers.digest !== `SHA-256=${sha}`) return 'digest mismatch';
  if (req.headers['content-digest'] !== undefined && req.headers['content-digest'] !== `sha-256=:${sha}:`)
    return 'digest mismatch';
  const lines = String(params.headers)
    .split(' ')
    .map((name) =>
      name === '(request-target)'
        ? `${name}: ${req.method?.toLowerCase()} ${req.url}`
        : `${name}: ${req.headers[name]}`,
    );
  const expected = createHmac(algorithm, secret).update(lines.join('\n')).digest();
  const given = Buffer.from(String(params.signature), 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected) ? 'verified' : 'bad signature';
}

let upstream: TestServer;
const received: { headers?: IncomingMessage['headers']; rawHeaders?: string[] } = {};
beforeAll(async () => {
  upstream = await listen(async (req, res) => {
    const body = await readBody(req);
    Object.assign(received, { headers: req.headers, rawHeaders: req.rawHeaders });
    const header = String(req.headers['x-signature-header'] ?? 'authorization');
    const outcome = verify(req, body, header);
    sendJson(res, outcome === 'verified' ? 200 : 401, { outcome, signedHeaders: req.headers[header] });
  });
});
afterAll(async () => {
  await upstream?.close();
});

async function send(req: UpstreamRequest, bodyOverride?: Buffer): Promise<{ status: number; outcome: string }> {
  const body = bodyOverride ?? req.body;
  const headers = { ...req.headers, ...(body ? { 'content-length': String(body.length) } : {}) };
  const answer = await request(`${upstream.url}${req.path}`, { method: req.method as 'GET', headers, body });
  const { outcome } = (await answer.body.json()) as { outcome: string };
  return { status: answer.statusCode, outcome };
}

async function signed(req: UpstreamRequest, extra: Record<string, unknown> = {}): Promise<UpstreamRequest> {
  const adapter = await createAdapter({ ...options, ...extra }, context);
  expect(adapter.needsBody).toBe(true);
  adapter.inject(req, await adapter.issue(contractScope()));
  return req;
}

describe('hmac signs requests so that a real upstream verifies them', () => {
  it('signs a POST over request target, date and body digest', async () => {
    const req = await signed({ method: 'POST', path: '/v1/orders?dry=1', headers: {}, body: Buffer.from('{"qty":3}') });
    expect(req.headers.date).toBe('Tue, 07 Jan 2025 10:00:00 GMT');
    expect(req.headers.authorization).toMatch(
      /^HMAC keyId="escrow-key-1",algorithm="hmac-sha256",headers="\(request-target\) date digest",signature="[A-Za-z0-9+/=]+"$/,
    );
    expect(await send(req)).toEqual({ status: 200, outcome: 'verified' });
  });

  it('signs a GET with its own Date, never one the agent chose (a signature for a later date could be replayed)', async () => {
    const req = await signed({ method: 'GET', path: '/v1/orders', headers: { date: 'Wed, 08 Jan 2031 09:00:00 GMT' } });
    expect(req.headers.date).toBe('Tue, 07 Jan 2025 10:00:00 GMT');
    expect(await send(req)).toEqual({ status: 200, outcome: 'verified' });
  });

  it('returns the signature it sent, for the scrubber', async () => {
    const adapter = await createAdapter(options, context);
    const req: UpstreamRequest = { method: 'POST', path: '/', headers: {}, body: Buffer.from('x') };
    const derived = adapter.inject(req, await adapter.issue(contractScope()));
    const signature = /signature="([^"]+)"/.exec(String(req.headers.authorization))?.[1];
    expect(signature).toBeDefined();
    expect(derived).toEqual([signature]);
  });

  it('lets the upstream detect a body changed after signing', async () => {
    const req = await signed({ method: 'POST', path: '/v1/orders', headers: {}, body: Buffer.from('{"qty":3}') });
    expect(await send(req, Buffer.from('{"qty":9}'))).toEqual({ status: 401, outcome: 'digest mismatch' });
  });

  it('replaces a digest the agent supplied', async () => {
    const req = await signed({
      method: 'POST',
      path: '/',
      headers: { digest: 'SHA-256=forged' },
      body: Buffer.from('x'),
    });
    expect(req.headers.digest).toBe(`SHA-256=${createHash('sha256').update('x').digest('base64')}`);
  });

  it('supports sha512, content-digest, another header and extra signed headers (absent ones left out)', async () => {
    const req = await signed(
      {
        method: 'PUT',
        path: '/v1/orders/7',
        headers: { 'content-type': 'application/json', 'x-signature-header': 'signature' },
        body: Buffer.from('{}'),
      },
      {
        algorithm: 'sha512',
        digestHeader: 'content-digest',
        header: 'Signature',
        signedHeaders: ['Content-Type', 'x-request-id'],
      },
    );
    expect(req.headers.signature).toMatch(
      /^keyId="escrow-key-1",algorithm="hmac-sha512",headers="\(request-target\) date content-digest content-type",signature=/,
    );
    expect(await send(req)).toEqual({ status: 200, outcome: 'verified' });
  });

  it('never sends the secret itself, and lists it as a wire form for the scrubber', async () => {
    const adapter = await createAdapter(options, context);
    const credential = await adapter.issue(contractScope());
    const req: UpstreamRequest = { method: 'POST', path: '/', headers: {}, body: Buffer.from('hello') };
    adapter.inject(req, credential);
    expect(await send(req)).toEqual({ status: 200, outcome: 'verified' });
    expect(received.rawHeaders?.join('\n')).not.toContain(secret);
    expect(credential.wireForms).toEqual([secret]);
  });
});

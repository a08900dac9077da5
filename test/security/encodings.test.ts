import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RecordedRequest, startUpstream, type TestUpstream } from '../support/upstream.js';
import { ENCODERS } from './support/encoders.js';
import { headerTarget, type LoggedEscrow, startLoggedEscrow } from './support/escrow.js';

/** Canaries with the characters encoders treat differently (space, / + = & < > " ' ! ( ) ~). */
const canary = (name: string) =>
  `${name}-${randomBytes(5).toString('hex')} /+=&<x>"q'!(y)~${randomBytes(3).toString('hex')}`;
const KEY = canary('key');
const HUMAN_KEY = canary('humans-only');
const BASIC_PW = canary('basic-pw');
const HMAC_SECRET = canary('hmac');
const CLIENT_SECRET = canary('client');

/** Every credential value the upstream was sent, as a request-log or actuator-style view would show them. */
function credentialsOf(req: RecordedRequest): string[] {
  const out: string[] = [];
  const key = req.headers['x-api-key'];
  if (typeof key === 'string') out.push(key);
  const auth = String(req.headers.authorization ?? '');
  if (auth.startsWith('Bearer ')) out.push(auth.slice(7));
  if (auth.startsWith('Basic '))
    out.push(Buffer.from(auth.slice(6), 'base64').toString().split(':').slice(1).join(':'));
  const signature = /signature="([^"]+)"/.exec(auth)?.[1];
  if (signature) out.push(signature);
  return out;
}

/** Reflects this request's credential (`/form/<encoding>`) or every credential it has seen (`/log/<encoding>`). */
function startReflectingUpstream(seen: Set<string>): Promise<TestUpstream> {
  return startUpstream((req, res) => {
    const mine = credentialsOf(req);
    for (const value of mine) seen.add(value);
    const [, route, n] = /^\/(form|log)\/(\d+)/.exec(req.url) ?? [];
    const encode = Object.values(ENCODERS)[Number(n ?? 0)] ?? ENCODERS.raw!;
    const values = route === 'log' ? [...seen] : mine;
    const body = Buffer.concat(values.flatMap((v) => [Buffer.from('<<'), Buffer.from(encode(v)), Buffer.from('>>\n')]));
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
}

/** A token endpoint minting a fresh access token (with awkward characters) per client-credentials grant. */
async function startTokenServer(): Promise<{ url: string; server: Server; minted: string[] }> {
  const minted: string[] = [];
  const server = createServer((_req, res) => {
    const token = canary(`token${minted.length}`);
    minted.push(token);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: 600 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`, server, minted };
}

/**
 * The 8-character windows of `encode(value)` that depend on the value (they differ when the value is replaced by
 * another of the same length): none may reach the agent. Windows of surrounding text stay visible, rightly.
 */
function secretWindows(encode: (s: string) => string | Buffer, value: string): string[] {
  const a = Buffer.from(encode(value)).toString('latin1');
  const b = Buffer.from(encode('Q'.repeat(value.length))).toString('latin1');
  const out: string[] = [];
  for (let i = 0; i + 8 <= a.length; i++) if (a.slice(i, i + 8) !== b.slice(i, i + 8)) out.push(a.slice(i, i + 8));
  return out;
}

describe('every secret the replica holds is masked in every encoding an upstream may reflect it in', () => {
  const seen = new Set<string>([HUMAN_KEY]); // a human used the humans-only target on this upstream earlier
  let upstream: TestUpstream;
  let tokens: Awaited<ReturnType<typeof startTokenServer>>;
  let escrow: LoggedEscrow;
  let agentA: Record<string, string>;
  let signature = '';

  beforeAll(async () => {
    upstream = await startReflectingUpstream(seen);
    tokens = await startTokenServer();
    escrow = await startLoggedEscrow({
      env: { KEY, HUMAN_KEY, BASIC_PW, HMAC_SECRET, CLIENT_SECRET },
      targets: [
        headerTarget('hdr', upstream.url),
        {
          ...headerTarget('humans', upstream.url, { attributes: { sensitivity: 'high', environment: 'prod' } }),
          credential: { adapter: 'header', header: 'x-api-key', value: 'env:HUMAN_KEY' },
        },
        {
          ...headerTarget('oauth', upstream.url),
          credential: {
            adapter: 'oauth2-client-credentials',
            tokenUrl: tokens.url,
            clientId: 'escrow',
            clientSecret: 'env:CLIENT_SECRET',
          },
        },
        {
          ...headerTarget('basic', upstream.url),
          credential: { adapter: 'basic', username: 'svc', password: 'env:BASIC_PW' },
        },
        {
          ...headerTarget('hmac', upstream.url),
          credential: { adapter: 'hmac', keyId: 'k1', secret: 'env:HMAC_SECRET' },
        },
      ],
    });
    // Another principal's task and lease on the same replica: its token is live and cached here.
    const tokenB = await escrow.token({ sub: 'spiffe://test.example/agent/b' });
    const taskB = await escrow.openTask(tokenB, ['oauth']);
    await fetch(`${escrow.url}/oauth/form/raw`, {
      headers: { authorization: `Bearer ${tokenB}`, 'x-escrow-task': taskB },
    });
    const tokenA = await escrow.token();
    agentA = {
      authorization: `Bearer ${tokenA}`,
      'x-escrow-task': await escrow.openTask(tokenA, ['hdr', 'oauth', 'basic', 'hmac']),
    };
    const humans = await fetch(`${escrow.url}/humans/form/0`, { headers: agentA });
    expect(humans.status).toBe(403); // the agent may not use it; its key is scrubbed all the same
    for (const target of ['oauth', 'basic', 'hmac', 'hdr']) {
      expect((await fetch(`${escrow.url}/${target}/form/raw`, { headers: agentA })).status).toBe(200);
    }
    signature = /signature="([^"]+)"/.exec(String(upstream.requests.at(-2)?.headers.authorization))?.[1] ?? '';
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
    await new Promise((resolve) => tokens?.server.close(resolve));
  });

  const get = async (path: string) =>
    Buffer.from(await (await fetch(`${escrow.url}${path}`, { headers: agentA })).arrayBuffer());

  it('the exercise is real: two minted tokens, a signature and every static secret reached the upstream', () => {
    expect(tokens.minted).toHaveLength(2);
    expect(signature).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    for (const value of [KEY, BASIC_PW, signature, ...tokens.minted]) expect(seen.has(value)).toBe(true);
  });

  const forms = Object.keys(ENCODERS).map((name, i) => [name, i] as const);

  it.each(forms)('%s: the lease’s own key, as reflected to this request', async (name, i) => {
    const body = (await get(`/hdr/form/${i}`)).toString('latin1');
    expect(body).toContain('*');
    for (const w of secretWindows(ENCODERS[name]!, KEY)) expect(body, 'the key').not.toContain(w);
  });

  it.each(Object.keys(ENCODERS))(
    '%s: other leases’ tokens, static secrets of other targets, signatures',
    async (name) => {
      const body = (await get(`/hdr/log/${encodeURIComponent(name)}`)).toString('latin1');
      const values = { KEY, HUMAN_KEY, BASIC_PW, signature, tokenA: tokens.minted[1]!, tokenB: tokens.minted[0]! };
      for (const [what, value] of Object.entries(values)) {
        for (const w of secretWindows(ENCODERS[name]!, value)) expect(body, what).not.toContain(w);
      }
    },
  );
});

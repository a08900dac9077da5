import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anthropicViaEscrow, anthropicViaEscrowApiKeyHeader, ask } from '../../examples/agents/anthropic-messages.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import type { TestUpstream } from '../support/upstream.js';
import { exampleTarget, seenBytes } from './agent-targets.js';
import { startAnthropic } from './upstreams.js';

const ANTHROPIC_KEY = 'sk-ant-canary-9b3e71d0c4a25f86';

describe('the unmodified Anthropic SDK reaches the Messages API through Escrow with only its workload token', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  let token: string;

  beforeAll(async () => {
    upstream = await startAnthropic(ANTHROPIC_KEY);
    escrow = await startEscrow({
      env: { ANTHROPIC_API_KEY: ANTHROPIC_KEY },
      targets: [exampleTarget('anthropic', upstream.url), exampleTarget('anthropic-key', upstream.url)],
    });
    token = await escrow.token();
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('sends apiKey as Authorization: Bearer, and the upstream gets the real key in x-api-key', async () => {
    const task = await escrow.openTask(token, ['anthropic'], 'draft a reply');
    const client = anthropicViaEscrow({ url: escrow.url, token: async () => token }, task);
    expect(await ask(client, 'hello through escrow')).toBe('echo: hello through escrow');
    const seen = upstream.requests.at(-1)!;
    expect(seen.url).toBe('/v1/messages');
    expect(seen.headers['x-api-key']).toBe(ANTHROPIC_KEY);
    expect(seen.headers['anthropic-version']).toEqual(expect.any(String));
    expect(seen.headers.authorization).toBeUndefined();
    expect(seenBytes(seen)).not.toContain(token);
  });

  it('reads the token from x-api-key and injects the real key into that same header', async () => {
    const task = await escrow.openTask(token, ['anthropic-key'], 'draft a reply');
    const client = anthropicViaEscrowApiKeyHeader(token, escrow.url, task, 'anthropic-key');
    expect(await ask(client, 'same header')).toBe('echo: same header');
    const seen = upstream.requests.at(-1)!;
    const apiKeys = seen.rawHeaders.filter((_, i) => i % 2 === 0 && seen.rawHeaders[i]!.toLowerCase() === 'x-api-key');
    expect(apiKeys).toHaveLength(1);
    expect(seen.headers['x-api-key']).toBe(ANTHROPIC_KEY);
    expect(seenBytes(seen)).not.toContain(token);
  });

  it('also takes the natural apiKey (Authorization) on a target that reads x-api-key, and strips both headers', async () => {
    const task = await escrow.openTask(token, ['anthropic-key'], 'draft a reply');
    const client = anthropicViaEscrow({ url: escrow.url, token: async () => token }, task, 'anthropic-key');
    expect(await ask(client, 'either header')).toBe('echo: either header');
    const seen = upstream.requests.at(-1)!;
    expect(seen.headers['x-api-key']).toBe(ANTHROPIC_KEY);
    expect(seen.headers.authorization).toBeUndefined();
    expect(seenBytes(seen)).not.toContain(token);
  });

  it('refuses a token in both x-api-key and Authorization before the upstream is called, and says why', async () => {
    const task = await escrow.openTask(token, ['anthropic-key'], 'draft a reply');
    const other = await escrow.token({ sub: 'spiffe://test.example/agent/other' });
    const client = new Anthropic({
      baseURL: `${escrow.url}/anthropic-key`,
      apiKey: token, // Authorization: Bearer <token>
      defaultHeaders: { 'x-api-key': other, 'x-escrow-task': task },
      maxRetries: 0,
    });
    const before = upstream.requests.length;
    const error = await ask(client, 'x').catch((e: unknown) => e);
    // This SDK builds its message from the body's `message`: Escrow's code, reason and detail.
    expect(error).toMatchObject({
      status: 401,
      message: '401 identity_rejected (duplicate_header): the workload identity token was presented more than once',
      error: { code: 'identity_rejected', reason: 'duplicate_header' },
    });
    expect(upstream.requests.length).toBe(before);
  });

  it('keeps the key and the token out of the audit trail', async () => {
    const text = JSON.stringify(await escrow.auditEvents());
    expect(text).toContain('lease.issued');
    expect(text).not.toContain(ANTHROPIC_KEY);
    expect(text).not.toContain(token);
  });
});

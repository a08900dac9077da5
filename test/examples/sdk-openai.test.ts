import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EscrowAgent } from '../../examples/agents/escrow-client.js';
import { ask, openAiViaEscrow } from '../../examples/agents/openai-chat.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import type { TestUpstream } from '../support/upstream.js';
import { exampleTarget, seenBytes } from './agent-targets.js';
import { startOpenAi } from './upstreams.js';

const OPENAI_KEY = 'sk-canary-openai-4f1d9a7c2e8b6035';

describe('the unmodified openai SDK reaches the API through Escrow with only its workload token', () => {
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  let agent: EscrowAgent;
  let token: string;

  beforeAll(async () => {
    upstream = await startOpenAi(OPENAI_KEY);
    escrow = await startEscrow({
      env: { OPENAI_API_KEY: OPENAI_KEY },
      targets: [exampleTarget('openai', upstream.url)],
    });
    token = await escrow.token();
    agent = { url: escrow.url, token: async () => token };
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('gets the completion while the upstream sees the real key and never the workload token', async () => {
    const task = await escrow.openTask(token, ['openai'], 'summarise a ticket');
    const answer = await ask(openAiViaEscrow(agent, task), 'hello through escrow');
    expect(answer).toBe('echo: hello through escrow');
    const seen = upstream.requests.at(-1)!;
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/v1/chat/completions');
    expect(seen.headers.authorization).toBe(`Bearer ${OPENAI_KEY}`);
    expect(seenBytes(seen)).not.toContain(token);
    expect(seen.headers['x-escrow-task']).toBeUndefined();
  });

  it("turns an Escrow refusal into the SDK's typed error without calling the upstream", async () => {
    const closed = openAiViaEscrow(agent, 'tsk_AAAAAAAAAAAAAAAAAAAAAA').withOptions({ maxRetries: 0 });
    const before = upstream.requests.length;
    const error = await ask(closed, 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
    const refused = error as InstanceType<typeof OpenAI.PermissionDeniedError>;
    expect(refused.status).toBe(403);
    // The SDK builds its message from `error.message`: Escrow's code and detail, not "(no body)".
    expect(refused.message).toBe('403 task_closed: the task is unknown, closed or expired');
    expect(refused.code).toBe('task_closed');
    expect(refused.headers?.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(refused.headers?.get('x-request-id')).toMatch(/^req_/);
    expect(upstream.requests.length).toBe(before);
  });

  it('keeps the key and the token out of the audit trail', async () => {
    const text = JSON.stringify(await escrow.auditEvents());
    expect(text).toContain('lease.issued');
    expect(text).not.toContain(OPENAI_KEY);
    expect(text).not.toContain(token);
  });
});

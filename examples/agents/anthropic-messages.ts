import Anthropic from '@anthropic-ai/sdk';
import { agentFromEnv, closeTask, type EscrowAgent, isMain, openTask } from './escrow-client.js';

/**
 * The official `@anthropic-ai/sdk`, unmodified, talking to the `anthropic` target through Escrow. The real
 * API wants the key in `x-api-key` (plus `anthropic-version`, which the SDK sends and Escrow forwards).
 *
 * `@anthropic-ai/sdk` 1.x sends `apiKey` as `Authorization: Bearer …` — Escrow's default identity header —
 * so the target needs nothing special; the adapter injects the real key into `x-api-key`:
 *
 *   - name: anthropic
 *     upstream: https://api.anthropic.com
 *     credential: { adapter: header, header: x-api-key, value: env:ANTHROPIC_API_KEY }
 */
export function anthropicViaEscrow(agent: EscrowAgent, taskId: string, target = 'anthropic'): Anthropic {
  return new Anthropic({
    baseURL: `${agent.url}/${target}`,
    apiKey: agent.token, // a function: asked for the current token on every request
    defaultHeaders: { 'x-escrow-task': taskId },
  });
}

/**
 * Clients that send the key in `x-api-key` (Anthropic's own curl examples, SDKs before 1.x, many
 * frameworks): the workload token goes in `x-api-key`, which the target accepts beside `Authorization` with
 * `identityHeader: x-api-key`. Escrow reads the token, strips both headers, then injects the real key into
 * `x-api-key`. A token in both headers is refused (401 `duplicate_header`).
 *
 *   - name: anthropic-key
 *     upstream: https://api.anthropic.com
 *     identityHeader: x-api-key
 *     credential: { adapter: header, header: x-api-key, value: env:ANTHROPIC_API_KEY }
 */
export function anthropicViaEscrowApiKeyHeader(token: string, escrowUrl: string, taskId: string, target: string) {
  return new Anthropic({
    baseURL: `${escrowUrl}/${target}`,
    apiKey: null,
    authToken: null,
    defaultHeaders: { 'x-api-key': token, 'x-escrow-task': taskId },
  });
}

/** One message; returns the text of the answer. */
export async function ask(client: Anthropic, question: string, model = 'claude-sonnet-4-6'): Promise<string> {
  const message = await client.messages.create({
    model,
    max_tokens: 256,
    messages: [{ role: 'user', content: question }],
  });
  return message.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
}

// npx tsx examples/agents/anthropic-messages.ts "question"   (ESCROW_URL, ESCROW_TOKEN; see docs/agents.md)
if (isMain(import.meta.url)) {
  const agent = agentFromEnv();
  const task = await openTask(agent, { intent: 'answer one question', targets: ['anthropic'], ttlSeconds: 300 });
  try {
    console.log(await ask(anthropicViaEscrow(agent, task.id), process.argv[2] ?? 'Say hello.'));
  } finally {
    await closeTask(agent, task.id);
  }
}

import OpenAI from 'openai';
import { agentFromEnv, closeTask, type EscrowAgent, isMain, openTask } from './escrow-client.js';

/**
 * The official `openai` SDK, unmodified, talking to the `openai` target through Escrow. The SDK sends its
 * `apiKey` as `Authorization: Bearer …`, which is Escrow's default identity header: the workload token goes
 * there. The target's `header` adapter puts the real key back into `Authorization` on the way out.
 *
 *   targets:
 *     - name: openai
 *       upstream: https://api.openai.com
 *       credential: { adapter: header, header: authorization, template: "Bearer {secret}", value: env:OPENAI_API_KEY }
 */
export function openAiViaEscrow(agent: EscrowAgent, taskId: string, target = 'openai'): OpenAI {
  return new OpenAI({
    baseURL: `${agent.url}/${target}/v1`,
    apiKey: agent.token, // a function: the SDK asks for the current token on every request (SVIDs rotate)
    defaultHeaders: { 'x-escrow-task': taskId },
  });
}

/** One chat completion; returns the assistant's text. */
export async function ask(client: OpenAI, question: string, model = 'gpt-4o-mini'): Promise<string> {
  const completion = await client.chat.completions.create({ model, messages: [{ role: 'user', content: question }] });
  return completion.choices[0]?.message.content ?? '';
}

// npx tsx examples/agents/openai-chat.ts "question"   (ESCROW_URL, ESCROW_TOKEN; see docs/agents.md)
if (isMain(import.meta.url)) {
  const agent = agentFromEnv();
  const task = await openTask(agent, { intent: 'answer one question', targets: ['openai'], ttlSeconds: 300 });
  try {
    console.log(await ask(openAiViaEscrow(agent, task.id), process.argv[2] ?? 'Say hello.'));
  } finally {
    await closeTask(agent, task.id);
  }
}

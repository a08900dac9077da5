import type { TestEscrow } from '../support/escrow.js';

/** A raw MCP POST through Escrow (what a hand-written or hostile client sends), with the agent's identity and task. */
export interface RawAgent {
  post(body: string | object, headers?: Record<string, string>): Promise<Response>;
  /** POST and parse the JSON answer. */
  json(body: string | object, headers?: Record<string, string>): Promise<{ status: number; body: unknown }>;
  readonly sessionId: string;
}

export const INIT = {
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

/** Initialize a session by hand (JSON answers) and return a raw client bound to it. */
export async function rawAgent(escrow: TestEscrow, token: string, task: string): Promise<RawAgent> {
  const base = {
    authorization: `Bearer ${token}`,
    'x-escrow-task': task,
    accept: 'application/json, text/event-stream',
  };
  const send = (body: string | object, headers: Record<string, string>, session?: string) =>
    fetch(`${escrow.url}/docs`, {
      method: 'POST',
      headers: {
        ...base,
        'content-type': 'application/json',
        ...(session ? { 'mcp-session-id': session } : {}),
        ...headers,
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const init = await send(INIT, {});
  if (init.status !== 200) throw new Error(`initialize: ${init.status} ${await init.text()}`);
  await init.text();
  const sessionId = init.headers.get('mcp-session-id')!;
  const initialized = await send({ jsonrpc: '2.0', method: 'notifications/initialized' }, {}, sessionId);
  await initialized.text();
  const post = (body: string | object, headers: Record<string, string> = {}) =>
    send(body, { 'mcp-protocol-version': '2025-11-25', ...headers }, sessionId);
  return {
    sessionId,
    post,
    async json(body, headers) {
      const res = await post(body, headers);
      const text = await res.text();
      return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
    },
  };
}

import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/**
 * The few lines an agent needs to talk to Escrow's own API (`/_escrow/tasks`). Everything else an agent does
 * goes through its usual SDK, pointed at `<escrow>/<target>` with the workload token as its API key.
 */

/** Where Escrow is and how to get the current workload token (re-read per call: SVIDs rotate). */
export interface EscrowAgent {
  readonly url: string;
  readonly token: () => Promise<string>;
}

/** `POST /_escrow/tasks` answer. */
export interface TaskRef {
  readonly id: string;
  readonly expiresAt: string;
  readonly targets: readonly string[];
  readonly parent: string | null;
}

export interface OpenTaskRequest {
  readonly intent: string;
  readonly targets: readonly string[];
  readonly ttlSeconds?: number;
  /** Open a step of this task: targets ⊆ the parent's, expiry ≤ the parent's. */
  readonly parent?: string;
}

/** An `application/problem+json` answer from Escrow, with its stable `code` (and `reason`, `decisionId`). */
export class EscrowProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly decisionId?: string,
  ) {
    super(`escrow ${status} ${code}: ${detail}`);
    this.name = 'EscrowProblem';
  }
}

async function call(agent: EscrowAgent, method: string, path: string, body?: unknown): Promise<Response> {
  const res = await fetch(`${agent.url}/_escrow/tasks${path}`, {
    method,
    headers: {
      authorization: `Bearer ${await agent.token()}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (res.ok) return res;
  const problem = (await res.json().catch(() => ({}))) as { code?: string; detail?: string; decisionId?: string };
  throw new EscrowProblem(res.status, problem.code ?? 'unknown', problem.detail ?? res.statusText, problem.decisionId);
}

/** Declare what the agent is about to do, and on which targets. */
export async function openTask(agent: EscrowAgent, request: OpenTaskRequest): Promise<TaskRef> {
  return (await (await call(agent, 'POST', '', request)).json()) as TaskRef;
}

/** The task and its leases (never secret values). */
export async function showTask(agent: EscrowAgent, id: string): Promise<Record<string, unknown>> {
  return (await (await call(agent, 'GET', `/${id}`)).json()) as Record<string, unknown>;
}

/** Close a task: its leases and its steps' leases are revoked now, on every replica. */
export async function closeTask(agent: EscrowAgent, id: string): Promise<void> {
  await call(agent, 'DELETE', `/${id}`);
}

/**
 * The agent from the environment: `ESCROW_URL` (default `http://127.0.0.1:8080`) and either `ESCROW_TOKEN`
 * or `ESCROW_TOKEN_FILE` (a JWT-SVID file that SPIRE's helper keeps fresh; read again on every call).
 */
export function agentFromEnv(env: NodeJS.ProcessEnv = process.env): EscrowAgent {
  const url = (env.ESCROW_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const file = env.ESCROW_TOKEN_FILE;
  const fixed = env.ESCROW_TOKEN;
  if (!file && !fixed) throw new Error('set ESCROW_TOKEN (e.g. $(npx escrow token dev)) or ESCROW_TOKEN_FILE');
  return { url, token: async () => (file ? readFileSync(file, 'utf8').trim() : (fixed as string)) };
}

/** True when this module is the script being run (`npx tsx examples/agents/x.ts`), not imported. */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && moduleUrl === pathToFileURL(process.argv[1]).href;
}

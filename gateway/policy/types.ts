import type { Action, Decision, Principal } from '../domain.js';

/** Target attributes as Cedar sees them (from config only). */
export interface TargetFacts {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
}

export interface TaskFacts {
  readonly id: string;
  readonly intent: string;
  readonly ageSeconds: number;
  readonly depth: number;
  readonly targets: readonly string[];
}

/**
 * One JSON-RPC call to an MCP target, as policy sees it (`context.mcp`). `arguments` is the raw JSON object; the engine
 * sends Cedar only the members the schema declares, typed (gateway/policy/arguments.ts).
 */
export interface McpFacts {
  readonly method: string;
  readonly kind: 'request' | 'notification' | 'response' | 'stream' | 'close';
  readonly protocolVersion: string;
  /** tools/call: the tool; prompts/get: the prompt; resources/*: the URI (or URI template). */
  readonly name?: string;
  readonly arguments?: Readonly<Record<string, unknown>>;
}

/** What a person is asked to approve (`context.approval`, action `approve` only; gateway/approvals/). */
export interface ApprovalFacts {
  readonly id: string;
  /** `task` (opening a task) or `request` (one request). */
  readonly kind: 'task' | 'request';
  /** The action that waits: `openTask`, `read`, `write`, `delete` or `connect`. */
  readonly action: string;
  readonly requester: {
    readonly type: string;
    readonly id: string;
    readonly issuer: string;
    readonly trustDomain?: string;
  };
}

/** One authorization question. The engine turns it into Cedar entities and context. */
export interface AuthorizationRequest {
  readonly principal: Principal;
  readonly action: Action;
  readonly target: TargetFacts;
  readonly request: { readonly method: string; readonly path: string; readonly queryKeys: readonly string[] };
  readonly task?: TaskFacts;
  readonly clientIp: string;
  /** A database connection (`protocol: postgres`): the database asked for. */
  readonly database?: { readonly name: string };
  /** Set for the actions of MCP targets (`callTool`, `useSession`, …). */
  readonly mcp?: McpFacts;
  /** For `approve` only: what the person decides on (the `request` and `task` above are the agent's). */
  readonly approval?: ApprovalFacts;
  /** Epoch milliseconds. */
  readonly now: number;
}

export interface PolicyEngine {
  /** Decide. Never throws for a policy problem: any evaluation error is a deny. */
  authorize(request: AuthorizationRequest): Decision;
  /** SHA-256 of the loaded policy set (shown on /readyz). */
  readonly policySetHash: string;
}

/** The words of the design, as types: Principal, Task, Target, Action, Decision, Lease. */

export type PrincipalType = 'Agent' | 'Human';
export type AuthMethod = 'jwt' | 'mtls';

export type ClaimValue = string | number | boolean | readonly string[];

/** A verified workload (or human) identity. Which type it is comes from config, never from the token. */
export interface Principal {
  readonly type: PrincipalType;
  /** The subject: a SPIFFE ID, or the token's `sub`. */
  readonly id: string;
  /** Name of the issuer config entry (or `mtls`) that vouched for it. */
  readonly issuer: string;
  readonly authMethod: AuthMethod;
  readonly trustDomain?: string;
  /** Selected claims, exposed to Cedar as entity tags. Never the token itself. */
  readonly claims: Readonly<Record<string, ClaimValue>>;
  /** Token `iat` (epoch seconds), when known. */
  readonly issuedAt?: number;
  /** Token or certificate expiry (epoch seconds). */
  readonly expiresAt?: number;
}

/** A principal reference small enough to store with a task. */
export interface PrincipalRef {
  readonly type: PrincipalType;
  readonly id: string;
  readonly issuer: string;
}

export function principalRef(p: PrincipalRef): PrincipalRef {
  return { type: p.type, id: p.id, issuer: p.issuer };
}

/** Two principals are the same only when type, issuer and subject all match. */
export function samePrincipal(a: PrincipalRef, b: PrincipalRef): boolean {
  return a.type === b.type && a.id === b.id && a.issuer === b.issuer;
}

/** The Cedar actions of MCP targets (docs/mcp.md): one per kind of JSON-RPC call, `useSession` for the plumbing. */
export const MCP_ACTIONS = [
  'useSession',
  'callTool',
  'listTools',
  'readResource',
  'listResources',
  'getPrompt',
  'listPrompts',
] as const;
export type McpAction = (typeof MCP_ACTIONS)[number];

/** Every Cedar action. `approve` is a person's: deciding an approval request (gateway/approvals/). */
export const ACTIONS = ['read', 'write', 'delete', 'openTask', 'connect', 'approve', ...MCP_ACTIONS] as const;
export type Action = (typeof ACTIONS)[number];

/** The Cedar action for an HTTP method; undefined for methods Escrow never proxies. */
export function actionForMethod(method: string): Action | undefined {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
      return 'read';
    case 'POST':
    case 'PUT':
    case 'PATCH':
      return 'write';
    case 'DELETE':
      return 'delete';
    default:
      return undefined;
  }
}

export interface Task {
  readonly id: string;
  readonly principal: PrincipalRef;
  readonly intent: string;
  readonly targets: readonly string[];
  readonly parent?: string;
  /** Ids from the root down to the parent (empty for a root task). */
  readonly ancestors: readonly string[];
  readonly depth: number;
  /** Epoch milliseconds. */
  readonly openedAt: number;
  readonly expiresAt: number;
  /** The approval request this task waits for (gateway/approvals/): no lease until a person approves it. */
  readonly approval?: string;
}

/** A task as the audit trail names it: its id and its chain of task ids, from the root down to itself. */
export interface TaskRef {
  readonly id: string;
  readonly chain: readonly string[];
}

/** The one place a task's chain is spelled: its ancestors, then itself (a child's ancestors are its parent's chain). */
export function taskRef(task: Pick<Task, 'id' | 'ancestors'>): TaskRef {
  return { id: task.id, chain: [...task.ancestors, task.id] };
}

export type DecisionEffect = 'allow' | 'deny';

export interface Decision {
  readonly id: string;
  readonly decision: DecisionEffect;
  /** Ids of the determining policies. */
  readonly policies: readonly string[];
  /** Evaluation errors (any error denies). Policy ids and messages, never request secrets. */
  readonly errors: readonly string[];
  /** Set on an allow that a person must approve first ("allow, pending approval"). */
  readonly approval?: ApprovalNeed;
}

/**
 * What an allow needs before it takes effect: a person's approval, asked for by `policies` (their
 * `@approval("required")`). `uses` and `windowSeconds` bound a per-request grant (the smallest of the policies').
 */
export interface ApprovalNeed {
  readonly policies: readonly string[];
  readonly uses: number;
  /** Absent: the configured default (`approvals.grantWindowSeconds`). */
  readonly windowSeconds?: number;
}

/**
 * A stage's result, now or later. A stage that has its answer at once returns it rather than a resolved promise: the
 * pipeline then does not await it (each await is a promise, a reaction and a turn of the microtask queue, on every
 * request), and awaits only what is still pending.
 */
export type Soon<T> = T | Promise<T>;

/** `T` with its members writable: an object built member by member on a hot path (no conditional spreads). */
export type Building<T> = { -readonly [K in keyof T]: T[K] };

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

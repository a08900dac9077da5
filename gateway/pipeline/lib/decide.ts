import { performance } from 'node:perf_hooks';
import type { Action, Building, Decision, Principal, Task } from '../../domain.js';
import { EscrowError } from '../../errors.js';
import type { Gateway } from '../../gateway.js';
import type { ApprovalFacts, AuthorizationRequest, McpFacts, TargetFacts, TaskFacts } from '../../policy/types.js';

export interface AuthorizeInput {
  readonly principal: Principal;
  readonly action: Action;
  readonly target: TargetFacts;
  readonly method: string;
  readonly path: string;
  readonly queryKeys: readonly string[];
  readonly task?: TaskFactSource;
  readonly clientIp: string;
  /** For `approve`: what the person decides on (Cedar `context.approval`). */
  readonly approval?: ApprovalFacts;
  /** The database a `protocol: postgres` connection asks for (Cedar `context.database`). */
  readonly database?: string;
  /** One JSON-RPC call of an MCP target (gateway/mcp/). */
  readonly mcp?: McpFacts;
}

/** What Cedar's task facts are read from: a task, or the copy of one an approval holds. */
type TaskFactSource = Pick<Task, 'id' | 'intent' | 'openedAt' | 'depth' | 'targets'>;

export function taskFacts(task: TaskFactSource, now: number): TaskFacts {
  return {
    id: task.id,
    intent: task.intent,
    ageSeconds: Math.max(0, Math.floor((now - task.openedAt) / 1000)),
    depth: task.depth,
    targets: task.targets,
  };
}

/** One Cedar decision (stage 4 of every protocol). The engine denies on any evaluation error. */
export function authorize(gw: Gateway, input: AuthorizeInput): Decision {
  const now = gw.now();
  const started = performance.now();
  // Members set one by one, no conditional spreads: this runs for every request.
  const request: Building<AuthorizationRequest> = {
    principal: input.principal,
    action: input.action,
    target: input.target,
    request: { method: input.method, path: input.path, queryKeys: input.queryKeys },
    clientIp: input.clientIp,
    now,
  };
  if (input.task) request.task = taskFacts(input.task, now);
  if (input.database !== undefined) request.database = { name: input.database };
  if (input.mcp) request.mcp = input.mcp;
  if (input.approval) request.approval = input.approval;
  const decision = gw.policy.authorize(request);
  gw.metrics.policyEvaluation.observe((performance.now() - started) / 1000);
  return decision;
}

export function requireAllow(decision: Decision): void {
  if (decision.decision !== 'allow') {
    throw new EscrowError('policy_denied', 'the policy does not allow this request', { decisionId: decision.id });
  }
}

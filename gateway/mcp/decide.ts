import { type Decision, type McpAction, type Principal, principalRef, type Task, taskRef } from '../domain.js';
import type { Gateway } from '../gateway.js';
import { authorize } from '../pipeline/lib/decide.js';
import type { McpFacts } from '../policy/types.js';
import type { TargetRuntime } from '../targets.js';
import type { McpTargetConfig } from './config.js';
import type { ItemCheck } from './filter.js';
import type { RpcId } from './jsonrpc.js';

/** Who is asking, as stages 2–3 established it, and where: what every decision of one MCP request shares. */
export interface Asker {
  readonly gw: Gateway;
  readonly target: TargetRuntime;
  readonly config: McpTargetConfig;
  readonly principal: Principal;
  readonly task?: Task;
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly clientIp: string;
}

/** One Cedar decision about one MCP call. Any evaluation problem denies (the engine's rule). */
export function decide(asker: Asker, action: McpAction, facts: McpFacts): Decision {
  return refuseWaiting(
    authorize(asker.gw, {
      principal: asker.principal,
      action,
      target: asker.target.facts,
      method: asker.method,
      path: asker.path,
      queryKeys: [],
      ...(asker.task ? { task: asker.task } : {}),
      clientIp: asker.clientIp,
      mcp: facts,
    }),
  );
}

/** The error a call carries when policy wants a person to approve it: MCP calls cannot wait for one. */
export const APPROVAL_UNSUPPORTED =
  'approval: an MCP call cannot wait for a person; a call that needs approval is refused';

/**
 * An allow that waits for a person ("allow, pending approval") is a deny here: a JSON-RPC call cannot be held for a
 * person and retried as the same request, and one approved POST to the endpoint must not unlock every tool. Failing
 * closed keeps `@approval` forbids forbidding; policies that ask for approval on MCP actions refuse those calls.
 */
function refuseWaiting(decision: Decision): Decision {
  if (decision.approval === undefined) return decision;
  const { id, policies, errors } = decision;
  return { id, decision: 'deny', policies, errors: [...errors, APPROVAL_UNSUPPORTED] };
}

const ITEM_ACTION = {
  tools: ['callTool', 'tools/call'],
  prompts: ['getPrompt', 'prompts/get'],
  resources: ['readResource', 'resources/read'],
  resourceTemplates: ['readResource', 'resources/read'],
} as const;

/**
 * May this principal use this list item now: the Cedar question its call would ask (tool, prompt or URI), with no
 * arguments (a list has none). Nothing is allowed before the request's asker is known.
 */
export function itemCheck(asker: () => Asker | undefined, protocolVersion: string): ItemCheck {
  return (kind, name) => {
    const who = asker();
    if (who === undefined) return false;
    const [action, method] = ITEM_ACTION[kind];
    return decide(who, action, { method, kind: 'request', protocolVersion, name, arguments: {} }).decision === 'allow';
  };
}

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text);

/** The `tool` label: a tool named in `mcp.toolLabels`, `other` for any other tool, empty for other methods. */
function toolLabel(config: McpTargetConfig, action: McpAction, name: string | undefined): string {
  if (action !== 'callTool') return '';
  return name !== undefined && config.toolLabels.includes(name) ? name : 'other';
}

/**
 * The `mcp.call` audit event and the call counter for one decided call. Argument names are always recorded, their
 * values only with `mcp.auditArguments` (they are the agent's data and may be sensitive); the audit log still refuses
 * anything shaped like a token.
 */
export function recordCall(
  asker: Asker,
  call: { readonly action: McpAction; readonly facts: McpFacts; readonly id?: RpcId },
  decision: Decision,
): void {
  const { gw, target, config, task } = asker;
  const { facts } = call;
  const names = facts.arguments === undefined ? undefined : Object.keys(facts.arguments).slice(0, 64);
  gw.mcp.metrics.call(target.config.name, facts.method, toolLabel(config, call.action, facts.name), decision.decision);
  gw.audit.record({
    event: 'mcp.call',
    requestId: asker.requestId,
    decisionId: decision.id,
    decision: decision.decision,
    policies: decision.policies,
    principal: principalRef(asker.principal),
    ...(task ? { task: taskRef(task) } : {}),
    target: target.config.name,
    action: call.action,
    mcp: {
      method: facts.method,
      kind: facts.kind,
      protocolVersion: facts.protocolVersion,
      ...(call.id === undefined ? {} : { id: clip(String(call.id), 64) }),
      ...(facts.name === undefined ? {} : { name: clip(facts.name, 512) }),
      ...(names === undefined ? {} : { argumentNames: names.map((n) => clip(n, 128)) }),
      ...(config.auditArguments && facts.arguments !== undefined ? { arguments: facts.arguments } : {}),
    },
    ...(decision.errors.length > 0 ? { errors: decision.errors } : {}),
  });
}

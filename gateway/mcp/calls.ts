import type { McpAction } from '../domain.js';
import { isObject } from '../json.js';
import type { McpFacts } from '../policy/types.js';
import type { RpcMessage } from './jsonrpc.js';

/** Which list a listing method's answer carries (the member of its `result` that Escrow filters). */
export type ListKind = 'tools' | 'resources' | 'resourceTemplates' | 'prompts';

/** One JSON-RPC message as a question for Cedar: the action, what policy sees, and the list its answer carries. */
export interface McpCall {
  readonly message: RpcMessage;
  readonly action: McpAction;
  readonly facts: McpFacts;
  readonly list?: ListKind;
}

/** A message Escrow will not forward: an unknown method (it cannot be authorized) or params it cannot read. */
export interface RefusedCall {
  readonly message: RpcMessage;
  readonly refused: 'unknown_method' | 'invalid_params';
  readonly detail: string;
}

/** The protocol's plumbing, across revisions 2025-03-26 … 2026-07-28: authorized as `useSession`. */
const SESSION_METHODS = new Set([
  'initialize',
  'ping',
  'logging/setLevel',
  'server/discover',
  'subscriptions/listen',
  'tasks/get',
  'tasks/result',
  'tasks/list',
  'tasks/cancel',
  'tasks/update',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
  'notifications/tasks/status',
]);

const LISTS: Record<string, { action: McpAction; list: ListKind }> = {
  'tools/list': { action: 'listTools', list: 'tools' },
  'resources/list': { action: 'listResources', list: 'resources' },
  'resources/templates/list': { action: 'listResources', list: 'resourceTemplates' },
  'prompts/list': { action: 'listPrompts', list: 'prompts' },
};

/** Methods that name what they touch: the action and where the name and arguments are in `params`. */
const NAMED: Record<string, { action: McpAction; name: 'name' | 'uri'; args: boolean }> = {
  'tools/call': { action: 'callTool', name: 'name', args: true },
  'prompts/get': { action: 'getPrompt', name: 'name', args: true },
  'resources/read': { action: 'readResource', name: 'uri', args: false },
  'resources/subscribe': { action: 'readResource', name: 'uri', args: false },
  'resources/unsubscribe': { action: 'readResource', name: 'uri', args: false },
};

/** Every method Escrow knows how to authorize: the bounded set of the `method` metric label (metrics.ts). */
export const KNOWN_METHODS: ReadonlySet<string> = new Set([
  ...SESSION_METHODS,
  ...Object.keys(LISTS),
  ...Object.keys(NAMED),
  'completion/complete',
]);

function refuse(message: RpcMessage, refused: RefusedCall['refused'], detail: string): RefusedCall {
  return { message, refused, detail };
}

function facts(message: RpcMessage, protocolVersion: string, extra: Partial<McpFacts> = {}): McpFacts {
  return { method: message.method, kind: message.kind, protocolVersion, ...extra };
}

/** `completion/complete` completes a prompt's or a resource template's argument: asked as getPrompt or readResource. */
function completion(message: RpcMessage, version: string): McpCall | RefusedCall {
  const ref = message.params.ref;
  if (isObject(ref) && ref.type === 'ref/prompt' && typeof ref.name === 'string') {
    return { message, action: 'getPrompt', facts: facts(message, version, { name: ref.name, arguments: {} }) };
  }
  if (isObject(ref) && ref.type === 'ref/resource' && typeof ref.uri === 'string') {
    return { message, action: 'readResource', facts: facts(message, version, { name: ref.uri }) };
  }
  return refuse(message, 'invalid_params', 'ref must name a prompt or a resource');
}

/** A table entry for a method name the agent sent: own keys only (`constructor` must not find Object's). */
function own<V>(table: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/**
 * The Cedar question for one message. A method is authorized by what it does whatever its kind (a `tools/call` sent
 * as a notification is still a tool call); responses (answers to the server's requests) are plumbing.
 */
export function classify(message: RpcMessage, protocolVersion: string): McpCall | RefusedCall {
  if (message.kind === 'response' || SESSION_METHODS.has(message.method)) {
    return { message, action: 'useSession', facts: facts(message, protocolVersion) };
  }
  const list = own(LISTS, message.method);
  if (list !== undefined) return { message, ...list, facts: facts(message, protocolVersion) };
  if (message.method === 'completion/complete') return completion(message, protocolVersion);
  const named = own(NAMED, message.method);
  if (named === undefined) return refuse(message, 'unknown_method', 'this method is not proxied by Escrow');
  const name = message.params[named.name];
  if (typeof name !== 'string') return refuse(message, 'invalid_params', `params.${named.name} must be a string`);
  const args = message.params.arguments;
  if (named.args && args !== undefined && !isObject(args)) {
    return refuse(message, 'invalid_params', 'params.arguments must be an object');
  }
  const extra = named.args ? { name, arguments: (args ?? {}) as Record<string, unknown> } : { name };
  return { message, action: named.action, facts: facts(message, protocolVersion, extra) };
}

export function isRefused(call: McpCall | RefusedCall): call is RefusedCall {
  return 'refused' in call;
}

import { z } from 'zod';
import { ACTIONS, type Action, MCP_ACTIONS, type McpAction } from '../domain.js';
import type { AuthorizationRequest, McpFacts } from './types.js';

/**
 * The YAML form of an authorization question, shared by policy test cases and `escrow policy explain`. Everything but
 * the action and the target's name has a default, so a case states only what it is about.
 */
const claimValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]);

const principalSchema = z.strictObject({
  type: z.enum(['Agent', 'Human']).default('Agent'),
  id: z.string().min(1).default('spiffe://example.org/agent'),
  issuer: z.string().min(1).default('spire'),
  authMethod: z.enum(['jwt', 'mtls']).default('jwt'),
  trustDomain: z.string().optional(),
  claims: z.record(z.string(), claimValue).default({}),
});

const taskSchema = z.strictObject({
  id: z.string().default('task_example'),
  intent: z.string().default(''),
  ageSeconds: z.number().int().min(0).default(0),
  depth: z.number().int().min(0).default(0),
  /** Defaults to the request's target. */
  targets: z.array(z.string()).optional(),
});

/** An MCP call (`context.mcp`); the method defaults from the action, the name may be given as tool, prompt or resource. */
const mcpSchema = z.strictObject({
  method: z.string().optional(),
  kind: z.enum(['request', 'notification', 'response', 'stream', 'close']).default('request'),
  protocolVersion: z.string().default('2025-11-25'),
  tool: z.string().optional(),
  prompt: z.string().optional(),
  resource: z.string().optional(),
  arguments: z.record(z.string(), z.unknown()).default({}),
});

/** For `approve`: what the person decides on. */
const approvalSchema = z.strictObject({
  id: z.string().default('apr_example'),
  kind: z.enum(['task', 'request']).default('request'),
  action: z.enum(['read', 'write', 'delete', 'openTask', 'connect']).default('write'),
  requester: z
    .strictObject({
      type: z.enum(['Agent', 'Human']).default('Agent'),
      id: z.string().min(1).default('spiffe://example.org/agent'),
      issuer: z.string().min(1).default('spire'),
      trustDomain: z.string().optional(),
    })
    .default({ type: 'Agent', id: 'spiffe://example.org/agent', issuer: 'spire' }),
});

const contextSchema = z.strictObject({
  /** ISO 8601 instant; default Monday 2025-01-06 12:00 UTC (inside business hours). */
  time: z.iso.datetime({ offset: true }).default('2025-01-06T12:00:00Z'),
  clientIp: z.string().default('10.0.0.1'),
  method: z.string().optional(),
  path: z.string().default('/'),
  queryKeys: z.array(z.string()).default([]),
  task: taskSchema.optional(),
  tokenAgeSeconds: z.number().int().min(0).optional(),
  /** A database connection (`protocol: postgres`): the database asked for (`context.database.name`). */
  database: z.string().optional(),
  mcp: mcpSchema.optional(),
  approval: approvalSchema.optional(),
});

export const requestSchema = z.strictObject({
  principal: principalSchema.default(principalSchema.parse({})),
  action: z.enum(ACTIONS),
  target: z.strictObject({
    name: z.string().min(1),
    attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  }),
  context: contextSchema.default(contextSchema.parse({})),
});

export type RequestSpec = z.output<typeof requestSchema>;

const METHOD_OF: Record<Action, string> = {
  read: 'GET',
  write: 'POST',
  delete: 'DELETE',
  openTask: 'POST',
  connect: 'GET',
  approve: 'POST',
  useSession: 'POST',
  callTool: 'POST',
  listTools: 'POST',
  readResource: 'POST',
  listResources: 'POST',
  getPrompt: 'POST',
  listPrompts: 'POST',
};

const RPC_METHOD_OF: Record<McpAction, string> = {
  useSession: 'ping',
  callTool: 'tools/call',
  listTools: 'tools/list',
  readResource: 'resources/read',
  listResources: 'resources/list',
  getPrompt: 'prompts/get',
  listPrompts: 'prompts/list',
};

function mcpFacts(action: Action, mcp: z.output<typeof mcpSchema> | undefined): McpFacts | undefined {
  const rpcMethod = (MCP_ACTIONS as readonly string[]).includes(action)
    ? RPC_METHOD_OF[action as McpAction]
    : undefined;
  if (rpcMethod === undefined) return undefined;
  const given = mcp ?? mcpSchema.parse({});
  const name = given.tool ?? given.prompt ?? given.resource;
  return {
    method: given.method ?? rpcMethod,
    kind: given.kind,
    protocolVersion: given.protocolVersion,
    ...(name === undefined ? {} : { name }),
    arguments: given.arguments,
  };
}

/** The engine's question for a parsed request spec. */
export function toAuthorizationRequest(spec: RequestSpec): AuthorizationRequest {
  const now = Date.parse(spec.context.time);
  const { task, tokenAgeSeconds, database, approval } = spec.context;
  const mcp = mcpFacts(spec.action, spec.context.mcp);
  return {
    principal: {
      ...spec.principal,
      ...(tokenAgeSeconds === undefined ? {} : { issuedAt: Math.floor(now / 1000) - tokenAgeSeconds }),
    },
    action: spec.action,
    target: spec.target,
    request: {
      method: spec.context.method ?? (database === undefined ? METHOD_OF[spec.action] : 'CONNECT'),
      path: database === undefined ? spec.context.path : `/${database}`,
      queryKeys: spec.context.queryKeys,
    },
    ...(task === undefined ? {} : { task: { ...task, targets: task.targets ?? [spec.target.name] } }),
    clientIp: spec.context.clientIp,
    ...(database === undefined ? {} : { database: { name: database } }),
    ...(mcp === undefined ? {} : { mcp }),
    ...(approval === undefined ? {} : { approval }),
    now,
  };
}

export const caseSchema = requestSchema.extend({
  name: z.string().min(1),
  decision: z.enum(['allow', 'deny']),
  /** Exactly these determining policies, in any order. Omit to check only the decision. */
  policies: z.array(z.string()).optional(),
  /** An allow that waits for a person says `required` ("allow, pending approval"); the default is `none`. */
  approval: z.enum(['required', 'none']).optional(),
});

export type PolicyCase = z.output<typeof caseSchema>;

/** A file of cases: `defaults` (principal, target, context) are merged under each case. */
export const caseFileSchema = z.strictObject({
  defaults: z.record(z.string(), z.unknown()).default({}),
  cases: z.array(z.record(z.string(), z.unknown())).min(1),
});

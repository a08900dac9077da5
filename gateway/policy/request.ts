import { isIP } from 'node:net';
import type { CedarValueJson, Context, EntityJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { ClaimValue, Principal } from '../domain.js';
import { unmapIPv4 } from '../http/address.js';
import { type DeclaredArguments, NO_ARGUMENTS } from './arguments.js';
import type { StatefulAuthorizationCall } from './cedar.js';
import { mcpContext } from './mcp-context.js';
import type { ApprovalFacts, AuthorizationRequest, TargetFacts, TaskFacts } from './types.js';
import type { EntityUsage, PayloadUsage } from './usage.js';

/** Target attributes that the schema declares; every other config attribute becomes a string tag. */
const TARGET_ATTRIBUTES = new Set(['name', 'sensitivity', 'environment', 'audience']);
/** What `sensitivity` and `environment` read when a target's config leaves them out (the schema requires both). */
export const UNKNOWN_ATTRIBUTE = 'unknown';

type Values = Record<string, CedarValueJson>;

function claimTag(value: ClaimValue): string[] {
  return Array.isArray(value) ? [...value] : [String(value)];
}

function principalEntity(p: Principal): EntityJson {
  const attrs: Values = { issuer: p.issuer, authMethod: p.authMethod };
  if (p.trustDomain !== undefined) attrs.trustDomain = p.trustDomain;
  const tags: Values = {};
  for (const [name, value] of Object.entries(p.claims)) tags[name] = claimTag(value);
  return { uid: { type: `Escrow::${p.type}`, id: p.id }, attrs, parents: [], tags };
}

function targetEntity(t: TargetFacts): EntityJson {
  const a = t.attributes;
  const attrs: Values = {
    name: t.name,
    sensitivity: a.sensitivity === undefined ? UNKNOWN_ATTRIBUTE : String(a.sensitivity),
    environment: a.environment === undefined ? UNKNOWN_ATTRIBUTE : String(a.environment),
  };
  if (a.audience !== undefined) attrs.audience = String(a.audience);
  const tags: Values = {};
  for (const [name, value] of Object.entries(a)) if (!TARGET_ATTRIBUTES.has(name)) tags[name] = String(value);
  return { uid: { type: 'Escrow::Target', id: t.name }, attrs, parents: [], tags };
}

/**
 * The client address as Cedar's `ip()` reads it. Node reports IPv4 peers on a dual-stack socket as `::ffff:a.b.c.d`,
 * which Cedar refuses, so that becomes `a.b.c.d`; a zone (`%eth0`) is dropped. Throws a RangeError for anything Cedar
 * would refuse, checked here so that a request is refused alike whether or not a policy reads the address.
 */
export function cedarIp(address: string): string {
  const bare = unmapIPv4(address.replace(/%.*$/, ''));
  const family = isIP(bare);
  // Cedar refuses every IPv6 form with an embedded IPv4 address.
  if (family === 4 || (family === 6 && !bare.includes('.'))) return bare;
  throw new RangeError('client address is not an IP address');
}

function taskContext(task: TaskFacts): CedarValueJson {
  return {
    id: task.id,
    intent: task.intent,
    ageSeconds: Math.floor(task.ageSeconds),
    depth: task.depth,
    targets: [...task.targets],
  };
}

function approvalContext(a: ApprovalFacts): CedarValueJson {
  const requester: Values = { type: a.requester.type, id: a.requester.id, issuer: a.requester.issuer };
  if (a.requester.trustDomain !== undefined) requester.trustDomain = a.requester.trustDomain;
  return { id: a.id, kind: a.kind, action: a.action, requester };
}

function fullContext(r: AuthorizationRequest, now: number, declared: DeclaredArguments): Context {
  const date = new Date(now);
  const identity: Values = { authMethod: r.principal.authMethod };
  if (r.principal.issuedAt !== undefined) {
    identity.tokenAgeSeconds = Math.max(0, Math.floor(now / 1000 - r.principal.issuedAt));
  }
  const ctx: Context = {
    request: { method: r.request.method, path: r.request.path, queryKeys: [...r.request.queryKeys] },
    identity,
    time: {
      hourUtc: date.getUTCHours(),
      weekdayUtc: date.getUTCDay(),
      now: { __extn: { fn: 'datetime', arg: date.toISOString() } },
    },
    client: { ip: { __extn: { fn: 'ip', arg: cedarIp(r.clientIp) } } },
  };
  if (r.task !== undefined) ctx.task = taskContext(r.task);
  if (r.database !== undefined) ctx.database = { name: r.database.name };
  if (r.mcp !== undefined) ctx.mcp = mcpContext(r.action, r.mcp, declared);
  if (r.approval !== undefined) ctx.approval = approvalContext(r.approval);
  return ctx;
}

function pick(values: Values, keep: ReadonlySet<string>): Values {
  const out: Values = {};
  for (const key of keep) if (values[key] !== undefined) out[key] = values[key];
  return out;
}

function pickContext(full: Context, usage: PayloadUsage): Context {
  if (usage.everything || usage.contextAll) return full;
  const out: Context = {};
  for (const [field, subs] of usage.context) {
    const value = full[field];
    if (value === undefined) continue;
    out[field] = subs === 'all' ? value : pick(value as Values, subs);
  }
  return out;
}

function pickEntity(entity: EntityJson, usage: EntityUsage, out: EntityJson[]): void {
  if (usage.attrs.size === 0 && usage.tags.size === 0 && !usage.allTags) return;
  const tags = usage.allTags ? entity.tags : pick(entity.tags ?? {}, usage.tags);
  out.push({ uid: entity.uid, attrs: pick(entity.attrs, usage.attrs), parents: [], tags });
}

/**
 * The cedar-wasm call for one request against one preparsed set. Extension values are spelled out (`__extn`) because
 * no schema is passed per call. With `usage`, only what the set's policies can read is sent (the rest costs
 * marshalling time and cannot change the decision); without it, everything is sent. `declared` says which MCP
 * arguments the schema lets policies read, and as which types.
 */
export function buildCall(
  r: AuthorizationRequest,
  setId: string,
  now: number,
  usage?: PayloadUsage,
  declared: DeclaredArguments = NO_ARGUMENTS,
): StatefulAuthorizationCall {
  const principal = principalEntity(r.principal);
  const target = targetEntity(r.target);
  const context = fullContext(r, now, declared);
  let entities = [principal, target];
  let sent = context;
  if (usage !== undefined && !usage.everything) {
    entities = [];
    pickEntity(principal, usage.principal, entities);
    pickEntity(target, usage.resource, entities);
    sent = pickContext(context, usage);
  }
  return {
    principal: principal.uid,
    action: { type: 'Escrow::Action', id: r.action },
    resource: target.uid,
    context: sent,
    entities,
    preparsedPolicySetId: setId,
  };
}

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

/*
 * A principal and a target are the same objects request after request (the identity cache, the target table), and
 * their entities never change: each is built once per object. Entities are read, never mutated, downstream.
 */
const principalEntities = new WeakMap<Principal, EntityJson>();
const targetEntities = new WeakMap<TargetFacts, EntityJson>();

function once<K extends object>(memo: WeakMap<K, EntityJson>, key: K, build: (key: K) => EntityJson): EntityJson {
  let entity = memo.get(key);
  if (entity === undefined) {
    entity = build(key);
    memo.set(key, entity);
  }
  return entity;
}

const principalEntity = (p: Principal) => once(principalEntities, p, buildPrincipalEntity);
const targetEntity = (t: TargetFacts) => once(targetEntities, t, buildTargetEntity);

function buildPrincipalEntity(p: Principal): EntityJson {
  const attrs: Values = { issuer: p.issuer, authMethod: p.authMethod };
  if (p.trustDomain !== undefined) attrs.trustDomain = p.trustDomain;
  const tags: Values = {};
  for (const [name, value] of Object.entries(p.claims)) tags[name] = claimTag(value);
  return { uid: { type: `Escrow::${p.type}`, id: p.id }, attrs, parents: [], tags };
}

function buildTargetEntity(t: TargetFacts): EntityJson {
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

/** Each context field, built only when the slice's policies can read it (or when everything is sent). */
const CONTEXT_FIELDS: Record<
  string,
  (r: AuthorizationRequest, now: number, declared: DeclaredArguments) => CedarValueJson | undefined
> = {
  request: (r) => ({ method: r.request.method, path: r.request.path, queryKeys: [...r.request.queryKeys] }),
  identity: (r, now) => {
    const identity: Values = { authMethod: r.principal.authMethod };
    if (r.principal.issuedAt !== undefined) {
      identity.tokenAgeSeconds = Math.max(0, Math.floor(now / 1000 - r.principal.issuedAt));
    }
    return identity;
  },
  time: (_r, now) => {
    const date = new Date(now);
    return {
      hourUtc: date.getUTCHours(),
      weekdayUtc: date.getUTCDay(),
      now: { __extn: { fn: 'datetime', arg: date.toISOString() } },
    };
  },
  client: (r) => ({ ip: { __extn: { fn: 'ip', arg: cedarIp(r.clientIp) } } }),
  task: (r) => (r.task !== undefined ? taskContext(r.task) : undefined),
  database: (r) => (r.database !== undefined ? { name: r.database.name } : undefined),
  mcp: (r, _now, declared) => (r.mcp !== undefined ? mcpContext(r.action, r.mcp, declared) : undefined),
  approval: (r) => (r.approval !== undefined ? approvalContext(r.approval) : undefined),
};

function fullContext(r: AuthorizationRequest, now: number, declared: DeclaredArguments): Context {
  const ctx: Context = {};
  for (const [field, build] of Object.entries(CONTEXT_FIELDS)) {
    const value = build(r, now, declared);
    if (value !== undefined) ctx[field] = value;
  }
  return ctx;
}

function pick(values: Values, keep: ReadonlySet<string>): Values {
  const out: Values = {};
  for (const key of keep) if (values[key] !== undefined) out[key] = values[key];
  return out;
}

/** Only the context fields the slice reads, each built on demand. */
function usedContext(r: AuthorizationRequest, now: number, declared: DeclaredArguments, usage: PayloadUsage): Context {
  const out: Context = {};
  for (const [field, subs] of usage.context) {
    const build = Object.hasOwn(CONTEXT_FIELDS, field) ? CONTEXT_FIELDS[field] : undefined;
    const value = build?.(r, now, declared);
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
  cedarIp(r.clientIp); // throws for what Cedar would refuse: refused alike whether or not a policy reads it
  let entities = [principal, target];
  let sent: Context;
  if (usage !== undefined && !usage.everything) {
    entities = [];
    pickEntity(principal, usage.principal, entities);
    pickEntity(target, usage.resource, entities);
    sent = usage.contextAll ? fullContext(r, now, declared) : usedContext(r, now, declared, usage);
  } else {
    sent = fullContext(r, now, declared);
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

import type { PolicyJson } from './cedar.js';

/** What policies read from one entity (the principal or the target). */
export interface EntityUsage {
  readonly attrs: Set<string>;
  readonly tags: Set<string>;
  /** A tag read with a computed name: every tag is needed. */
  allTags: boolean;
}

/**
 * What a set of policies can read from a request: the entity attributes and tags, and the context fields (top-level
 * field → its sub-fields, or `all`). Anything the analysis cannot follow sets `everything`. Leaving out what no policy
 * reads keeps the payload cedar-wasm must marshal small; the decision cannot change, because nothing left out is read.
 */
export interface PayloadUsage {
  everything: boolean;
  readonly principal: EntityUsage;
  readonly resource: EntityUsage;
  contextAll: boolean;
  readonly context: Map<string, Set<string> | 'all'>;
}

type Node = Record<string, unknown>;
type Chain = { root: string; path: string[] };

export function emptyUsage(): PayloadUsage {
  const entity = (): EntityUsage => ({ attrs: new Set(), tags: new Set(), allTags: false });
  return { everything: false, principal: entity(), resource: entity(), contextAll: false, context: new Map() };
}

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null;
}

/** `context.a.b` as root `context` and path [a, b]; undefined for anything that is not a plain attribute chain. */
function chainOf(expr: unknown): Chain | undefined {
  if (!isNode(expr)) return undefined;
  if (typeof expr.Var === 'string') return { root: expr.Var, path: [] };
  const dot = expr['.'];
  if (!isNode(dot) || typeof dot.attr !== 'string') return undefined;
  const left = chainOf(dot.left);
  return left === undefined ? undefined : { root: left.root, path: [...left.path, dot.attr] };
}

/** A read of `chain`; `presence` when only `has` asks about it (its fields are then not needed). */
function recordPath(usage: PayloadUsage, chain: Chain, presence: boolean): void {
  const [first, second] = chain.path;
  if (chain.root === 'principal' || chain.root === 'resource') {
    if (first !== undefined) usage[chain.root].attrs.add(first);
    return;
  }
  if (chain.root !== 'context') return;
  if (first === undefined) {
    usage.contextAll = true;
    return;
  }
  const subs = usage.context.get(first);
  if (second === undefined) {
    if (!presence) usage.context.set(first, 'all');
    else if (subs === undefined) usage.context.set(first, new Set());
  } else if (subs === undefined) usage.context.set(first, new Set([second]));
  else if (subs !== 'all') subs.add(second);
}

/** `x.attr` and `x has attr` (also `x has a.b`): the chain read, or undefined when its base is not a plain chain. */
function attributeRead(body: Node): Chain | undefined {
  const base = chainOf(body.left);
  if (base === undefined) return undefined;
  const attrs = Array.isArray(body.attr) ? (body.attr as string[]) : [body.attr as string];
  return { root: base.root, path: [...base.path, ...attrs] };
}

function tagRead(usage: PayloadUsage, body: Node): boolean {
  const base = chainOf(body.left);
  if (base === undefined || base.path.length > 0 || (base.root !== 'principal' && base.root !== 'resource')) {
    return false;
  }
  const name = isNode(body.right) ? body.right.Value : undefined;
  if (typeof name === 'string') usage[base.root].tags.add(name);
  else {
    usage[base.root].allTags = true;
    walk(usage, body.right);
  }
  return true;
}

function walk(usage: PayloadUsage, expr: unknown): void {
  if (Array.isArray(expr)) {
    for (const e of expr) walk(usage, e);
    return;
  }
  if (!isNode(expr) || 'Value' in expr) return;
  for (const [op, body] of Object.entries(expr)) {
    if (op === 'Var') {
      // A bare `context` is read whole; a bare principal/resource is only compared by uid.
      if (body === 'context') usage.contextAll = true;
    } else if ((op === '.' || op === 'has') && isNode(body)) {
      const chain = attributeRead(body);
      if (chain !== undefined) recordPath(usage, chain, op === 'has');
      else {
        usage.everything = true;
        walk(usage, body.left);
      }
    } else if ((op === 'getTag' || op === 'hasTag') && isNode(body)) {
      if (!tagRead(usage, body)) {
        usage.everything = true;
        walk(usage, body);
      }
    } else if (op !== 'like' || !isNode(body)) walk(usage, body);
    else walk(usage, body.left);
  }
}

/** Add what one policy can read to `usage`. */
export function addPolicyUsage(usage: PayloadUsage, policy: PolicyJson): void {
  for (const clause of policy.conditions) walk(usage, clause.body);
}

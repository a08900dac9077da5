import { isObject } from '../json.js';
import type { ListKind } from './calls.js';
import type { RpcId } from './jsonrpc.js';

/** What names an item of each list: what policy is asked about. */
const NAME_OF: Record<ListKind, string> = {
  tools: 'name',
  prompts: 'name',
  resources: 'uri',
  resourceTemplates: 'uriTemplate',
};
const KINDS = Object.keys(NAME_OF) as ListKind[];

/** May this principal use this item now? `name` is the tool or prompt name, or the resource URI (template). */
export type ItemCheck = (kind: ListKind, name: string) => boolean;

/** Which list a JSON-RPC response carries: by its id when Escrow forwarded the request, else by its shape. */
export interface ListRouting {
  /** Ids of list requests forwarded in this exchange, and their list. */
  readonly lists: ReadonlyMap<RpcId, ListKind>;
  /** Ids of every request forwarded in this exchange (a known non-list id is never filtered). */
  readonly forwarded: ReadonlySet<RpcId>;
}

export interface FilterOutcome {
  /** The payload carried at least one list answer (it was checked item by item). */
  matched: boolean;
  readonly hidden: Map<ListKind, number>;
}

/** A response Escrow did not see the request of (a replay on a GET stream) is filtered if it looks like a list. */
function kindOf(message: Record<string, unknown>, routing: ListRouting): ListKind | undefined {
  const id = message.id;
  if (typeof id === 'string' || typeof id === 'number') {
    const known = routing.lists.get(id);
    if (known !== undefined || routing.forwarded.has(id)) return known;
  }
  const result = message.result;
  return isObject(result) ? KINDS.find((kind) => Array.isArray(result[kind])) : undefined;
}

function filterResult(result: Record<string, unknown>, kind: ListKind, check: ItemCheck, out: FilterOutcome): void {
  const items = result[kind];
  if (!Array.isArray(items)) return;
  out.matched = true;
  // A list depends on who asked: shared caches must not keep it (2026-07-28 `cacheScope`).
  if ('cacheScope' in result) result.cacheScope = 'private';
  const kept = items.filter((item) => {
    const name = isObject(item) ? item[NAME_OF[kind]] : undefined;
    // An item Escrow cannot name cannot be authorized: it is left out.
    return typeof name === 'string' && check(kind, name);
  });
  if (kept.length === items.length) return;
  out.hidden.set(kind, (out.hidden.get(kind) ?? 0) + items.length - kept.length);
  result[kind] = kept;
}

/**
 * Filter the list answers in one JSON-RPC payload (a message, or a batch's array) in place: every tool, prompt,
 * resource or resource template the principal may not use now is removed. Everything else is left as it is.
 */
export function filterLists(payload: unknown, routing: ListRouting, check: ItemCheck): FilterOutcome {
  const out: FilterOutcome = { matched: false, hidden: new Map() };
  for (const message of Array.isArray(payload) ? payload : [payload]) {
    if (!isObject(message) || !isObject(message.result)) continue;
    const kind = kindOf(message, routing);
    if (kind !== undefined) filterResult(message.result, kind, check, out);
  }
  return out;
}

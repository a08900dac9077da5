import type { PolicyJson } from './cedar.js';

/*
 * Path-prefix slicing. A policy whose first condition is a `when` whose leftmost conjunct is
 * `context.request.path like "<literal>…"` or `context.request.path == "<literal>"` can only be satisfied by a request
 * whose path starts with that literal. Cedar evaluates a policy as `scope && condition₁ && condition₂ …`, each `&&`
 * left to right and short-circuiting, and the scope cannot error; so when the path does not start with the literal,
 * that conjunct is false and nothing after it is evaluated: the policy is neither satisfied nor erroring, and leaving
 * it out of the set cannot change the decision, its determining policies or its errors. `context.request` is always
 * sent (every action's context requires `request: RequestInfo`, and request.ts always builds it), so the conjunct
 * itself cannot error either. Anything else (an `unless`, `||`, `!`, the path read further right, `context has
 * request` first, a pattern that starts with a wildcard) gives no prefix and the policy is always kept.
 */

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null;
}

/** `{".": {left, attr}}` with that attribute name; its left side, else undefined. */
function attributeOf(expr: unknown, attr: string): unknown {
  if (!isNode(expr) || !isNode(expr['.']) || expr['.'].attr !== attr) return undefined;
  return expr['.'].left;
}

/** Exactly `context.request.path`. */
function isRequestPath(expr: unknown): boolean {
  const request = attributeOf(expr, 'path');
  const context = attributeOf(request, 'request');
  return isNode(context) && context.Var === 'context';
}

/** The literal characters of a `like` pattern before its first wildcard; undefined for an unknown element. */
function literalHead(pattern: unknown): string | undefined {
  if (!Array.isArray(pattern)) return undefined;
  let head = '';
  for (const element of pattern) {
    if (element === 'Wildcard') return head;
    if (!isNode(element) || typeof element.Literal !== 'string') return undefined;
    head += element.Literal;
  }
  return head;
}

function stringValue(expr: unknown): string | undefined {
  return isNode(expr) && typeof expr.Value === 'string' ? expr.Value : undefined;
}

/** The prefix one conjunct demands of `context.request.path`, or undefined. */
function conjunctPrefix(expr: unknown): string | undefined {
  if (!isNode(expr)) return undefined;
  const like = expr.like;
  if (isNode(like)) return isRequestPath(like.left) ? literalHead(like.pattern) : undefined;
  const equals = expr['=='];
  if (!isNode(equals)) return undefined;
  if (isRequestPath(equals.left)) return stringValue(equals.right);
  return isRequestPath(equals.right) ? stringValue(equals.left) : undefined;
}

/** A non-empty literal that `context.request.path` must start with for `policy` to be satisfiable, or undefined. */
export function pathPrefixOf(policy: PolicyJson): string | undefined {
  const first = policy.conditions[0];
  if (first === undefined || first.kind !== 'when') return undefined;
  let leftmost: unknown = first.body;
  while (isNode(leftmost) && isNode(leftmost['&&'])) leftmost = leftmost['&&'].left;
  const prefix = conjunctPrefix(leftmost);
  return prefix === '' ? undefined : prefix;
}

/** A trie over the prefixes, by UTF-16 code unit (as `startsWith` compares). */
interface PrefixNode<S> {
  readonly next: Map<number, PrefixNode<S>>;
  /** Set where a prefix ends (the root: ''), with its sub-slice once built. */
  prefix: string | undefined;
  slice: S | undefined;
}

// Every node has the same shape (all fields set), which keeps the walk's property reads monomorphic.
const trieNode = <S>(prefix?: string): PrefixNode<S> => ({ next: new Map(), prefix, slice: undefined });

function prefixTrie<S>(prefixes: Iterable<string>): PrefixNode<S> {
  const root = trieNode<S>('');
  for (const prefix of prefixes) {
    let node = root;
    for (let i = 0; i < prefix.length; i++) {
      const code = prefix.charCodeAt(i);
      let child = node.next.get(code);
      if (child === undefined) {
        child = trieNode<S>();
        node.next.set(code, child);
      }
      node = child;
    }
    node.prefix = prefix;
  }
  return root;
}

/**
 * The sub-slice for a request path: the policies without a prefix, and those whose prefix the path starts with.
 * Every prefix a path starts with is a prefix of the longest one it starts with, so that longest prefix (or none)
 * names the sub-slice: a slice has at most (its distinct prefixes + 1) sub-slices, whatever paths an agent sends.
 * Finding it is a walk down a trie of the prefixes, at most as many steps as the longest prefix has characters.
 */
export function pathSlices<P, S>(
  policies: readonly P[],
  prefixOf: (p: P) => string | undefined,
  sliceOf: (policies: readonly P[]) => S,
): (path: string) => S {
  const prefixes = new Set(policies.map(prefixOf).filter((p): p is string => p !== undefined));
  if (prefixes.size === 0) {
    const whole = sliceOf(policies);
    return () => whole;
  }
  const root = prefixTrie<S>(prefixes);
  return (path) => {
    let longest = root;
    let node: PrefixNode<S> | undefined = root;
    for (let i = 0; i < path.length; i++) {
      node = node.next.get(path.charCodeAt(i));
      if (node === undefined) break;
      if (node.prefix !== undefined) longest = node;
    }
    const head = longest.prefix!;
    longest.slice ??= sliceOf(policies.filter((p) => prefixOf(p) === undefined || head.startsWith(prefixOf(p)!)));
    return longest.slice;
  };
}

import type { ApprovalNeed } from '../domain.js';

/**
 * How a policy asks for a person (docs/approvals.md):
 *
 * - `@approval("required")` on a `permit`: an allow this policy takes part in waits for a person;
 * - `@approval("required")` on a `forbid`: the forbid gives way once a person approves ("forbid unless approved");
 * - `@approvalUses("N")` (default 1) and `@approvalWindow("10m")` (default `approvals.grantWindowSeconds`) bound a
 *   per-request grant: N requests within the window after the decision.
 *
 * Any other annotation whose name starts with `approval` is an error, so that a typo never silently drops the
 * requirement.
 */
export interface ApprovalRule {
  readonly effect: 'permit' | 'forbid';
  readonly uses: number;
  readonly windowSeconds?: number;
}

const MAX_USES = 1_000;
const MAX_WINDOW_SECONDS = 86_400;
const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3_600 };
const KNOWN = new Set(['approval', 'approvalUses', 'approvalWindow']);

/** A policy's id, effect and annotations, as the policy loader holds them. */
export interface AnnotatedPolicy {
  readonly id: string;
  readonly effect: 'permit' | 'forbid';
  readonly annotations: Readonly<Record<string, string | null | undefined>>;
}

/** `10m`, `600s`, `600` (seconds), `1h`: seconds, or undefined when malformed or out of range. */
export function parseWindow(text: string): number | undefined {
  const match = /^(\d{1,6})([smh]?)$/.exec(text);
  if (!match) return undefined;
  const seconds = Number(match[1]) * (UNIT_SECONDS[match[2] || 's'] ?? 1);
  return seconds >= 1 && seconds <= MAX_WINDOW_SECONDS ? seconds : undefined;
}

/**
 * The policy's approval rule (undefined when it asks for none), or the problems with its annotations. Problems are
 * policy errors: the set is refused at start and on reload, like any invalid policy.
 */
export function approvalRule(policy: AnnotatedPolicy): { rule?: ApprovalRule; problems: string[] } {
  const a = policy.annotations;
  const problems = Object.keys(a)
    .filter((name) => /^approval/i.test(name) && !KNOWN.has(name))
    .map((name) => `unknown annotation @${name} (use @approval, @approvalUses, @approvalWindow)`);
  const required = a.approval;
  if (required === undefined) {
    if (a.approvalUses !== undefined || a.approvalWindow !== undefined) {
      problems.push('@approvalUses and @approvalWindow need @approval("required")');
    }
    return { problems };
  }
  if (required !== 'required') problems.push('@approval must be "required"');
  const uses = a.approvalUses === undefined || a.approvalUses === null ? 1 : Number(a.approvalUses);
  if (!Number.isInteger(uses) || uses < 1 || uses > MAX_USES) {
    problems.push(`@approvalUses must be a whole number from 1 to ${MAX_USES}`);
  }
  const windowText = a.approvalWindow ?? undefined;
  const windowSeconds = windowText === undefined ? undefined : parseWindow(windowText);
  if (windowText !== undefined && windowSeconds === undefined) {
    problems.push(`@approvalWindow must be a duration such as "600", "10m" or "1h" (at most ${MAX_WINDOW_SECONDS} s)`);
  }
  if (problems.length > 0) return { problems };
  return { rule: { effect: policy.effect, uses, ...(windowSeconds === undefined ? {} : { windowSeconds }) }, problems };
}

/** The rules of a policy set by policy id. Throws on the first invalid annotation (validation reports them all). */
export function approvalRules(policies: readonly AnnotatedPolicy[]): ReadonlyMap<string, ApprovalRule> {
  const rules = new Map<string, ApprovalRule>();
  for (const policy of policies) {
    const { rule, problems } = approvalRule(policy);
    if (problems.length > 0) throw new Error(`${policy.id}: ${problems.join('; ')}`);
    if (rule) rules.set(policy.id, rule);
  }
  return rules;
}

/** What the policies `ids` ask for together: the smallest count and window of them all; undefined for none. */
export function mergeNeed(rules: ReadonlyMap<string, ApprovalRule>, ids: readonly string[]): ApprovalNeed | undefined {
  const asking = ids.filter((id) => rules.has(id));
  if (asking.length === 0) return undefined;
  let uses = Number.POSITIVE_INFINITY;
  let windowSeconds: number | undefined;
  for (const id of asking) {
    const rule = rules.get(id)!;
    uses = Math.min(uses, rule.uses);
    if (rule.windowSeconds !== undefined) windowSeconds = Math.min(windowSeconds ?? Infinity, rule.windowSeconds);
  }
  return { policies: asking, uses, ...(windowSeconds === undefined ? {} : { windowSeconds }) };
}

/** Two needs as one (a forbid that gives way and the permits that then allow): the stricter of each bound. */
export function combineNeeds(a: ApprovalNeed | undefined, b: ApprovalNeed | undefined): ApprovalNeed | undefined {
  if (!a || !b) return a ?? b;
  const window = [a.windowSeconds, b.windowSeconds].filter((w): w is number => w !== undefined);
  return {
    policies: [...new Set([...a.policies, ...b.policies])],
    uses: Math.min(a.uses, b.uses),
    ...(window.length > 0 ? { windowSeconds: Math.min(...window) } : {}),
  };
}

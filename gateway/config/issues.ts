import type { z } from 'zod';

/** `['targets', 0, 'credential', 'header']` → `targets[0].credential.header` (under an optional prefix). */
export function formatPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

/** One line per problem: `path: message`. Zod's "expected X, received undefined" reads as `required`. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

/** `input` (what was parsed), when given, lets an absent enum or literal read as `required` too. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix = '', input?: unknown): string {
  return issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((key) => `${formatPath([...issue.path, key], prefix)}: unknown key`).join('\n');
      }
      const missing =
        (issue.code === 'invalid_type' && /received undefined/.test(issue.message)) ||
        (input !== undefined && valueAt(input, issue.path) === undefined);
      return `${formatPath(issue.path, prefix)}: ${missing ? 'required' : issue.message}`;
    })
    .join('\n');
}

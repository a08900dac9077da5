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
export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix = ''): string {
  return issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((key) => `${formatPath([...issue.path, key], prefix)}: unknown key`).join('\n');
      }
      const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
      return `${formatPath(issue.path, prefix)}: ${missing ? 'required' : issue.message}`;
    })
    .join('\n');
}

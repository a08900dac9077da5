import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const PAGES = ['docs/agents.md', 'docs/cli.md', 'docs/operations.md', 'docs/security.md', 'docs/mcp.md'];
/** Pages other helpers write; links to them are checked once they exist. */
const PENDING = new Set(['docs/redis.md', 'docs/performance.md']);

const text = (page: string) => readFileSync(resolve(ROOT, page), 'utf8');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function anchors(page: string): Set<string> {
  const out = new Set<string>();
  for (const [, heading] of text(page).matchAll(/^#{1,6} (.+)$/gm)) {
    out.add(
      heading!
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replaceAll(' ', '-'),
    );
  }
  return out;
}

describe('the user docs point only at files, tests and sections that exist', () => {
  it.each(PAGES)('%s cites only test files that exist', (page) => {
    const cited = [...text(page).matchAll(/test\/[\w/.-]+\.test\.ts/g)].map((m) => m[0]);
    expect(cited.filter((f) => !existsSync(resolve(ROOT, f)))).toEqual([]);
  });

  it.each(PAGES)('%s links only to files and anchors that exist', (page) => {
    const broken: string[] = [];
    for (const [, link] of text(page).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(link!)) continue;
      const [file, anchor] = link!.split('#');
      const target = file ? resolve(ROOT, dirname(page), file) : resolve(ROOT, page);
      const relative = target.slice(ROOT.length + 1);
      if (PENDING.has(relative) && !existsSync(target)) continue;
      if (!existsSync(target)) broken.push(link!);
      else if (anchor && target.endsWith('.md') && !anchors(relative).has(anchor)) broken.push(link!);
    }
    expect(broken).toEqual([]);
  });
});

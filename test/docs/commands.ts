import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '../..');

/** Pages whose shell blocks a new operator follows: every ```sh block in them is classified by a marker. */
export function pages(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs, 'deploy/README.md'];
}

/**
 * How a block is treated, from the HTML comment on the line before it:
 * `<!-- docs-test: run | expect: TEXT | expect: TEXT -->`, `<!-- docs-test: server -->` (runs in the background
 * for the others), or `<!-- docs-test: skip (why) -->`.
 */
export interface Block {
  readonly page: string;
  readonly line: number;
  readonly code: string;
  readonly mode: 'run' | 'server' | 'skip' | 'unmarked';
  readonly expect: readonly string[];
  readonly reason?: string;
}

const MARKER = /^<!-- docs-test: (run|server|skip)(.*?) -->$/;

function parseMarker(text: string | undefined): Pick<Block, 'mode' | 'expect' | 'reason'> {
  const match = text === undefined ? null : MARKER.exec(text.trim());
  if (!match) return { mode: 'unmarked', expect: [] };
  const [, mode, rest = ''] = match;
  if (mode === 'skip') {
    const reason = /^ \((.+)\)$/.exec(rest)?.[1];
    return { mode: 'skip', expect: [], ...(reason ? { reason } : {}) };
  }
  const expect = rest
    .split(' | ')
    .map((part) => part.trim())
    .filter((part) => part.startsWith('expect: '))
    .map((part) => part.slice('expect: '.length));
  return { mode: mode as 'run' | 'server', expect };
}

/** Every ```sh block of `page`, with its marker. */
export function shellBlocks(page: string): Block[] {
  const lines = readFileSync(join(ROOT, page), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```sh') continue;
    const end = lines.findIndex((l, j) => j > i && l.trim() === '```');
    let before = i - 1;
    while (before >= 0 && lines[before]!.trim() === '') before--;
    blocks.push({ page, line: i + 1, code: lines.slice(i + 1, end).join('\n'), ...parseMarker(lines[before]) });
    i = end;
  }
  return blocks;
}

/**
 * What the test changes in a block before running it, and why: the checkout is already installed (`npm ci` would
 * replace node_modules under the suite running in parallel), and `npm test` built dist/ first (npm start's
 * `prestart` build would rewrite dist/ under other tests' processes).
 */
export function prepare(code: string): string {
  return code
    .replace(/^npm ci\b.*$/gm, ': npm ci, already installed')
    .replace(/^npm start\b/gm, 'npm start --ignore-scripts');
}

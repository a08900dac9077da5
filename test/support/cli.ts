/** The one way tests run Escrow's CLI as a process: `spawn(process.execPath, [...cliCommand(), ...args])`. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root. */
export const REPO_ROOT = resolve(import.meta.dirname, '../..');
const DIST_CLI = join(REPO_ROOT, 'dist/gateway/cli.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Node's arguments that run the CLI: the built `dist/gateway/cli.js` (`npm run build`, which `npm test` and
 * `npm run test:fast` do first) when it is newer than every source file, else the sources through tsx, so a test
 * never runs stale code.
 */
export function cliCommand(): string[] {
  const built = existsSync(DIST_CLI) ? statSync(DIST_CLI).mtimeMs : 0;
  const sources = Math.max(newestSource(join(REPO_ROOT, 'gateway')), newestSource(join(REPO_ROOT, 'adapters')));
  return built >= sources ? [DIST_CLI] : ['--import', 'tsx', join(REPO_ROOT, 'gateway/cli.ts')];
}

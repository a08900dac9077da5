import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { causeChain } from '../cause.js';
import { EscrowError } from '../errors.js';

/** Exit codes (documented in docs/cli.md): 0 ok, 1 failure at run time, 2 bad config or usage. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** The package root (where package.json is), whether running from `dist/` or from source. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package root not found');
    dir = up;
  }
  return dir;
}

/** The embedded default config (in-memory store, dev keys, demo upstream). */
export function devConfigPath(): string {
  return join(packageRoot(), 'examples', 'dev', 'escrow.yaml');
}

export function devMaterialDir(): string {
  return join(packageRoot(), '.escrow-dev');
}

/** `--config`, else `$ESCROW_CONFIG`, else the embedded dev default. */
export function configPath(flag: string | undefined): { path: string; dev: boolean } {
  const given = flag ?? process.env.ESCROW_CONFIG;
  if (given) return { path: resolve(given), dev: false };
  return { path: devConfigPath(), dev: true };
}

export class UsageError extends Error {}

/** How a command prints its result: one JSON document with `--json` (docs/cli.md), else the text for a person. */
export function printer(json: boolean | undefined): (value: unknown, text: string) => void {
  return (value, text) => void process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

/** The message and, after a colon, its cause: one line that names what went wrong and why. */
function explain(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const cause = causeChain(error);
  return cause === '' ? message : `${message}: ${cause}`;
}
/** Print a failure the way a person should see it: the message, never a stack; exit code by kind. */
export function reportFailure(error: unknown): number {
  if (error instanceof UsageError) {
    process.stderr.write(`escrow: ${error.message}\n(see escrow --help)\n`);
    return EXIT.usage;
  }
  if (error instanceof EscrowError && error.code === 'config_invalid') {
    const text = explain(error);
    // One problem fits on the line a supervisor shows; several get a line each.
    process.stderr.write(
      text.includes('\n')
        ? `escrow: invalid configuration:\n${indent(text)}\n`
        : `escrow: invalid configuration: ${text}\n`,
    );
    return EXIT.usage;
  }
  process.stderr.write(`escrow: ${explain(error)}\n`);
  return EXIT.failure;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { causeChain } from '../cause.js';
import { loadConfig } from '../config/load.js';
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

/** `--admin URL`, else the config's `admin.listen`. */
export function adminUrlFor(flag: string | undefined, configFlag: string | undefined): string {
  return flag ?? `http://${loadConfig(configPath(configFlag).path).config.admin.listen}`;
}

/** Call a running Escrow's admin API; a refused connection or an error status becomes a readable error. */
export async function callAdmin(path: string, method: string, adminUrl: string): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${adminUrl}${path}`, { method });
  } catch {
    throw new Error(`cannot reach the admin API at ${adminUrl} (is Escrow running? pass --admin URL)`);
  }
  const body = (await res.json()) as { detail?: string };
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${body.detail ?? ''}`);
  return body;
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

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh directory for one test's audit files, removed by the returned cleanup. */
export async function tempDir(): Promise<{ readonly dir: string; readonly cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'escrow-audit-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The non-blank lines of a file sink. */
export async function readLines(path: string): Promise<string[]> {
  const text = await readFile(path, 'utf8');
  return text.split('\n').filter((line) => line !== '');
}

/** A clock that starts at a fixed instant and moves one second per call. */
export function steppingClock(start = Date.UTC(2025, 0, 1, 12)): () => number {
  let now = start - 1000;
  return () => {
    now += 1000;
    return now;
  };
}

export const HMAC_KEY = 'audit-test-key-0123456789abcdef';

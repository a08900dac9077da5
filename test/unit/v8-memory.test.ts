import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('./fixtures/v8-memory.ts', import.meta.url));

function run(nodeArgs: string[], args: string[]): string {
  const child = spawnSync(process.execPath, [...nodeArgs, '--import', 'tsx', SCRIPT, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  expect(child.status, child.stderr).toBe(0);
  return child.stdout;
}

describe('the young generation of a busy process stays near the cap', () => {
  it('grows to 32 MB uncapped and stays at or under 16 MB capped at 8 MB', () => {
    // V8 doubles the space, and a step may land between two GC observations: one step over the cap is allowed.
    expect(Number(run([], ['young']))).toBeGreaterThan(16);
    expect(Number(run([], ['young', 'cap']))).toBeLessThanOrEqual(16);
  }, 60_000);

  it('is left alone when node was given --max-semi-space-size', () => {
    expect(Number(run(['--max-semi-space-size=16'], ['young', 'cap']))).toBeGreaterThan(16);
  }, 60_000);
});

describe('memory flags given to node win over the ones Escrow sets', () => {
  it('sets every flag by default', () => {
    expect(JSON.parse(run([], ['flags']))).toEqual(['--liftoff-only', '--heap-growing-percent=50']);
  });

  it('skips a flag given on the command line, negated or with another value', () => {
    expect(JSON.parse(run(['--no-liftoff-only', '--heap-growing-percent=80'], ['flags']))).toEqual([]);
  });
});

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('./fixtures/deopt-repro.ts', import.meta.url));

// Regression: Node 20's V8 aborted the process (Deoptimizer::DoComputeBuiltinContinuation, "unreachable code") when
// an optimised caller of cedar-wasm was lazily deoptimised during the call. cedar.ts turns the inlining off.
describe('many evaluations over changing policy sets do not crash the process', () => {
  it('survives the sequence that aborted Node with a V8 fatal error', () => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', SCRIPT], { encoding: 'utf8', timeout: 120_000 });
    expect(child.stderr).not.toContain('Fatal error');
    expect(child.stdout.trim()).toBe('survived');
    expect(child.status).toBe(0);
  }, 150_000);
});

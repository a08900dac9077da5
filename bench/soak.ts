import type { BenchArgs } from './lib/args.js';
import type { BenchKeys } from './lib/escrow.js';

export interface SoakInput {
  readonly args: BenchArgs;
  readonly repoRoot: string;
  readonly keys: BenchKeys;
  readonly prefix: string;
  readonly log: (line: string) => void;
}

export async function runSoak(_input: SoakInput): Promise<void> {
  throw new Error('not yet');
}

import { UsageError } from './common.js';

export const policyHelp = `escrow policy validate [DIR]
escrow policy test [DIR] [--cases DIR]
escrow policy explain --request FILE [DIR]`;

export async function policyCommand(_argv: string[]): Promise<number> {
  throw new UsageError('policy tooling is not wired yet');
}

import type { z } from 'zod';
import { EscrowError } from '../gateway/errors.js';
import { formatIssues } from '../gateway/config/issues.js';

/** Validate adapter options with a strict schema; errors name the config path (`targets[0].credential.header`). */
export function parseOptions<S extends z.ZodType>(schema: S, options: unknown, path: string): z.output<S> {
  const result = schema.safeParse(options);
  if (!result.success) {
    throw new EscrowError('config_invalid', formatIssues(result.error.issues, path));
  }
  return result.data;
}

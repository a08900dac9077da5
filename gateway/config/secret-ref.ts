import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { EscrowError } from '../errors.js';

/**
 * Resolve an `env:NAME` or `file:PATH` reference. Relative file paths are resolved against `baseDir`
 * (the config file's directory). A trailing newline in a file is dropped. The error names the reference,
 * never the value.
 */
export function resolveSecretRef(ref: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (ref.startsWith('env:')) {
    const name = ref.slice(4);
    const value = env[name];
    if (value === undefined || value === '') {
      throw new EscrowError('config_invalid', `environment variable ${name} is not set`, { reason: 'missing_secret' });
    }
    return value;
  }
  if (ref.startsWith('file:')) {
    const path = resolve(baseDir, ref.slice(5));
    try {
      return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (cause) {
      throw new EscrowError('config_invalid', `cannot read secret file ${path}`, { cause, reason: 'missing_secret' });
    }
  }
  throw new EscrowError('config_invalid', 'secret must be a reference: env:NAME or file:PATH');
}

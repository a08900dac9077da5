import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { readAdminToken } from '../admin-auth.js';
import { EscrowError } from '../errors.js';
import { formatIssues } from './issues.js';
import { applyOverrides } from './overrides.js';
import { type Config, configSchema } from './schema.js';
import { resolveSecretRef } from './secret-ref.js';

/** A validated, frozen config plus where it came from (relative paths resolve against `baseDir`). */
export interface LoadedConfig {
  readonly config: Config;
  readonly path: string;
  readonly baseDir: string;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * Parse and validate config text. Errors are EscrowError('config_invalid') naming each offending path. With
 * `env`, its listener and demo-upstream overrides (overrides.ts) are applied before validation.
 */
export function parseConfig(text: string, source: string, env?: NodeJS.ProcessEnv): Config {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const line = first.linePos?.[0] ? ` (line ${first.linePos[0].line})` : '';
    throw new EscrowError(
      'config_invalid',
      `${source}${line}: ${first.code === 'DUPLICATE_KEY' ? 'duplicate key' : 'invalid YAML'}`,
      { reason: 'invalid_yaml' },
    );
  }
  const raw: unknown = doc.toJS();
  if (env !== undefined) applyOverrides(raw, env);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new EscrowError('config_invalid', formatIssues(result.error.issues, '', raw), { reason: 'invalid_schema' });
  }
  const names = new Set<string>();
  result.data.targets.forEach((t, i) => {
    if (names.has(t.name)) {
      throw new EscrowError('config_invalid', `targets[${i}].name: duplicate target "${t.name}"`, {
        reason: 'invalid_schema',
      });
    }
    names.add(t.name);
  });
  const issuerNames = new Set<string>();
  result.data.identity.issuers.forEach((issuer, i) => {
    if (issuerNames.has(issuer.name)) {
      throw new EscrowError('config_invalid', `identity.issuers[${i}].name: duplicate issuer "${issuer.name}"`, {
        reason: 'invalid_schema',
      });
    }
    issuerNames.add(issuer.name);
  });
  return result.data;
}

/** Read, validate and freeze `escrow.yaml`. Also checks that the key and admin token references resolve. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const absolute = resolve(path);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (cause) {
    throw new EscrowError('config_invalid', `cannot read config file ${absolute}`, { cause, reason: 'unreadable' });
  }
  const config = parseConfig(text, absolute, env);
  const baseDir = dirname(absolute);
  for (const [name, ref] of [
    ['keys.leaseEncryption', config.keys.leaseEncryption],
    ['keys.auditHmac', config.keys.auditHmac],
  ] as const) {
    try {
      resolveSecretRef(ref, baseDir, env);
    } catch (error) {
      throw new EscrowError('config_invalid', `${name}: ${(error as Error).message}`, { reason: 'missing_secret' });
    }
  }
  if (config.admin.token !== undefined)
    readAdminToken(config.admin.token, (ref) => resolveSecretRef(ref, baseDir, env));
  return deepFreeze({ config, path: absolute, baseDir });
}

import { isAbsolute, resolve } from 'node:path';
import { explainError } from '../gateway/cause.js';
import type { CredentialConfig } from '../gateway/config/schema.js';
import { EscrowError } from '../gateway/errors.js';
import { createBasicAdapter } from './basic.js';
import { createHeaderAdapter } from './header.js';
import { createHmacAdapter } from './hmac.js';
import { createJwtBearerAdapter } from './jwt-bearer.js';
import { loadModule, ModuleLoadError } from './module-loader.js';
import { createOauth2ClientCredentialsAdapter } from './oauth2.js';
import { createPostgresAdapter } from './postgres.js';
import { createQueryAdapter } from './query.js';
import { createRabbitmqAdapter } from './rabbitmq.js';
import type { Adapter, AdapterContext, AdapterFactory } from './types.js';

/** Built-in adapter kinds. A plain read-only map: no global registration at run time. */
export const builtinAdapters: ReadonlyMap<string, AdapterFactory> = new Map<string, AdapterFactory>([
  ['header', createHeaderAdapter],
  ['basic', createBasicAdapter],
  ['query', createQueryAdapter],
  ['oauth2-client-credentials', createOauth2ClientCredentialsAdapter],
  ['jwt-bearer', createJwtBearerAdapter],
  ['rabbitmq', createRabbitmqAdapter],
  ['hmac', createHmacAdapter],
  ['postgres', createPostgresAdapter],
]);

function isModulePath(kind: string): boolean {
  return kind.startsWith('./') || kind.startsWith('../') || isAbsolute(kind);
}

/**
 * Whatever secrets the credential block references, resolved, so that a load error quoting one (a module's top
 * level that throws with a value it read) can be cut: the factory has not run yet, so nothing else knows them.
 */
function referencedSecrets(credential: CredentialConfig, context: AdapterContext): string[] {
  const out: string[] = [];
  for (const value of Object.values(credential)) {
    if (typeof value !== 'string' || !/^(env|file):/.test(value)) continue;
    try {
      out.push(context.resolveSecret(value));
    } catch {
      // an unresolvable reference is the factory's to report
    }
  }
  return out.filter((v) => v.length >= 4);
}

async function loadModuleFactory(
  kind: string,
  credential: CredentialConfig,
  context: AdapterContext,
): Promise<AdapterFactory> {
  let mod: unknown;
  try {
    mod = await loadModule(resolve(context.baseDir, kind));
  } catch (cause) {
    let why = cause instanceof ModuleLoadError ? cause.message : explainError(cause);
    for (const secret of referencedSecrets(credential, context)) why = why.replaceAll(secret, '<redacted>');
    throw new EscrowError('config_invalid', `${context.path}.adapter: cannot load module ${kind}: ${why}`);
  }
  const exports = mod as { default?: unknown; create?: unknown } | undefined;
  // ESM: `export default` (or `export function create`); CommonJS: `module.exports = create` (or `.create`).
  const factory = exports?.default ?? exports?.create ?? mod;
  if (typeof factory !== 'function') {
    throw new EscrowError('config_invalid', `${context.path}.adapter: ${kind} must export a default factory function`);
  }
  return factory as AdapterFactory;
}

function checkAdapter(adapter: unknown, path: string): Adapter {
  const a = adapter as Partial<Adapter> | null;
  if (!a || typeof a.issue !== 'function' || typeof a.inject !== 'function') {
    throw new EscrowError('config_invalid', `${path}.adapter: the factory must return { issue, inject, revoke? }`);
  }
  return a as Adapter;
}

/**
 * A module factory's own error, as a config error at the right path. Plain modules cannot import EscrowError,
 * so `Error('tenant: required')` becomes `targets[0].credential.tenant: required`. Any secret the factory
 * resolved is cut out of the message, and the original is kept as `cause` only when it does not carry one.
 */
function moduleError(error: unknown, context: AdapterContext, resolved: readonly string[]): EscrowError {
  if (error instanceof EscrowError) {
    // e.g. a reference that does not resolve: still say which target's credential it is.
    if (error.message.startsWith(context.path)) return error;
    return new EscrowError(error.code, `${context.path}: ${error.message}`, {
      cause: error.cause,
      reason: error.reason,
    });
  }
  let message = error instanceof Error ? error.message : String(error);
  for (const secret of resolved) message = message.replaceAll(secret, '<redacted>');
  const text = `${message}\n${error instanceof Error ? (error.stack ?? '') : ''}`;
  const cause = resolved.some((secret) => text.includes(secret)) ? undefined : { cause: error };
  const keyed = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*|\[\d+\])*: /.test(message);
  return new EscrowError('config_invalid', keyed ? `${context.path}.${message}` : `${context.path}: ${message}`, cause);
}

async function buildModuleAdapter(factory: AdapterFactory, credential: CredentialConfig, context: AdapterContext) {
  const resolved: string[] = [];
  const watched: AdapterContext = {
    ...context,
    resolveSecret: (ref) => {
      const value = context.resolveSecret(ref);
      resolved.push(value);
      return value;
    },
  };
  try {
    return checkAdapter(await factory(credential, watched), context.path);
  } catch (error) {
    throw moduleError(error, context, resolved);
  }
}

/** Build the adapter for one target's `credential` block; validates options now, at start. */
export async function createAdapter(credential: CredentialConfig, context: AdapterContext): Promise<Adapter> {
  const kind = credential.adapter;
  const builtin = builtinAdapters.get(kind);
  if (builtin) return checkAdapter(builtin(credential, context), context.path);
  if (!isModulePath(kind)) {
    const known = [...builtinAdapters.keys()].join(', ');
    throw new EscrowError(
      'config_invalid',
      `${context.path}.adapter: unknown adapter "${kind}" (known: ${known}, or ./path/to/module.mjs|.cjs|.js)`,
    );
  }
  return buildModuleAdapter(await loadModuleFactory(kind, credential, context), credential, context);
}

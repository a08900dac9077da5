import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CredentialConfig } from '../gateway/config/schema.js';
import { EscrowError } from '../gateway/errors.js';
import { createBasicAdapter } from './basic.js';
import { createHeaderAdapter } from './header.js';
import type { Adapter, AdapterContext, AdapterFactory } from './types.js';

/** Built-in adapter kinds. A plain read-only map: no global registration at run time. */
export const builtinAdapters: ReadonlyMap<string, AdapterFactory> = new Map<string, AdapterFactory>([
  ['header', createHeaderAdapter],
  ['basic', createBasicAdapter],
]);

function isModulePath(kind: string): boolean {
  return kind.startsWith('./') || kind.startsWith('../') || isAbsolute(kind);
}

async function loadModuleFactory(kind: string, context: AdapterContext): Promise<AdapterFactory> {
  const url = pathToFileURL(resolve(context.baseDir, kind)).href;
  let mod: { default?: unknown; create?: unknown };
  try {
    mod = (await import(url)) as { default?: unknown; create?: unknown };
  } catch (cause) {
    throw new EscrowError('config_invalid', `${context.path}.adapter: cannot load module ${kind}`, { cause });
  }
  const factory = mod.default ?? mod.create;
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

/** Build the adapter for one target's `credential` block; validates options now, at start. */
export async function createAdapter(credential: CredentialConfig, context: AdapterContext): Promise<Adapter> {
  const kind = credential.adapter;
  const factory = builtinAdapters.get(kind) ?? (isModulePath(kind) ? await loadModuleFactory(kind, context) : undefined);
  if (!factory) {
    const known = [...builtinAdapters.keys()].join(', ');
    throw new EscrowError('config_invalid', `${context.path}.adapter: unknown adapter "${kind}" (known: ${known}, or ./path/to/module.js)`);
  }
  return checkAdapter(factory(credential, context), context.path);
}

import { readFileSync } from 'node:fs';
import { auditSinks } from '../audit/config.js';
import type { RetentionState, TrailEntry } from '../audit/verify.js';
import { loadConfig } from '../config/load.js';
import { resolveSecretRef } from '../config/secret-ref.js';
import { createStore } from '../store/index.js';
import { keyLayout } from '../store/keys.js';
import { configPath } from './common.js';

/** What `escrow audit trace|verify` read, and from where. */
export interface AuditSource {
  /** For people: `file audit.log`, `Redis stream escrow:audit at 127.0.0.1:6379`. */
  readonly name: string;
  readonly entries: readonly TrailEntry[];
  readonly retention?: RetentionState;
  /** Why this source cannot hold the events asked about, when it cannot (the stream sink is off, …). */
  readonly caveat?: string;
}

/** The lines of a file (or of standard input for `-`); a last line without its newline is kept (a torn write). */
function readFileSource(file: string): AuditSource {
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return { name: file === '-' ? 'standard input' : `file ${file}`, entries: lines.map((line) => ({ line })) };
}

/** Where the store is, without credentials. */
function storeName(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.host || url.split('://')[0] || url;
  } catch {
    return 'the configured store';
  }
}

function caveatFor(sinks: readonly string[], store: string): string | undefined {
  if (store.startsWith('memory:')) {
    return 'this config uses the in-memory store: its stream lived and ended with the Escrow process (read a file sink with --file)';
  }
  if (sinks.includes('redis')) return undefined;
  const files = sinks.filter((sink) => sink.startsWith('file:')).map((sink) => sink.slice(5));
  const hint = files.length > 0 ? `; read the file sink instead: --file ${files[0]}` : '';
  return `the Redis stream sink is off in this config (audit.sinks: [${sinks.join(', ')}])${hint}`;
}

async function readStreamSource(configFlag: string | undefined): Promise<AuditSource> {
  const { config, baseDir } = loadConfig(configPath(configFlag).path);
  const key = keyLayout(config.storePrefix).audit;
  const name = `Redis stream ${key} at ${storeName(config.store)}`;
  const caveat = caveatFor(auditSinks(config), config.store);
  if (config.store.startsWith('memory:')) return { name: `the in-memory store's stream`, entries: [], caveat };
  const store = await createStore({
    url: config.store,
    prefix: config.storePrefix,
    timeoutMs: 5_000,
    ...(config.storePassword ? { password: resolveSecretRef(config.storePassword, baseDir) } : {}),
  });
  try {
    const contents = await store.events.read();
    const retention: RetentionState = {
      ...(contents.trimmedBefore ? { trimmedBefore: contents.trimmedBefore } : {}),
      trimmed: contents.trimmed,
      origins: contents.origins,
    };
    return { name, entries: contents.entries, retention, ...(caveat ? { caveat } : {}) };
  } finally {
    await store.close();
  }
}

/** `--file FILE` (or `-`), else the store's stream as the config names it. */
export function readAuditSource(file: string | undefined, configFlag: string | undefined): Promise<AuditSource> {
  return file !== undefined ? Promise.resolve(readFileSource(file)) : readStreamSource(configFlag);
}

/** What to say when a source holds no events: that it is empty, and why it may be. */
export function emptySource(source: AuditSource): string {
  return `No audit events in ${source.name}${source.caveat ? `: ${source.caveat}` : ''}.`;
}

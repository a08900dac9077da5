import { EscrowError } from '../errors.js';
import { listenAddress } from './schema.js';

/**
 * Where a process may be moved without editing its config: the two listeners and the demo upstream of a dev
 * config. Read from the environment by every command that loads a config (so `escrow revoke` finds an admin
 * listener that was moved, and a SIGHUP reload compares like with like); `escrow start --listen/--admin/
 * --upstream-port` set the same variables.
 */
export const OVERRIDES = [
  { env: 'ESCROW_LISTEN', flag: '--listen', key: 'proxy.listen' },
  { env: 'ESCROW_ADMIN_LISTEN', flag: '--admin', key: 'admin.listen' },
  { env: 'ESCROW_UPSTREAM_PORT', flag: '--upstream-port', key: 'the demo upstream' },
] as const;

type Raw = Record<string, unknown>;

function invalid(index: number, message: string): never {
  const { env, flag } = OVERRIDES[index]!;
  throw new EscrowError('config_invalid', `${env} (or ${flag}): ${message}`);
}

function section(raw: Raw, key: string): Raw {
  const value = raw[key];
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Raw;
  const created: Raw = {};
  raw[key] = created;
  return created;
}

function listen(env: NodeJS.ProcessEnv, index: number): string | undefined {
  const value = env[OVERRIDES[index]!.env];
  if (value === undefined || value === '') return undefined;
  if (!listenAddress.safeParse(value).success) invalid(index, 'must be host:port');
  return value;
}

/**
 * Move every target of the demo upstream (the origin of the first target, as `escrow start` serves it) to
 * `port`. Only a config that runs the demo upstream has one to move.
 */
function moveDemoUpstream(raw: Raw, value: string): void {
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value) || port < 1 || port > 65_535) invalid(2, 'must be a port number (1–65535)');
  const dev = raw.dev as Raw | undefined;
  if (dev?.demoUpstream !== true) invalid(2, 'only a config with dev.demoUpstream: true runs the demo upstream');
  const targets = Array.isArray(raw.targets) ? (raw.targets as Raw[]) : [];
  const first = targets[0]?.upstream;
  if (typeof first !== 'string' || !URL.canParse(first)) return;
  const origin = new URL(first).origin;
  for (const target of targets) {
    if (typeof target.upstream !== 'string' || !URL.canParse(target.upstream)) continue;
    const url = new URL(target.upstream);
    if (url.origin !== origin) continue;
    url.port = String(port);
    target.upstream = url.pathname === '/' && !target.upstream.endsWith('/') ? url.origin : url.href;
  }
}

/** Apply the environment's overrides to a parsed (not yet validated) config document, in place. */
export function applyOverrides(raw: unknown, env: NodeJS.ProcessEnv): void {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return;
  const doc = raw as Raw;
  const proxy = listen(env, 0);
  if (proxy !== undefined) section(doc, 'proxy').listen = proxy;
  const admin = listen(env, 1);
  if (admin !== undefined) section(doc, 'admin').listen = admin;
  const upstream = env[OVERRIDES[2].env];
  if (upstream !== undefined && upstream !== '') moveDemoUpstream(doc, upstream);
}

import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Agent, type Dispatcher, fetch } from 'undici';
import { parse } from 'yaml';
import { formatIssues } from '../config/issues.js';
import { reachableUrl } from '../config/listen.js';
import { adminSchema } from '../config/schema.js';
import { resolveSecretRef } from '../config/secret-ref.js';
import { EscrowError } from '../errors.js';
import { configPath } from './common.js';

/** The options every admin command takes (`parseArgs` form). */
export const ADMIN_OPTIONS = {
  admin: { type: 'string' },
  config: { type: 'string' },
  'token-file': { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  ca: { type: 'string' },
} as const;

export interface AdminFlags {
  readonly admin?: string | undefined;
  readonly config?: string | undefined;
  readonly 'token-file'?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly ca?: string | undefined;
}

/** Where the admin API is and how to present the admin credential. */
export interface AdminAccess {
  readonly url: string;
  readonly token?: string;
  readonly dispatcher?: Dispatcher;
}

/**
 * The admin address and token from the config file's `admin` section only: nothing else in the file is
 * validated or resolved, so the CLI works on an operator's machine where the gateway's other secrets are unset.
 */
function adminFromConfig(path: string): { url: string; token?: string } {
  let raw: unknown;
  try {
    raw = (parse(readFileSync(path, 'utf8')) as { admin?: unknown } | null)?.admin ?? {};
  } catch (cause) {
    throw new EscrowError('config_invalid', `cannot read the admin section of ${path}`, { cause });
  }
  const result = adminSchema.safeParse(raw);
  if (!result.success) throw new EscrowError('config_invalid', formatIssues(result.error.issues, 'admin', raw));
  const admin = result.data;
  const url = reachableUrl(admin.listen, admin.cert ? 'https' : 'http');
  if (admin.token === undefined) return { url };
  try {
    return { url, token: resolveSecretRef(admin.token, dirname(path)) };
  } catch (error) {
    throw new EscrowError('config_invalid', `admin.token: ${(error as Error).message}`);
  }
}

/**
 * Flags first (`--admin`, `--token-file`, `--cert`/`--key`/`--ca`), then `$ESCROW_ADMIN_URL` and
 * `$ESCROW_ADMIN_TOKEN`, then the `admin` section of the config (`--config`, `$ESCROW_CONFIG`, the dev default).
 */
export function adminAccess(flags: AdminFlags): AdminAccess {
  let url = flags.admin ?? process.env.ESCROW_ADMIN_URL;
  let token = flags['token-file'] ? readFileSync(flags['token-file'], 'utf8').trim() : process.env.ESCROW_ADMIN_TOKEN;
  if (url === undefined || (token === undefined && flags.cert === undefined && flags.config !== undefined)) {
    const fromConfig = adminFromConfig(configPath(flags.config).path);
    url ??= fromConfig.url;
    token ??= fromConfig.token;
  }
  const tls = flags.cert !== undefined || flags.ca !== undefined;
  const read = (file: string | undefined) => (file === undefined ? undefined : readFileSync(file, 'utf8'));
  const dispatcher = tls
    ? new Agent({ connect: { cert: read(flags.cert), key: read(flags.key), ca: read(flags.ca) } })
    : undefined;
  return { url: url.replace(/\/+$/, ''), ...(token ? { token } : {}), ...(dispatcher ? { dispatcher } : {}) };
}

/** Call a running Escrow's admin API; a refused connection or an error status becomes a readable error. */
export async function callAdmin(path: string, method: string, access: AdminAccess): Promise<unknown> {
  let res: Awaited<ReturnType<typeof fetch>>;
  try {
    res = await fetch(`${access.url}${path}`, {
      method,
      headers: access.token ? { authorization: `Bearer ${access.token}` } : {},
      ...(access.dispatcher ? { dispatcher: access.dispatcher } : {}),
    });
  } catch {
    throw new Error(`cannot reach the admin API at ${access.url} (is Escrow running? pass --admin URL)`);
  }
  const body = (await res.json().catch(() => ({}))) as { detail?: string };
  if (res.status === 401) {
    throw new Error(`${method} ${path}: 401 ${body.detail ?? ''} (give --token-file, $ESCROW_ADMIN_TOKEN or --cert)`);
  }
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${body.detail ?? ''}`);
  return body;
}

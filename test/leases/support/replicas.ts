import { randomBytes } from 'node:crypto';
import { type EscrowOptions, startEscrow, type TestEscrow } from '../../support/escrow.js';
import { createIssuerKeys } from '../../support/keys.js';
import { deletePrefix, testPrefix } from '../../support/redis.js';

export interface Replicas {
  readonly all: readonly TestEscrow[];
  readonly prefix: string;
  close(): Promise<void>;
}

/**
 * `count` in-process Escrow replicas over one Redis: same key prefix, same lease and audit keys, same
 * identity issuer — what several pods of one deployment share.
 */
export async function startReplicas(count: number, options: Omit<EscrowOptions, 'prefix'>): Promise<Replicas> {
  const prefix = testPrefix('replicas');
  const keys = options.keys ?? (await createIssuerKeys());
  const secrets = options.secrets ?? {
    leaseKey: randomBytes(32).toString('base64'),
    auditKey: randomBytes(32).toString('base64'),
  };
  const all: TestEscrow[] = [];
  try {
    for (let i = 0; i < count; i++) all.push(await startEscrow({ ...options, prefix, keys, secrets }));
  } catch (error) {
    await Promise.all(all.map((e) => e.close()));
    await deletePrefix(prefix);
    throw error;
  }
  return {
    all,
    prefix,
    async close() {
      await Promise.all(all.map((e) => e.close()));
      await deletePrefix(prefix);
    },
  };
}

/** One proxied GET as `token` within `task`. */
export async function callTarget(
  escrow: TestEscrow,
  token: string,
  task: string,
  path = '/minted/v1/items',
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${escrow.url}${path}`, {
    headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task },
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

/** Audit events of every replica, of one kind. */
export async function eventsOf(replicas: readonly TestEscrow[], event: string): Promise<Record<string, unknown>[]> {
  const lists = await Promise.all(replicas.map((r) => r.auditEvents()));
  return lists.flat().filter((e) => e.event === event);
}

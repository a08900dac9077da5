import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';

/** Absolute path of the adapter module that uses a mint (reference it as `credential.adapter`). */
export const MINTING_ADAPTER = resolve(import.meta.dirname, 'minting-adapter.js');

export interface MintedKey {
  readonly leaseId: string;
  readonly taskId: string;
  readonly key: string;
  readonly issuedAt: number;
  revokedAt?: number;
}

export interface MintOptions {
  /** How long issuing one key takes (makes concurrent first requests overlap). */
  readonly issueDelayMs?: number;
  /** How long revoking one key takes. */
  readonly revokeDelayMs?: number;
  /** Answer 503 to this many revocations before accepting them (retries). */
  readonly failRevocations?: number;
}

export interface Mint {
  readonly url: string;
  readonly keys: MintedKey[];
  /** Revocations being processed right now, and the most seen at once. */
  readonly revoking: { now: number; max: number; attempts: number };
  /** Upstream requests, by whether their key was live. */
  readonly calls: { accepted: number; refused: number };
  /** Hold every revocation (received, counted, not answered) until the returned function is called. */
  holdRevocations(): () => void;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

/**
 * A real credential service and upstream in one: `POST /issue` mints a canary key per lease, `DELETE
 * /keys/<leaseId>` revokes it, and every other request is the upstream API, which accepts only live keys in
 * `x-api-key` (401 otherwise) — so a revoked credential really stops working.
 */
export async function startMint(options: MintOptions = {}): Promise<Mint> {
  const keys: MintedKey[] = [];
  const revoking = { now: 0, max: 0, attempts: 0 };
  const calls = { accepted: 0, refused: 0 };
  let failuresLeft = options.failRevocations ?? 0;
  let held: Promise<void> = Promise.resolve();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'POST' && req.url === '/issue') {
      const { leaseId, taskId } = JSON.parse(await body(req)) as { leaseId: string; taskId: string };
      await sleep(options.issueDelayMs ?? 0);
      const key = `canary-mint-${randomBytes(12).toString('hex')}`;
      keys.push({ leaseId, taskId, key, issuedAt: Date.now() });
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ key }));
      return;
    }
    const revoke = /^\/keys\/([\w-]+)$/.exec(req.url ?? '');
    if (req.method === 'DELETE' && revoke) {
      revoking.attempts++;
      revoking.max = Math.max(revoking.max, ++revoking.now);
      await held;
      await sleep(options.revokeDelayMs ?? 0);
      revoking.now--;
      if (failuresLeft > 0) {
        failuresLeft--;
        res.writeHead(503).end();
        return;
      }
      const minted = keys.find((k) => k.leaseId === revoke[1]);
      if (minted && minted.revokedAt === undefined) minted.revokedAt = Date.now();
      res.writeHead(minted ? 204 : 404).end();
      return;
    }
    await body(req);
    const presented = req.headers['x-api-key'];
    const live = keys.find((k) => k.key === presented && k.revokedAt === undefined);
    if (live) calls.accepted++;
    else calls.refused++;
    res
      .writeHead(live ? 200 : 401, { 'content-type': 'application/json' })
      .end(JSON.stringify(live ? { ok: true, leaseId: live.leaseId } : { ok: false }));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    keys,
    revoking,
    calls,
    holdRevocations() {
      let release = () => {};
      held = new Promise((resolve) => {
        release = resolve;
      });
      return release;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** A target entry for `startEscrow` whose credentials come from `mint`. */
export function mintTarget(mint: Mint, name = 'minted', ttl = 300): Record<string, unknown> {
  return {
    name,
    upstream: mint.url,
    attributes: { sensitivity: 'low', environment: 'dev' },
    credential: { adapter: MINTING_ADAPTER, ttl, mintUrl: mint.url },
  };
}

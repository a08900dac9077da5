import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EscrowProcess, REPO_ROOT, startEscrowProcess } from '../support/escrow-process.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';
import { waitFor } from './support/ports.js';

const KEY_V1 = 'canary-sighup-v1-0b5e71';
const KEY_V2 = 'canary-sighup-v2-c2d4a8';
const KEY_V3 = 'canary-sighup-v3-9f1a33';

type Target = Record<string, unknown> & { credential: Record<string, unknown> };

describe('SIGHUP re-reads the config: credentials and policies apply all at once, anything else keeps the old config', () => {
  let upstream: TestUpstream;
  let escrow: EscrowProcess;
  let policies: string;
  let token: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    policies = mkdtempSync(join(tmpdir(), 'escrow-sighup-policies-'));
    cpSync(join(REPO_ROOT, 'policies'), policies, { recursive: true });
    escrow = await startEscrowProcess({
      store: 'memory://',
      config: { policies },
      files: { 'key-v1': KEY_V1, 'key-v2': KEY_V2, 'key-v3': KEY_V3 },
      targets: [echoTarget(upstream.url, 'file:key-v1')],
    });
    token = await escrow.token();
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
    rmSync(policies, { recursive: true, force: true });
  });

  /** The key the upstream receives for a request in a fresh task (a fresh lease). */
  async function keySeen(): Promise<{ status: number; key: unknown }> {
    const task = await escrow.openTask(token, ['echo']);
    const res = await fetch(`${escrow.url}/echo/k`, {
      headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task },
    });
    await res.arrayBuffer();
    return { status: res.status, key: res.status === 200 ? upstream.requests.at(-1)?.headers['x-api-key'] : undefined };
  }

  async function hangup(): Promise<Record<string, unknown>> {
    const count = escrow.logs().filter((l) => String(l.msg).startsWith('SIGHUP')).length;
    escrow.proc.kill('SIGHUP');
    await waitFor(() => escrow.logs().filter((l) => String(l.msg).startsWith('SIGHUP')).length > count, 10_000);
    return escrow
      .logs()
      .filter((l) => String(l.msg).startsWith('SIGHUP'))
      .at(-1)!;
  }

  const editTarget = (edit: (t: Target) => Target) =>
    escrow.rewriteConfig((config) => ({ ...config, targets: (config.targets as Target[]).map(edit) }));

  it('applies a new credential to new leases; a lease already issued keeps its credential', async () => {
    const oldTask = await escrow.openTask(token, ['echo']);
    const call = () =>
      fetch(`${escrow.url}/echo/k`, { headers: { authorization: `Bearer ${token}`, 'x-escrow-task': oldTask } });
    await (await call()).arrayBuffer();
    expect(upstream.requests.at(-1)?.headers['x-api-key']).toBe(KEY_V1);
    editTarget((t) => ({ ...t, credential: { ...t.credential, value: 'file:key-v2' } }));
    expect(await hangup()).toMatchObject({ msg: 'SIGHUP: config reloaded', targets: ['echo'] });
    expect(await keySeen()).toEqual({ status: 200, key: KEY_V2 });
    await (await call()).arrayBuffer();
    expect(upstream.requests.at(-1)?.headers['x-api-key']).toBe(KEY_V1);
  });

  it('keeps the running config when the new file does not validate, and keeps serving', async () => {
    escrow.rewriteConfig((config) => ({ ...config, surprise: true }));
    const line = await hangup();
    expect(line).toMatchObject({ msg: 'SIGHUP: the new config was rejected; the running config is kept', level: 50 });
    expect(String(line.err)).toContain('surprise');
    expect(await keySeen()).toEqual({ status: 200, key: KEY_V2 });
    expect((await fetch(`${escrow.adminUrl}/readyz`)).status).toBe(200);
  });

  it('applies nothing when a change needs a restart, and names what changed', async () => {
    escrow.rewriteConfig(({ surprise: _, ...config }) => ({
      ...config,
      tasks: { maxOpenPerPrincipal: 7 },
      targets: (config.targets as Target[]).map((t) => ({
        ...t,
        credential: { ...t.credential, value: 'file:key-v3' },
      })),
    }));
    expect(await hangup()).toMatchObject({
      msg: 'SIGHUP: these changes need a restart; the running config is kept',
      paths: ['tasks.maxOpenPerPrincipal'],
    });
    expect(await keySeen()).toEqual({ status: 200, key: KEY_V2 }); // not v3: all or nothing
  });

  it('reloads policies with the credentials, and keeps both when a policy does not validate', async () => {
    escrow.rewriteConfig(({ tasks: _, ...config }) => config); // only the credential change (v3) remains
    writeFileSync(
      join(policies, 'zz-no-echo.cedar'),
      '@id("no-echo-denied")\nforbid (principal, action, resource is Escrow::Target) when { context.request.path == "/denied" };',
    );
    writeFileSync(
      join(policies, 'zz-broken.cedar'),
      '@id("broken")\npermit (principal, action, resource is Escrow::Target) when { resource.nope };',
    );
    expect(await hangup()).toMatchObject({ msg: 'SIGHUP: the new config was rejected; the running config is kept' });
    expect(await keySeen()).toEqual({ status: 200, key: KEY_V2 });
    rmSync(join(policies, 'zz-broken.cedar'));
    expect(await hangup()).toMatchObject({ msg: 'SIGHUP: config reloaded' });
    expect(await keySeen()).toEqual({ status: 200, key: KEY_V3 });
    const task = await escrow.openTask(token, ['echo']);
    const denied = await fetch(`${escrow.url}/echo/denied`, {
      headers: { authorization: `Bearer ${token}`, 'x-escrow-task': task },
    });
    expect(denied.status).toBe(403);
  });

  it('never writes a credential value to its logs', () => {
    for (const key of [KEY_V1, KEY_V2, KEY_V3]) expect(escrow.output()).not.toContain(key);
  });
});

import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { RELOAD_RESULTS } from '../../gateway/metric-labels.js';
import { type EscrowProcess, REPO_ROOT, startEscrowProcess } from '../support/escrow-process.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';
import { metricValue } from './support/metrics.js';
import { waitFor } from './support/ports.js';

type Target = Record<string, unknown> & { credential: Record<string, unknown> };

/**
 * Every SIGHUP outcome is counted in `escrow_config_reloads_total{result}` (so that EscrowConfigReloadRejected can
 * fire), each under its own reason, on a real process.
 */
describe('escrow_config_reloads_total counts every SIGHUP outcome under its own result', () => {
  let upstream: TestUpstream;
  let escrow: EscrowProcess;
  let policies: string;
  let original: Record<string, unknown>;

  beforeAll(async () => {
    upstream = await startUpstream();
    policies = mkdtempSync(join(tmpdir(), 'escrow-sighup-outcomes-'));
    cpSync(join(REPO_ROOT, 'policies'), policies, { recursive: true });
    escrow = await startEscrowProcess({
      store: 'memory://',
      config: { policies },
      files: { key: 'canary-reload-outcome-1f2e3d' },
      targets: [echoTarget(upstream.url, 'file:key')],
    });
    escrow.rewriteConfig((config) => {
      original = config;
      return config;
    });
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
    rmSync(policies, { recursive: true, force: true });
  });

  async function counts(): Promise<Record<string, number>> {
    const text = await (await fetch(`${escrow.adminUrl}/metrics`)).text();
    return Object.fromEntries(
      RELOAD_RESULTS.map((result) => [result, metricValue(text, 'escrow_config_reloads_total', { result })]),
    );
  }

  /** Send SIGHUP and wait until it is counted; returns which results moved. */
  async function hangup(): Promise<Record<string, number>> {
    const before = await counts();
    const total = (c: Record<string, number>) => Object.values(c).reduce((sum, n) => sum + n, 0);
    escrow.proc.kill('SIGHUP');
    let after = before;
    await waitFor(async () => {
      after = await counts();
      return total(after) > total(before);
    }, 10_000);
    return Object.fromEntries(
      RELOAD_RESULTS.flatMap((r) => (after[r] !== before[r] ? [[r, after[r]! - before[r]!]] : [])),
    );
  }

  const restore = () => writeFileSync(escrow.configPath, stringify(original));
  const editTarget = (edit: (t: Target) => Target) =>
    escrow.rewriteConfig((config) => ({ ...config, targets: (config.targets as Target[]).map(edit) }));

  it('starts every result at 0', async () => {
    expect(Object.values(await counts())).toEqual(RELOAD_RESULTS.map(() => 0));
  });

  it('counts an applied reload', async () => {
    expect(await hangup()).toEqual({ applied: 1 });
  });

  it('counts broken YAML', async () => {
    writeFileSync(escrow.configPath, 'proxy: [unclosed\n');
    expect(await hangup()).toEqual({ invalid_yaml: 1 });
    restore();
  });

  it('counts a schema error', async () => {
    escrow.rewriteConfig((config) => ({ ...config, surprise: true }));
    expect(await hangup()).toEqual({ invalid_schema: 1 });
    restore();
  });

  it('counts a secret that cannot be read', async () => {
    editTarget((t) => ({ ...t, credential: { ...t.credential, value: 'file:no-such-key' } }));
    expect(await hangup()).toEqual({ missing_secret: 1 });
    restore();
  });

  it('counts a change that needs a restart', async () => {
    escrow.rewriteConfig((config) => ({ ...config, tasks: { maxOpenPerPrincipal: 7 } }));
    expect(await hangup()).toEqual({ restart_required: 1 });
    restore();
  });

  it('counts a policy set that does not validate', async () => {
    writeFileSync(join(policies, 'zz-broken.cedar'), 'permit (principal, action, resource) when { resource.nope };');
    expect(await hangup()).toEqual({ invalid_policy: 1 });
    rmSync(join(policies, 'zz-broken.cedar'));
    expect(await hangup()).toEqual({ applied: 1 });
  });

  it('audits each reload as config.reloaded with its result', async () => {
    const results = () =>
      escrow
        .auditEvents()
        .filter((event) => event.event === 'config.reloaded')
        .map((event) => event.result);
    // The event of the last reload is written in the batch after the metric moved.
    await expect
      .poll(results)
      .toEqual([
        'applied',
        'invalid_yaml',
        'invalid_schema',
        'missing_secret',
        'restart_required',
        'invalid_policy',
        'applied',
      ]);
  });
});

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

/**
 * The monitoring files in deploy/ run against the real Prometheus (the Debian package; .ci/run installs it):
 * promtool checks the config and the rules and runs the rules' unit tests, then a drill scrapes a real Escrow
 * with a config derived from deploy/prometheus/prometheus.yml and runs every dashboard query against it.
 */

const root = resolve(import.meta.dirname, '../..');
const PROMETHEUS_YML = join(root, 'deploy/prometheus/prometheus.yml');
const ALERTS_YML = join(root, 'deploy/prometheus/alerts.yml');
const ALERTS_TEST_YML = join(root, 'deploy/prometheus/alerts.test.yml');
const DASHBOARD_JSON = join(root, 'deploy/grafana/dashboard.json');

/** What `$__rate_interval` stands for in the drill: at 1 s scrapes it covers the whole traffic and then some. */
const RATE_WINDOW = '1m';

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const missing = ['prometheus', 'promtool'].filter((command) => !onPath(command));
const skipReason = `${missing.join(' and ')} not on PATH (Debian/Ubuntu: apt-get install prometheus)`;
const title = (name: string) => (missing.length > 0 ? `${name} — skipped: ${skipReason}` : name);

// In CI a missing binary is a broken setup, not a reason to skip the only check that runs these files.
it.runIf(Boolean(process.env.CI))('has the Prometheus binaries in CI (.ci/run installs them)', () => {
  expect(missing, `${skipReason}. .ci/run installs the Debian package prometheus when promtool is missing.`).toEqual(
    [],
  );
});

/** Run a command to completion (async: Escrow may be serving scrapes in this same process). */
function run(command: string, args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((done) => {
    execFile(command, args, { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      done({
        code,
        output: `$ ${command} ${args.join(' ')}\n${stdout}${stderr}${error && code === -1 ? error.message : ''}`,
      });
    });
  });
}

interface PrometheusConfig {
  global: { scrape_interval: string; evaluation_interval: string };
  rule_files: string[];
  scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
}

/** deploy/prometheus/prometheus.yml with its rule file pointing at this repository's alerts.yml. */
function repoConfig(): PrometheusConfig {
  const config = parse(readFileSync(PROMETHEUS_YML, 'utf8')) as PrometheusConfig;
  config.rule_files = [ALERTS_YML];
  return config;
}

describe.skipIf(missing.length > 0)(
  title('promtool accepts the config and the rules, and their unit tests pass'),
  () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'escrow-promtool-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('promtool check config deploy/prometheus/prometheus.yml (rule_files → the repository’s alerts.yml)', async () => {
      const file = join(dir, 'prometheus.yml');
      writeFileSync(file, stringify(repoConfig()));
      const { code, output } = await run('promtool', ['check', 'config', file]);
      expect(code, output).toBe(0);
    });

    it('promtool check rules deploy/prometheus/alerts.yml', async () => {
      const { code, output } = await run('promtool', ['check', 'rules', ALERTS_YML]);
      expect(code, output).toBe(0);
    });

    it('promtool test rules deploy/prometheus/alerts.test.yml', async () => {
      const { code, output } = await run('promtool', ['test', 'rules', ALERTS_TEST_YML]);
      expect(code, output).toBe(0);
    });
  },
);

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** Thrown by a `waitFor` check when waiting longer cannot help (the process it waits on has exited). */
class GaveUp extends Error {}

/** Poll `check` until it returns true (errors count as "not yet"); on timeout throw with what `explain` says. */
async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  explain = () => '',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = await check().catch((error: unknown) => {
      if (error instanceof GaveUp) throw error;
      return false;
    });
    if (done) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${explain()}`);
    await sleep(250);
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

interface ApiAnswer<T> {
  readonly status: 'success' | 'error';
  readonly data: T;
  readonly error?: string;
}

class Prometheus {
  #log = '';
  #exited = false;

  private constructor(
    readonly url: string,
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.#log = (this.#log + chunk.toString()).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('exit', () => {
      this.#exited = true;
    });
  }

  /** The real binary on a free port, its TSDB in a tmp dir; resolves once /-/ready answers. */
  static async start(config: PrometheusConfig): Promise<Prometheus> {
    const dir = mkdtempSync(join(tmpdir(), 'escrow-prometheus-'));
    writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
    const listen = `127.0.0.1:${await freePort()}`;
    const child = spawn(
      'prometheus',
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=${listen}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const prometheus = new Prometheus(`http://${listen}`, dir, child);
    try {
      await waitFor(
        'Prometheus to be ready',
        () => prometheus.ready(),
        30_000,
        () => prometheus.log,
      );
    } catch (error) {
      await prometheus.stop();
      throw error;
    }
    return prometheus;
  }

  async ready(): Promise<boolean> {
    if (this.#exited) throw new GaveUp(`prometheus exited:\n${this.log}`);
    return (await fetch(`${this.url}/-/ready`)).ok;
  }

  get log(): string {
    return this.#log;
  }

  async api<T>(path: string): Promise<ApiAnswer<T>> {
    return (await (await fetch(`${this.url}${path}`)).json()) as ApiAnswer<T>;
  }

  query(expr: string): Promise<ApiAnswer<{ result: { metric: Record<string, string>; value: [number, string] }[] }>> {
    return this.api(`/api/v1/query?query=${encodeURIComponent(expr)}`);
  }

  /** SIGTERM, then SIGKILL if it has not exited within 5 s; then its TSDB goes. */
  async stop(): Promise<void> {
    if (!this.#exited) {
      const exited = new Promise((done) => this.child.once('exit', done));
      this.child.kill('SIGTERM');
      const inTime = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
      if (!inTime) {
        this.child.kill('SIGKILL');
        await exited;
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

interface ScrapeTarget {
  readonly labels: Record<string, string>;
  readonly health: 'up' | 'down' | 'unknown';
  readonly lastScrape: string;
  readonly lastError: string;
}

/** deploy/prometheus/prometheus.yml with only the scrape target, the intervals and the rule file changed. */
function drillConfig(adminHost: string): PrometheusConfig {
  const config = repoConfig();
  config.global.scrape_interval = '1s';
  config.global.evaluation_interval = '1s';
  const [job, ...others] = config.scrape_configs;
  expect(others, 'prometheus.yml is expected to have one scrape job').toEqual([]);
  expect(job?.static_configs).toHaveLength(1);
  job!.static_configs[0]!.targets = [adminHost];
  return config;
}

interface Panel {
  readonly title?: string;
  readonly panels?: Panel[];
  readonly targets?: { readonly expr?: string; readonly refId?: string }[];
}

/** Every panel query of the dashboard (rows' nested panels included), named by panel title and refId. */
function dashboardQueries(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_JSON, 'utf8')) as { panels: Panel[] };
  const walk = (panels: readonly Panel[]): { panel: string; expr: string }[] =>
    panels.flatMap((panel) => [
      ...(panel.targets ?? []).flatMap((target) =>
        target.expr ? [{ panel: `${panel.title} (${target.refId ?? '?'})`, expr: target.expr }] : [],
      ),
      ...walk(panel.panels ?? []),
    ]);
  return walk(dashboard.panels);
}

/** Grafana's variables as the dashboard's "All" selection sends them. */
function substituteVariables(expr: string): string {
  return expr
    .replace(/\$\{?(target|instance)\}?/g, '.*')
    .replace(/\$\{?__rate_interval\}?/g, RATE_WINDOW)
    .replace(/\$\{?datasource\}?/g, 'escrow-prometheus');
}

function alertNames(): string[] {
  const doc = parse(readFileSync(ALERTS_YML, 'utf8')) as { groups: { rules: { alert?: string }[] }[] };
  return doc.groups.flatMap((group) => group.rules.flatMap((rule) => (rule.alert ? [rule.alert] : [])));
}

const CANARY = 'canary-drill-prom-6c1f0e9a';

describe.skipIf(missing.length > 0)(
  title('drill: the real Prometheus scrapes a real Escrow with the deploy/ files'),
  () => {
    let upstream: TestUpstream;
    let escrow: TestEscrow | undefined;
    let prometheus: Prometheus | undefined;
    let adminHost: string;

    const target = async (): Promise<ScrapeTarget | undefined> =>
      (await prometheus!.api<{ activeTargets: ScrapeTarget[] }>('/api/v1/targets')).data.activeTargets.find(
        (t) => t.labels.instance === adminHost,
      );

    /** Wait until Prometheus has scraped Escrow successfully at or after `since` (ms since the epoch). */
    const scrapedSince = (since: number) =>
      waitFor(
        `a successful scrape of ${adminHost} after ${new Date(since).toISOString()}`,
        async () => {
          const t = await target();
          return t?.health === 'up' && Date.parse(t.lastScrape) >= since;
        },
        30_000,
        () => prometheus!.log,
      );

    beforeAll(async () => {
      upstream = await startUpstream();
      // A port nothing listens on: the `tickets` upstream refuses connections (kind="connect").
      const closedPort = await freePort();
      escrow = await startEscrow({
        // The drill is about metrics, not the store: memory keeps Prometheus its only outside dependency.
        store: 'memory',
        env: { DRILL_KEY: CANARY },
        targets: [
          {
            name: 'echo',
            upstream: upstream.url,
            attributes: { sensitivity: 'low', environment: 'dev' },
            credential: { adapter: 'header', header: 'x-api-key', value: 'env:DRILL_KEY', ttl: 300 },
            limits: { maxBodyBytes: 1024 },
          },
          {
            name: 'tickets',
            upstream: `http://127.0.0.1:${closedPort}`,
            attributes: { sensitivity: 'low', environment: 'dev' },
            credential: { adapter: 'header', header: 'x-api-key', value: 'env:DRILL_KEY', ttl: 300 },
          },
          {
            name: 'github',
            upstream: upstream.url,
            attributes: { sensitivity: 'high', environment: 'prod' },
            credential: { adapter: 'header', header: 'x-api-key', value: 'env:DRILL_KEY', ttl: 300 },
          },
        ],
      });
      adminHost = new URL(escrow.adminUrl).host;
      prometheus = await Prometheus.start(drillConfig(adminHost));
      const started = Date.now();
      // Target discovery takes up to ~5 s; then a couple of scrapes so that the series at 0 have samples before
      // the traffic increases them (as in production, where Escrow has been up for a while).
      await scrapedSince(started);
      await scrapedSince(Date.now() + 1_000);
      await driveTraffic(escrow);
      await scrapedSince(Date.now() + 2_000);
    }, 120_000);

    afterAll(async () => {
      await prometheus?.stop();
      await escrow?.close();
      await upstream?.close();
    });

    it('every dashboard panel query succeeds and returns data', async () => {
      const queries = dashboardQueries();
      expect(queries.length).toBeGreaterThanOrEqual(15);
      const problems: string[] = [];
      for (const { panel, expr } of queries) {
        const query = substituteVariables(expr);
        const answer = await prometheus!.query(query);
        const values = answer.data?.result.map((sample) => Number(sample.value[1])) ?? [];
        if (answer.status !== 'success') problems.push(`${panel}: ${answer.error} — ${query}`);
        else if (values.length === 0) problems.push(`${panel}: no data — ${query}`);
        // NaN is what a quantile or a ratio over no traffic gives: the drill's traffic is inside the window.
        else if (values.every(Number.isNaN)) problems.push(`${panel}: only NaN — ${query}`);
      }
      expect(problems, `panels without data:\n${problems.join('\n')}`).toEqual([]);
    });

    it('stored no secret and no token: the credential and the agents’ JWTs are in no series', async () => {
      const series = await prometheus!.api<Record<string, string>[]>(
        `/api/v1/series?${new URLSearchParams({ 'match[]': '{job="escrow"}' })}`,
      );
      expect(series.data.length).toBeGreaterThan(50);
      const text = JSON.stringify(series.data);
      expect(text).not.toContain(CANARY);
      expect(text).not.toMatch(/eyJ[\w-]{8,}/); // any JWT (header, payload or the whole token)
    });

    it('Prometheus loaded every alert of alerts.yml and evaluates each without error', async () => {
      interface Rule {
        readonly name: string;
        readonly type: string;
        readonly health: string;
        readonly lastError?: string;
      }
      const rules = async () =>
        (await prometheus!.api<{ groups: { rules: Rule[] }[] }>('/api/v1/rules')).data.groups.flatMap((g) => g.rules);
      // A rule's health is "unknown" until its first evaluation.
      await waitFor(
        'every rule to be evaluated',
        async () => (await rules()).every((r) => r.health !== 'unknown'),
        30_000,
      );
      const loaded = (await rules()).filter((rule) => rule.type === 'alerting');
      expect(loaded.map((rule) => rule.name).sort()).toEqual(alertNames().sort());
      const unhealthy = loaded.filter((rule) => rule.health !== 'ok');
      expect(unhealthy, unhealthy.map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`).join('\n')).toEqual([]);
    });

    // Last: it takes the replica down.
    it('EscrowDown goes pending for the replica once its admin listener stops answering', async () => {
      await escrow!.close();
      escrow = undefined;
      interface Alert {
        readonly labels: Record<string, string>;
        readonly state: string;
      }
      const escrowDown = async () =>
        (await prometheus!.api<{ alerts: Alert[] }>('/api/v1/alerts')).data.alerts.find(
          (alert) => alert.labels.alertname === 'EscrowDown' && alert.labels.instance === adminHost,
        );
      // `for: 1m` keeps it pending for the length of this test; pending proves the expression matches `up`.
      await waitFor('EscrowDown to be pending', async () => (await escrowDown())?.state === 'pending', 30_000);
      expect(await escrowDown()).toMatchObject({ labels: { job: 'escrow', severity: 'critical' } });
    });
  },
);

/**
 * What an agent population does in a few seconds, in rounds a second apart (so that Prometheus's 1 s scrapes
 * see the counters rise): allowed calls, a policy denial, a bad token, a call to a target whose upstream is
 * down, a body over the target's limit; then the task is closed, which revokes its leases.
 */
async function driveTraffic(escrow: TestEscrow): Promise<void> {
  const token = await escrow.token();
  const task = await escrow.openTask(token, ['echo', 'tickets'], 'drill: triage the nightly build failures');
  const headers = { authorization: `Bearer ${token}`, 'x-escrow-task': task };
  const expectStatus = async (what: string, request: Promise<Response>, status: number) => {
    const res = await request;
    const body = await res.text();
    if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status} ${body}`);
  };
  for (let round = 0; round < 4; round++) {
    if (round > 0) await sleep(1_000);
    await expectStatus('allowed', fetch(`${escrow.url}/echo/builds?status=failed`, { headers }), 200);
    await expectStatus('allowed', fetch(`${escrow.url}/echo/builds/42`, { headers }), 200);
    // github is prod and not in the task: the repository's policies deny the read.
    await expectStatus('denied', fetch(`${escrow.url}/github/repos`, { headers }), 403);
    await expectStatus(
      'bad token',
      fetch(`${escrow.url}/echo/builds`, { headers: { ...headers, authorization: 'Bearer not-a-jwt' } }),
      401,
    );
    await expectStatus('upstream down', fetch(`${escrow.url}/tickets/queue`, { headers }), 502);
    await expectStatus(
      'body over the limit',
      fetch(`${escrow.url}/echo/uploads`, { method: 'POST', headers, body: 'x'.repeat(4096) }),
      413,
    );
  }
  await expectStatus(
    'close the task',
    fetch(`${escrow.url}/_escrow/tasks/${task}`, { method: 'DELETE', headers }),
    204,
  );
}

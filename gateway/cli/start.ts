import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createGateway } from '../app.js';
import { auditSinks } from '../audit/config.js';
import { runPrimary } from '../cluster.js';
import { clusterMetricsReader } from '../cluster-metrics.js';
import { loadConfig } from '../config/load.js';
import { ensureDevMaterial } from '../dev/material.js';
import { mintDevToken } from '../dev/token.js';
import { startDemoUpstream } from '../dev/upstream.js';
import { createLogger } from '../log.js';
import { reloadOnSignal } from '../reload.js';
import { startListeners } from '../server.js';
import { configPath, devMaterialDir, UsageError } from './common.js';

export const startHelp = `escrow start [--config FILE] [--workers N|auto]

Start Escrow. With no --config and no $ESCROW_CONFIG, starts the embedded default: the in-memory store,
examples/dev/escrow.yaml, dev keys generated into .escrow-dev/, and a demo upstream on 127.0.0.1:9001.
--workers N runs N worker processes on the same ports (auto: one per core); a crashed worker is restarted
with backoff. Workers share state only through Redis, so --workers needs a redis:// store.
Signals: SIGTERM/SIGINT drain (in-flight requests get proxy.drainTimeoutMs) and stop; SIGHUP re-reads the config
and applies target credentials and policies, all or nothing (anything else needs a restart: docs/reliability.md).`;

/** `--workers`: a positive integer, or `auto` for one per core. */
export function parseWorkers(value: string | undefined): number {
  if (value === undefined) return 1;
  if (value === 'auto') return availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256)
    throw new UsageError('--workers must be a whole number from 1 to 256, or auto');
  return n;
}

export async function startCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string' }, workers: { type: 'string' } },
    strict: true,
  });
  const { path, dev } = configPath(values.config);
  if (dev) await ensureDevMaterial(devMaterialDir());
  // Containers: generate dev material where the config expects it (docker-compose.yml sets this).
  if (process.env.ESCROW_DEV_MATERIAL) await ensureDevMaterial(process.env.ESCROW_DEV_MATERIAL);
  const loaded = loadConfig(path);
  const log = createLogger();
  const workers = parseWorkers(values.workers);
  if (workers > 1 && cluster.isPrimary) {
    // The config is checked here, once, so a bad one stops start-up before any worker is forked.
    if (loaded.config.store.startsWith('memory:')) {
      throw new UsageError('--workers needs a shared store: memory:// lives in one process (use redis://)');
    }
    return runPrimary({ workers, log });
  }
  const demo = loaded.config.dev?.demoUpstream ? await startDemo(loaded.config.targets[0]?.upstream) : undefined;
  const gw = await createGateway(loaded, { log });
  if (cluster.isWorker) gw.metrics.setExpositionSource(clusterMetricsReader(gw.metrics.registry));
  const listeners = await startListeners(gw);
  log.info(
    {
      proxy: loaded.config.proxy.listen,
      admin: loaded.config.admin.listen,
      store: gw.store.kind,
      policies: gw.policy.policySetHash,
    },
    'escrow started',
  );
  if (loaded.config.dev && (cluster.isPrimary || process.env.ESCROW_WORKER_INDEX === '0')) {
    await printDevGuide(loaded.config, loaded.baseDir);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining');
    listeners
      .shutdown(loaded.config.proxy.drainTimeoutMs)
      .then(() => demo?.close())
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    reloading = reloading.then(() => reloadOnSignal(gw, loaded.path, log).then(() => undefined));
  });
  return new Promise<number>(() => {}); // runs until a signal
}

async function startDemo(upstream: string | undefined) {
  const url = new URL(upstream ?? 'http://127.0.0.1:9001');
  try {
    return await startDemoUpstream(Number(url.port || 80), url.hostname);
  } catch (error) {
    throw new Error(
      `cannot start the demo upstream on ${url.host}: ${(error as Error).message} (is another Escrow running?)`,
    );
  }
}

/** Where the guide can point `escrow audit trace`: the first file sink and the first target's key file. */
function traceCommand(config: Parameters<typeof mintDevToken>[0], baseDir: string): string | undefined {
  const sink = auditSinks(config).find((s) => s.startsWith('file:'));
  const value = config.targets[0]?.credential.value;
  if (!sink || typeof value !== 'string' || !value.startsWith('file:')) return undefined;
  const file = (ref: string) => relative(process.cwd(), resolve(baseDir, ref.slice(5))) || '.';
  return `npx escrow audit trace - --file ${file(sink)} < ${file(value)}`;
}

async function printDevGuide(config: Parameters<typeof mintDevToken>[0], baseDir: string): Promise<void> {
  const token = await mintDevToken(config, baseDir, { ttlSeconds: 8 * 3600 });
  const base = `http://${config.proxy.listen}`;
  const res = await fetch(`${base}/_escrow/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ intent: 'demo: try Escrow', targets: ['echo', 'ledger'], ttlSeconds: 8 * 3600 }),
  });
  const task = ((await res.json()) as { id?: string }).id ?? '?';
  const auth = '-H "authorization: Bearer $ESCROW_TOKEN" -H "x-escrow-task: $TASK"';
  const trace = traceCommand(config, baseDir);
  process.stdout.write(`
Escrow is running (dev mode: in-memory store, example config, dev keys in .escrow-dev/).
A dev workload token (8 h) and a task on [echo, ledger] are ready.

One line that works as it is (the demo upstream gets the API key; your answer shows it masked):

  curl -s -H "authorization: Bearer ${token}" -H "x-escrow-task: ${task}" ${base}/echo/hello

Then, in a shell:

  export ESCROW_TOKEN=${token}
  export TASK=${task}

  # allowed (200): the upstream saw x-api-key; the echo you get back has it masked
  curl -s ${auth} ${base}/echo/hello; echo

  # denied by policy (403): agents write to a high-sensitivity prod target only with a change ticket
  curl -s -X POST ${auth} -H "content-type: application/json" -d '{"amount":1}' ${base}/ledger/transfers; echo

  # close the task (204): its leases are revoked at once ...
  curl -s -o /dev/null -w '%{http_code}\\n' -X DELETE -H "authorization: Bearer $ESCROW_TOKEN" ${base}/_escrow/tasks/$TASK
  # ... and the first call is now refused (403 task_closed)
  curl -s ${auth} ${base}/echo/hello; echo
${
  trace
    ? `
  # the audit trail: who was given the demo key, for which task, by which decision
  ${trace}
`
    : ''
}
  # metrics and readiness
  curl -s http://${config.admin.listen}/metrics | grep ^escrow_requests_total
  curl -s http://${config.admin.listen}/readyz; echo

More tokens: npx escrow token dev     Stop: Ctrl-C
`);
}

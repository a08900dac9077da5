import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { createGateway } from '../app.js';
import { Closers, openOrClose } from '../closers.js';
import { runPrimary } from '../cluster.js';
import { clusterMetricsReader } from '../cluster-metrics.js';
import { loadConfig } from '../config/load.js';
import { OVERRIDES } from '../config/overrides.js';
import { ensureDevMaterial } from '../dev/material.js';
import { startDemoUpstream } from '../dev/upstream.js';
import { createLogger } from '../log.js';
import { reloadOnSignal } from '../reload.js';
import { startListeners } from '../server.js';
import { configPath, devMaterialDir, UsageError } from './common.js';
import { printDevGuide } from './dev-guide.js';

export const startHelp = `escrow start [--config FILE] [--workers N|auto] [--listen HOST:PORT] [--admin HOST:PORT]
             [--upstream-port N]

Start Escrow. With no --config and no $ESCROW_CONFIG, starts the embedded default: the in-memory store,
examples/dev/escrow.yaml, dev keys generated into .escrow-dev/, and a demo upstream on 127.0.0.1:9001.
--listen and --admin move the proxy and admin listeners (proxy.listen, admin.listen; or $ESCROW_LISTEN,
$ESCROW_ADMIN_LISTEN); --upstream-port moves the demo upstream of a dev config (or $ESCROW_UPSTREAM_PORT).
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

/** `--listen`, `--admin`, `--upstream-port`: set the variables every config load reads (config/overrides.ts). */
function setOverrides(values: Record<string, string | boolean | undefined>): void {
  for (const { env, flag } of OVERRIDES) {
    const value = values[flag.slice(2)];
    if (typeof value === 'string') process.env[env] = value;
  }
}

export async function startCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      workers: { type: 'string' },
      listen: { type: 'string' },
      admin: { type: 'string' },
      'upstream-port': { type: 'string' },
    },
    strict: true,
  });
  setOverrides(values);
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
  // Whatever fails from here closes what was opened before it, so the process exits with its error.
  const closers = new Closers();
  const { gw, listeners, demo } = await openOrClose(closers, async () => {
    const demo = loaded.config.dev?.demoUpstream ? await startDemo(loaded.config.targets[0]?.upstream) : undefined;
    if (demo) closers.add(() => new Promise((resolve) => demo.close(resolve)));
    const gw = await createGateway(loaded, { log });
    closers.add(() => gw.close());
    if (cluster.isWorker) gw.metrics.setExpositionSource(clusterMetricsReader(gw.metrics.registry));
    return { gw, listeners: await startListeners(gw), demo };
  });
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
    await printDevGuide(loaded.config, loaded.baseDir, listeners);
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
      `cannot start the demo upstream on ${url.host}: ${(error as Error).message} (is another Escrow running? move it with --upstream-port)`,
    );
  }
}

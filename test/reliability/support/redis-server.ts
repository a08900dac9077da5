import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, waitFor } from './ports.js';

/** A redis-server of the test's own, on a spare port: it can be killed, frozen and restarted. */
export interface OwnRedis {
  readonly port: number;
  readonly url: string;
  /** SIGKILL: connections drop at once, data is gone (no persistence). */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: connections stay open but nothing answers (a partition, a stuck primary). */
  freeze(): void;
  thaw(): void;
  /** Start again on the same port (empty). */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** `args` are extra redis-server arguments (`['--replicaof', '127.0.0.1', '6380']`, `['--cluster-enabled', 'yes']`). */
export async function startOwnRedis(args: readonly string[] = [], port?: number): Promise<OwnRedis> {
  const chosen = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'escrow-redis-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(chosen),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--dir',
        dir,
        ...args,
      ],
      { stdio: 'ignore' },
    );
    await waitFor(() => ping(chosen), 10_000, 20);
  };
  const kill = async () => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGCONT');
    running.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}/0`,
    kill,
    freeze: () => child?.kill('SIGSTOP'),
    thaw: () => child?.kill('SIGCONT'),
    start,
    async close() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** True when a redis-server answers PING on `port`. */
export async function ping(port: number): Promise<boolean> {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    retryStrategy: () => null,
    connectTimeout: 500,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

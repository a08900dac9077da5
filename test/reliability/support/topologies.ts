import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, waitFor } from './ports.js';
import { type OwnRedis, ping, startOwnRedis } from './redis-server.js';

const run = promisify(execFile);

async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port p such that p and its cluster bus port p + 10000 are both free. */
async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if ((await canListen(port)) && (await canListen(port + 10_000))) return port;
  }
  throw new Error('no free port pair for a cluster node');
}

export interface SentinelSetup {
  readonly primary: OwnRedis;
  readonly replica: OwnRedis;
  readonly sentinelPort: number;
  readonly url: string;
  /** The address the sentinel currently names as the primary. */
  primaryPort(): Promise<number>;
  /** The sentinel's own log (its view of a failover that did not happen). */
  sentinelLog(): string;
  close(): Promise<void>;
}

/** A primary, one replica and one sentinel (quorum 1, fast failover), all on spare ports. */
export async function startSentinelSetup(name = 'mymaster'): Promise<SentinelSetup> {
  // Diskless sync would otherwise wait 5 s before it even starts: the replica must be in sync to be promoted.
  const primary = await startOwnRedis(['--repl-diskless-sync-delay', '0']);
  const replica = await startOwnRedis(['--replicaof', '127.0.0.1', String(primary.port)]);
  const replicaClient = new Redis({ port: replica.port, host: '127.0.0.1' });
  await waitFor(async () => /master_link_status:up/.test(await replicaClient.info('replication')), 10_000, 50);
  replicaClient.disconnect();
  const sentinelPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'escrow-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${sentinelPort}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `logfile ${join(dir, 'sentinel.log')}`,
      `sentinel monitor ${name} 127.0.0.1 ${primary.port} 1`,
      `sentinel down-after-milliseconds ${name} 400`,
      `sentinel failover-timeout ${name} 2000`,
      '',
    ].join('\n'),
  );
  const sentinel: ChildProcess = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  const admin = new Redis({ port: sentinelPort, host: '127.0.0.1', lazyConnect: true });
  admin.on('error', () => {});
  const primaryPort = async () => {
    const [, port] = (await admin.call('SENTINEL', 'get-master-addr-by-name', name)) as [string, string];
    return Number(port);
  };
  await waitFor(() => ping(sentinelPort));
  await admin.connect();
  // The sentinel learns about the replica from the primary's INFO; failover needs it.
  await waitFor(async () => ((await admin.call('SENTINEL', 'replicas', name)) as unknown[]).length === 1, 15_000, 100);
  return {
    primary,
    replica,
    sentinelPort,
    url: `redis+sentinel://127.0.0.1:${sentinelPort}/${name}/0`,
    primaryPort,
    sentinelLog: () => readFileSync(join(dir, 'sentinel.log'), 'utf8'),
    async close() {
      admin.disconnect();
      sentinel.kill('SIGKILL');
      await primary.close();
      await replica.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ClusterSetup {
  readonly nodes: readonly OwnRedis[];
  readonly url: string;
  close(): Promise<void>;
}

/** Three primaries (no replicas) joined with `redis-cli --cluster create`. */
export async function startClusterSetup(): Promise<ClusterSetup> {
  const nodes: OwnRedis[] = [];
  for (let i = 0; i < 3; i++) {
    nodes.push(
      await startOwnRedis(['--cluster-enabled', 'yes', '--cluster-node-timeout', '2000'], await freeClusterPort()),
    );
  }
  const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
  await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-yes'], { timeout: 20_000 });
  for (const node of nodes) {
    const client = new Redis({ port: node.port, host: '127.0.0.1' });
    await waitFor(async () => /cluster_state:ok/.test(String(await client.cluster('INFO'))), 15_000, 100);
    client.disconnect();
  }
  return {
    nodes,
    url: `redis+cluster://${addresses.join(',')}`,
    async close() {
      for (const node of nodes) await node.close();
    },
  };
}

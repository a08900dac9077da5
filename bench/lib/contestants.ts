import { join } from 'node:path';
import {
  agentSubject,
  type BenchKeys,
  checkFullPath,
  type EscrowSpec,
  openTask,
  type RunningEscrow,
  startEscrowProcess,
} from './escrow.js';
import { findNginx, startNginx } from './nginx.js';
import { type Child, freePort, startChild, startUpstream } from './process.js';

/** One proxy under test. */
export interface Contestant {
  readonly name: string;
  readonly description: string;
  readonly port: number;
  readonly child: Child;
  readonly escrow?: RunningEscrow;
}

export interface Field {
  readonly upstream: Child;
  readonly upstreamPort: number;
  readonly contestants: Contestant[];
  readonly token: string;
  readonly taskId: string;
  readonly skipped: string[];
  stop(): Promise<void>;
}

export interface FieldOptions {
  readonly repoRoot: string;
  readonly keys: BenchKeys;
  readonly prefix: string;
  readonly nginx: boolean;
  /** Which Escrow configurations to start. */
  readonly escrows: readonly { name: string; policies: EscrowSpec['policies']; workers: number; description: string }[];
  readonly escrowNodeArgs?: readonly string[];
}

async function nodeServer(repoRoot: string, name: string, script: string, upstreamPort: number): Promise<Contestant> {
  const port = await freePort();
  const child = await startChild(
    name,
    process.execPath,
    [join(repoRoot, 'bench/servers', script), String(port), String(upstreamPort)],
    {
      readyLine: 'ready',
    },
  );
  return { name, description: '', port, child };
}

/** Start the upstream, every pass-through proxy and every Escrow; open the task the load will use. */
export async function startField(options: FieldOptions): Promise<Field> {
  const { repoRoot } = options;
  const { child: upstream, port: upstreamPort } = await startUpstream(repoRoot);
  const contestants: Contestant[] = [];
  const skipped: string[] = [];
  const field: Field = {
    upstream,
    upstreamPort,
    contestants,
    token: await options.keys.sign(agentSubject(0)),
    taskId: '',
    skipped,
    async stop() {
      await Promise.all([...contestants.map((c) => c.child.stop()), upstream.stop()]);
    },
  };
  try {
    const reference = [
      ['undici', 'undici-proxy.mjs', 'bare node:http + undici Pool.stream (the reference)'],
      ['fastify', 'fastify-proxy.mjs', '@fastify/http-proxy, forwarding only'],
      ['http-proxy', 'http-proxy.mjs', 'http-proxy with a keep-alive agent, forwarding only'],
    ] as const;
    for (const [name, script, description] of reference) {
      contestants.push({ ...(await nodeServer(repoRoot, name, script, upstreamPort)), description });
    }
    const nginx = options.nginx ? findNginx() : undefined;
    if (nginx) {
      const started = await startNginx(nginx, join(options.keys.dir, 'nginx'), upstreamPort);
      contestants.push({
        name: 'nginx',
        description: 'nginx, 1 worker, proxy_pass with upstream keepalive',
        ...started,
      });
    } else skipped.push(options.nginx ? 'nginx (not installed)' : 'nginx (--no-nginx)');
    for (const e of options.escrows) {
      const escrow = await startEscrowProcess({
        ...e,
        upstreamPort,
        repoRoot,
        keys: options.keys,
        prefix: options.prefix,
      });
      contestants.push({ name: e.name, description: e.description, port: escrow.port, child: escrow.child, escrow });
    }
    const first = contestants.find((c) => c.escrow);
    if (first) {
      // Tasks live in Redis under the shared prefix: every Escrow (and every worker) sees the same task.
      const taskId = await openTask(first.port, field.token, 'bench: poll the items API');
      Object.assign(field, { taskId });
      for (const c of contestants) if (c.escrow) await checkFullPath(c.port, { token: field.token, taskId });
    }
  } catch (error) {
    await field.stop();
    throw error;
  }
  return field;
}

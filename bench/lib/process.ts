import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** A child process the harness started, and how to measure and stop it. */
export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** The last lines it wrote, for error messages. */
  tail(): string;
  stop(): Promise<void>;
}

/** A free loopback port (bind to 0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface SpawnOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Resolve once a line starting with this appears on stdout. */
  readonly readyLine?: string;
  /** Or once this URL answers 200. */
  readonly readyUrl?: string;
  readonly timeoutMs?: number;
}

/** Every child still running, so that an interrupted run (Ctrl-C, a CI timeout) does not leave them listening. */
const live = new Set<ChildProcess>();
let trapped = false;
let stopping = false;

function stopChildrenOnSignal(): void {
  if (trapped) return;
  trapped = true;
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    // `on`, not `once`: Ctrl-C signals the whole group and bench/run.mjs forwards it too, so it may come twice.
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      console.error(`\n${signal}: stopping ${live.size} child process(es)`);
      void Promise.all([...live].map(stopProcess)).finally(() => process.exit(code));
    });
  }
}

/** Start a process and wait until it says (or shows) it is ready. */
export async function startChild(name: string, command: string, args: string[], options: SpawnOptions): Promise<Child> {
  stopChildrenOnSignal();
  const proc = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  const lines: string[] = [];
  let readyResolve: (() => void) | undefined;
  const ready = new Promise<void>((resolve) => {
    readyResolve = resolve;
  });
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (line === '') continue;
      lines.push(line);
      if (lines.length > 40) lines.shift();
      if (options.readyLine && line.startsWith(options.readyLine)) readyResolve?.();
    }
  };
  proc.stdout?.on('data', collect);
  proc.stderr?.on('data', collect);
  // Every line of every child, for a look at what the tail above drops (e.g. node --trace-gc-nvp).
  const log = process.env.BENCH_CHILD_LOG;
  if (log) {
    const tee = (chunk: Buffer) => appendFileSync(log, chunk.toString().replace(/^/gm, `${name}: `));
    proc.stdout?.on('data', tee);
    proc.stderr?.on('data', tee);
  }
  const exited = new Promise<never>((_, reject) => {
    proc.once('exit', (code) =>
      reject(new Error(`${name} exited (${code}) before it was ready:\n${lines.join('\n')}`)),
    );
  });
  if (options.readyUrl) void pollUrl(options.readyUrl).then(() => readyResolve?.());
  const timeout = new Promise<never>((_, reject) => {
    setTimeout(
      () => reject(new Error(`${name} not ready in time:\n${lines.join('\n')}`)),
      options.timeoutMs ?? 30_000,
    ).unref();
  });
  await Promise.race([ready, exited, timeout]);
  exited.catch(() => {});
  return {
    name,
    proc,
    pid: proc.pid ?? 0,
    tail: () => lines.join('\n'),
    stop: () => stopProcess(proc),
  };
}

async function pollUrl(url: string): Promise<void> {
  for (let i = 0; i < 600; i += 1) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGTERM, then SIGKILL after 5 s. */
export function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

/** The process and its descendants (cluster workers). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i += 1) {
    try {
      const children = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, 'utf8').trim();
      if (children) out.push(...children.split(/\s+/).map(Number));
    } catch {
      // gone, or not Linux
    }
  }
  return out;
}

/** Resident set size in bytes of a process tree (Linux /proc), 0 where unknown. */
export function rssBytes(pid: number): number {
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      total += match ? Number(match[1]) * 1024 : 0;
    } catch {
      // gone
    }
  }
  return total;
}

const TICKS_PER_SECOND = 100;

/** CPU time (user + system) in seconds used so far by a process tree (Linux /proc). */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return ticks / TICKS_PER_SECOND;
}

/** The bench's upstream (bench/servers/upstream.mjs: 1 KiB of JSON on every path) on a free port. */
export async function startUpstream(repoRoot: string): Promise<{ child: Child; port: number }> {
  const port = await freePort();
  const child = await startChild(
    'upstream',
    process.execPath,
    [join(repoRoot, 'bench/servers/upstream.mjs'), String(port)],
    {
      readyLine: 'ready',
    },
  );
  return { child, port };
}

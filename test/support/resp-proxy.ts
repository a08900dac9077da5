import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { REDIS_URL } from './redis.js';
import { type Command, countReplies, takeCommands } from './resp.js';

/**
 * What happens to a matching command:
 * - `delay`: it (and everything the client sends after it on that connection: TCP keeps order) waits `delayMs`,
 *   then goes to Redis, which runs it late: a command that timed out at the client and still ran.
 * - `hold`: the same, until `release()`.
 * - `drop`: it never reaches Redis and the connection is cut (a command lost with its connection).
 * - `drop-reply`: Redis runs it, its reply is thrown away and the connection is cut (ran, but nobody knows).
 */
export type FaultAction = 'delay' | 'hold' | 'drop' | 'drop-reply';

export interface FaultRule {
  readonly action: FaultAction;
  /** Upper-case command name (`EVAL`, `PUBLISH`, `ZADD`…). */
  readonly command: string;
  readonly match?: (args: readonly string[]) => boolean;
  readonly delayMs?: number;
  /** How many matching commands it affects (default 1). */
  readonly times?: number;
}

export interface Fault {
  readonly rule: FaultRule;
  /** Matching commands affected so far. */
  readonly hits: number;
  /** `performance.now()` when the last affected command was let through (delay, hold), or cut (drop…). */
  readonly endedAt: number | undefined;
  /** Resolves once `times` commands were affected and every held one let through. */
  readonly done: Promise<void>;
  /** Let held commands through. */
  release(): void;
}

export interface RespProxy {
  /** A `redis://` URL for the proxy (same database as REDIS_URL). */
  readonly url: string;
  inject(rule: FaultRule): Fault;
  /** Names and first key of every command seen, in order (for failure messages). */
  readonly seen: string[];
  close(): Promise<void>;
}

interface ActiveFault extends Fault {
  hits: number;
  endedAt: number | undefined;
  readonly waiters: (() => void)[];
  finish(): void;
}

function makeFault(rule: FaultRule): ActiveFault {
  let resolveDone = () => {};
  const fault: ActiveFault = {
    rule,
    hits: 0,
    endedAt: undefined,
    waiters: [],
    done: new Promise<void>((resolve) => {
      resolveDone = resolve;
    }),
    release() {
      for (const go of fault.waiters.splice(0)) go();
    },
    finish() {
      fault.endedAt = performance.now();
      if (fault.hits >= (rule.times ?? 1) && fault.waiters.length === 0) resolveDone();
    },
  };
  return fault;
}

/**
 * A TCP proxy in front of the real Redis that parses the client's commands (RESP) and can delay, hold or drop
 * chosen ones, or drop their replies: the partial failures a network and a timed-out client produce. Pub/sub
 * connections pass through untouched once they subscribe.
 */
export async function startRespProxy(): Promise<RespProxy> {
  const target = new URL(REDIS_URL);
  const faults: ActiveFault[] = [];
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    // Like ioredis and Redis themselves: without it, Nagle and delayed ACKs add ~40 ms to small writes.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client).add(upstream);
    proxyConnection(client, upstream, faults, seen, () => {
      sockets.delete(client);
      sockets.delete(upstream);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}${target.pathname}`,
    seen,
    inject(rule) {
      const fault = makeFault(rule);
      faults.push(fault);
      return fault;
    },
    async close() {
      for (const f of faults) f.release();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

function claimFault(faults: ActiveFault[], command: Command): ActiveFault | undefined {
  const fault = faults.find(
    (f) => f.hits < (f.rule.times ?? 1) && f.rule.command === command.args[0] && (f.rule.match?.(command.args) ?? true),
  );
  if (fault) fault.hits++;
  return fault;
}

/** One client connection: commands parsed and forwarded in order, faults applied, replies counted. */
function proxyConnection(client: Socket, upstream: Socket, faults: ActiveFault[], seen: string[], onEnd: () => void) {
  let pending: Buffer = Buffer.alloc(0);
  let replyBuf: Buffer = Buffer.alloc(0);
  const queue: Command[] = [];
  /** Index of a forwarded command → the fault that drops its reply. */
  const dropReply = new Map<number, ActiveFault>();
  let forwarded = 0;
  let answered = 0;
  let blocked = false;
  let passthrough = false;
  const end = () => {
    client.destroy();
    upstream.destroy();
    onEnd();
  };
  client.on('error', end).on('close', end);
  upstream.on('error', end).on('close', end);
  const send = (command: Command) => {
    upstream.write(command.raw);
    forwarded++;
  };

  const pump = () => {
    while (!blocked && queue.length > 0) {
      const command = queue.shift()!;
      seen.push(`${command.args[0]} ${command.args[1] ?? ''}`);
      // A subscriber's connection carries pushes, not one reply per command: it is never faulted.
      if (command.args[0] === 'SUBSCRIBE' || command.args[0] === 'PSUBSCRIBE') passthrough = true;
      const fault = passthrough ? undefined : claimFault(faults, command);
      if (!fault) {
        send(command);
        continue;
      }
      switch (fault.rule.action) {
        case 'drop':
          fault.finish();
          end();
          return;
        case 'drop-reply':
          dropReply.set(forwarded, fault);
          send(command);
          continue;
        case 'delay':
        case 'hold': {
          blocked = true;
          const go = () => {
            blocked = false;
            send(command);
            fault.finish();
            pump();
          };
          if (fault.rule.action === 'delay') setTimeout(go, fault.rule.delayMs ?? 0);
          else fault.waiters.push(go);
          return;
        }
      }
    }
  };

  client.on('data', (chunk: Buffer) => {
    const { commands, rest } = takeCommands(Buffer.concat([pending, chunk]));
    pending = rest;
    queue.push(...commands);
    pump();
  });
  upstream.on('data', (chunk: Buffer) => {
    replyBuf = Buffer.concat([replyBuf, chunk]);
    if (passthrough) {
      client.write(replyBuf);
      replyBuf = Buffer.alloc(0);
      return;
    }
    let sent = 0;
    for (const endAt of countReplies(replyBuf).ends) {
      const fault = dropReply.get(answered++);
      if (fault) {
        fault.finish();
        end();
        return;
      }
      client.write(replyBuf.subarray(sent, endAt));
      sent = endAt;
    }
    replyBuf = Buffer.from(replyBuf.subarray(sent));
  });
}

import { appendFile, mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { EscrowError } from '../errors.js';
import type { EventStream } from '../store/types.js';

/** Where audit lines go. `write` resolves once every line is accepted, and rejects if any was not. */
export interface AuditSink {
  /** Bounded label for metrics and health: `stdout`, `stderr`, `file` or `redis` (never a path). */
  readonly name: 'stdout' | 'stderr' | 'file' | 'redis';
  write(lines: readonly string[]): Promise<void>;
}

export interface SinkContext {
  readonly events?: EventStream;
  /** Directory that relative `file:` paths are resolved against (the config file's). */
  readonly baseDir?: string;
}

function streamSink(name: 'stdout' | 'stderr', stream: Writable): AuditSink {
  return {
    name,
    write: (lines) =>
      new Promise<void>((done, fail) => {
        stream.write(`${lines.join('\n')}\n`, (error) => (error ? fail(error) : done()));
      }),
  };
}

/** Appends with open-append-close per batch, so an external logrotate needs no signal to Escrow. */
function fileSink(path: string): AuditSink {
  let dirReady = false;
  return {
    name: 'file',
    async write(lines) {
      if (!dirReady) {
        await mkdir(dirname(path), { recursive: true });
        dirReady = true;
      }
      await appendFile(path, `${lines.join('\n')}\n`, { mode: 0o600 });
    },
  };
}

/** One `append` per line; on one connection the commands, and so the stream entries, keep their order. */
function redisSink(events: EventStream): AuditSink {
  return {
    name: 'redis',
    async write(lines) {
      await Promise.all(lines.map((line) => events.append(line)));
    },
  };
}

/** Parses one sink spec (`stdout`, `stderr`, `file:PATH`, `redis`); `none` gives no sink. Throws on anything else. */
export function createSink(spec: string, context: SinkContext): AuditSink | undefined {
  if (spec === 'none') return undefined;
  if (spec === 'stdout') return streamSink('stdout', process.stdout);
  if (spec === 'stderr') return streamSink('stderr', process.stderr);
  if (spec === 'redis') {
    if (!context.events) throw new EscrowError('config_invalid', 'audit sink "redis" needs the store\'s event stream');
    return redisSink(context.events);
  }
  if (spec.startsWith('file:') && spec.length > 'file:'.length) {
    const path = spec.slice('file:'.length);
    return fileSink(isAbsolute(path) ? path : resolve(context.baseDir ?? process.cwd(), path));
  }
  throw new EscrowError('config_invalid', `unknown audit sink "${spec}" (stdout | stderr | file:PATH | redis | none)`);
}

import { isAbsolute, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { EscrowError } from '../errors.js';
import type { EventStream } from '../store/types.js';
import { createFileSink, type FileSync } from './file-sink.js';
import type { AuditSink } from './types.js';

export interface SinkContext {
  readonly events?: EventStream;
  /** Directory that relative `file:` paths are resolved against (the config file's). */
  readonly baseDir?: string;
  /** The writer whose chain the lines belong to (the Redis stream skips seqs it already holds per writer). */
  readonly writerId: string;
  readonly fileSync: FileSync;
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

/** One script call per batch: atomic, in order, and idempotent per writer (gateway/store/audit-script.ts). */
function redisSink(events: EventStream, writer: string): AuditSink {
  return {
    name: 'redis',
    write: (lines, firstSeq) => events.append({ writer, firstSeq, lines }),
  };
}

/** Parses one sink spec (`stdout`, `stderr`, `file:PATH`, `redis`); `none` gives no sink. Throws on anything else. */
export function createSink(spec: string, context: SinkContext): AuditSink | undefined {
  if (spec === 'none') return undefined;
  if (spec === 'stdout') return streamSink('stdout', process.stdout);
  if (spec === 'stderr') return streamSink('stderr', process.stderr);
  if (spec === 'redis') {
    if (!context.events) throw new EscrowError('config_invalid', 'audit sink "redis" needs the store\'s event stream');
    return redisSink(context.events, context.writerId);
  }
  if (spec.startsWith('file:') && spec.length > 'file:'.length) {
    const path = spec.slice('file:'.length);
    return createFileSink({
      path: isAbsolute(path) ? path : resolve(context.baseDir ?? process.cwd(), path),
      sync: context.fileSync,
    });
  }
  throw new EscrowError('config_invalid', `unknown audit sink "${spec}" (stdout | stderr | file:PATH | redis | none)`);
}

import type { Redis } from 'ioredis';
import { APPEND_AUDIT_BATCH } from './audit-script.js';
import type { KeyLayout } from './keys.js';
import type { EventStream, StreamEntry } from './types.js';

export interface RedisEventStreamOptions {
  readonly keys: Pick<KeyLayout, 'audit' | 'auditWriters' | 'auditActive' | 'auditMeta'>;
  /** Entries older than this are trimmed (`XTRIM MINID`, by Redis' clock); 0 keeps them until the size bound. */
  readonly retentionMs: number;
  /** The stream never holds more entries: a batch that would pass it is refused (`ESCROWFULL`), nothing evicted. */
  readonly maxLen: number;
  /** The stream's length after each batch (for `escrow_audit_stream_fill_ratio`). */
  readonly onLength?: (entries: number) => void;
}

/** The script's command name (store/redis.ts keeps it out of auto-pipelining: each batch is one call anyway). */
export const AUDIT_APPEND_COMMAND = 'escrowAuditAppend';
const COMMAND = AUDIT_APPEND_COMMAND;
type Append = (...args: (string | number)[]) => Promise<[string, string, number, number, number]>;

/** The script as an ioredis command: EVALSHA, with the script sent again only when Redis answers NOSCRIPT. */
function appendCommand(client: Redis): Append {
  const commands = client as unknown as Record<string, Append | undefined>;
  if (!commands[COMMAND]) client.defineCommand(COMMAND, { numberOfKeys: 4, lua: APPEND_AUDIT_BATCH });
  return (commands[COMMAND] as Append).bind(client);
}

function entryOf(id: string, fields: readonly string[]): StreamEntry {
  let line = '';
  let prevId = '';
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'e') line = fields[i + 1] ?? '';
    else if (fields[i] === 'p') prevId = fields[i + 1] ?? '';
  }
  return { id, line, prevId };
}

async function readEntries(client: Redis, key: string): Promise<StreamEntry[]> {
  const out: StreamEntry[] = [];
  let start = '-';
  for (;;) {
    const page = await client.xrange(key, start, '+', 'COUNT', 1000);
    for (const [id, fields] of page) out.push(entryOf(id, fields));
    if (page.length < 1000) return out;
    start = `(${page[page.length - 1]![0]}`;
  }
}

/**
 * The Redis audit stream. Each batch is one script call (APPEND_AUDIT_BATCH); the writer keeps the script's last
 * answer (its epoch and state) to send with the next batch, so that a writer pruned by retention picks up where
 * it was, while a writer whose stream was lost (a new epoch after a Redis restart) does not claim a predecessor.
 */
export function createRedisEventStream(client: Redis, options: RedisEventStreamOptions): EventStream {
  const { keys } = options;
  const append = appendCommand(client);
  const cursors = new Map<string, { readonly epoch: string; readonly state: string }>();
  const read = async () => {
    const [entries, meta, writers] = await Promise.all([
      readEntries(client, keys.audit),
      client.hgetall(keys.auditMeta),
      client.hgetall(keys.auditWriters),
    ]);
    const origins = new Map<string, number>();
    for (const [writer, state] of Object.entries(writers)) origins.set(writer, Number(state.split(' ')[2] ?? 0));
    return {
      entries,
      ...(meta.trimmedBefore ? { trimmedBefore: meta.trimmedBefore } : {}),
      trimmed: Number(meta.trimmed ?? 0),
      origins,
    };
  };
  return {
    async append(batch) {
      const cursor = cursors.get(batch.writer);
      const [epoch, state, , , length] = await append(
        keys.audit,
        keys.auditWriters,
        keys.auditActive,
        keys.auditMeta,
        batch.writer,
        batch.firstSeq,
        options.retentionMs,
        options.maxLen,
        cursor?.epoch ?? '',
        cursor?.state ?? '',
        ...batch.lines,
      );
      cursors.set(batch.writer, { epoch, state });
      options.onLength?.(length);
    },
    read,
    readAll: async () => (await readEntries(client, keys.audit)).map((entry) => entry.line),
  };
}

import { EscrowError } from '../errors.js';
import type { EventStream, StreamEntry } from './types.js';

export interface MemoryEventStreamOptions {
  readonly now: () => number;
  readonly retentionMs: number;
  readonly maxLen: number;
}

/**
 * The audit stream of the in-memory store, with the Redis stream's contract (gateway/store/audit-script.ts):
 * batches whole and in order, seqs already written skipped, retention by age recorded, a size bound that refuses.
 */
export function createMemoryEventStream(options: MemoryEventStreamOptions): EventStream {
  const entries: StreamEntry[] = [];
  const writers = new Map<string, { last: number; lastId: string; origin: number }>();
  let lastMs = 0;
  let counter = 0;
  let trimmed = 0;
  let trimmedBefore: string | undefined;
  const nextId = (): string => {
    const ms = Math.max(options.now(), lastMs);
    counter = ms === lastMs ? counter + 1 : 0;
    lastMs = ms;
    return `${ms}-${counter}`;
  };
  const trim = (): void => {
    if (options.retentionMs <= 0) return;
    const threshold = options.now() - options.retentionMs;
    let cut = 0;
    while (cut < entries.length && Number(entries[cut]!.id.split('-')[0]) < threshold) cut += 1;
    if (cut === 0) return;
    entries.splice(0, cut);
    trimmed += cut;
    trimmedBefore = entries[0]?.id ?? `${threshold}-0`;
  };
  return {
    async append(batch) {
      trim();
      const state = writers.get(batch.writer);
      const skip = Math.max(0, Math.min(batch.lines.length, (state?.last ?? -1) - batch.firstSeq + 1));
      const adding = batch.lines.length - skip;
      if (adding === 0) return;
      if (entries.length + adding > options.maxLen) {
        throw new EscrowError('store_unavailable', 'the audit stream holds audit.streamMaxLen entries');
      }
      let prevId = state?.lastId ?? '';
      for (let i = skip; i < batch.lines.length; i++) {
        if (batch.firstSeq + i === 0) prevId = '0';
        const id = nextId();
        entries.push({ id, line: batch.lines[i]!, prevId });
        prevId = id;
      }
      const last = batch.firstSeq + batch.lines.length - 1;
      writers.set(batch.writer, { last, lastId: prevId, origin: state?.origin ?? batch.firstSeq });
    },
    async readAll() {
      return entries.map((entry) => entry.line);
    },
    async read() {
      const origins = new Map([...writers].map(([writer, state]) => [writer, state.origin]));
      return { entries: [...entries], ...(trimmedBefore ? { trimmedBefore } : {}), trimmed, origins };
    },
  };
}

// The audit log in a worker thread (bench/audit.ts, "in a worker" and "hand-off only"): the main thread posts each turn's events as one
// message; this thread commits them to the real sinks (its own Redis connection and file) and posts back the ids
// of the events written, one message per group. Built code (npm run build), as the Escrow process runs it.
import { parentPort, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { createAuditLog } from '../../dist/gateway/audit/index.js';
import { keyLayout } from '../../dist/gateway/store/keys.js';
import { createRedisEventStream } from '../../dist/gateway/store/redis-audit.js';

const { mode, port, prefix, file, fileSync } = workerData;
const client = mode === 'log' ? new Redis({ port, enableAutoPipelining: true }) : undefined;
const log =
  mode === 'log'
    ? createAuditLog({
        hmacKey: 'bench-audit-key-0123456789abcdef',
        sinks: [`file:${file}`, 'redis'],
        events: createRedisEventStream(client, { keys: keyLayout(prefix), retentionMs: 60_000, maxLen: 50_000_000 }),
        failMode: 'closed',
        fileSync,
      })
    : undefined;

parentPort.on('message', (message) => {
  if (message === 'close') {
    void (async () => {
      await log?.close();
      client?.disconnect();
      parentPort.close();
    })();
    return;
  }
  const { ids, events } = message;
  if (!log) {
    parentPort.postMessage(ids); // the hand-off alone: acknowledged at once
    return;
  }
  // Each event's own commit: a group that failed is reported failed, never acknowledged by a later one.
  void Promise.allSettled(events.map((event) => log.commit(event))).then((results) => {
    const written = ids.filter((_, i) => results[i].status === 'fulfilled');
    const failed = ids.filter((_, i) => results[i].status === 'rejected');
    if (written.length > 0) parentPort.postMessage(written);
    if (failed.length > 0) parentPort.postMessage({ failed });
  });
});

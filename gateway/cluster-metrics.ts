import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';

/**
 * `/metrics` under `escrow start --workers N`. The workers share the admin port, so a scrape reaches whichever
 * worker node:cluster hands it to. Answering with that worker's own counters would make every counter jump between
 * workers' values, which Prometheus reads as resets (a `rate()` full of false spikes). Instead the worker that gets
 * the scrape asks the primary, which collects a snapshot of every ready worker's registry over IPC and sums them
 * (prom-client's `AggregatorRegistry.aggregate`: counters and histograms add up, gauges per their `aggregator`).
 *
 * Counters stay monotonic across worker restarts, as in Prometheus' Python multiprocess mode: a worker that exits
 * leaves its last counters and histograms in a retired total that every later answer adds in. Without it the sums
 * would step down when a worker dies, and Prometheus would count the survivors' whole totals again as increase
 * (a rejected-reload alert firing on a restart). A worker that does not answer in time is counted with its last
 * snapshot, so a scrape never waits on a worker that is starting, stuck or dying.
 */

type Snapshot = MetricObjectWithValues<MetricValue<string>>[];

/** worker → primary: ready to be collected. primary → worker: send a snapshot. worker → primary: here it is. */
const READY = 'escrow:metrics-ready';
const COLLECT = 'escrow:metrics-collect';
const SNAPSHOT = 'escrow:metrics-snapshot';
/** worker → primary: a scrape arrived. primary → worker: the cluster's text. */
const REQUEST = 'escrow:metrics-request';
const ANSWER = 'escrow:metrics-answer';

/** How long the primary waits for the workers' snapshots before it answers with the last ones it has. */
const COLLECT_TIMEOUT_MS = 1_500;
/** How long a worker waits for the primary's answer (the admin listener then answers 500 and the scrape fails). */
const WORKER_TIMEOUT_MS = 5_000;

interface Message {
  readonly type: string;
  readonly id?: number;
  readonly snapshot?: Snapshot;
  readonly text?: string;
  readonly error?: string;
}

function asMessage(message: unknown): Message | undefined {
  if (typeof message !== 'object' || message === null) return undefined;
  return typeof (message as { type?: unknown }).type === 'string' ? (message as Message) : undefined;
}

/** The cumulative part of a snapshot: what must never go down. Gauges describe the present, so they go. */
function cumulative(snapshot: Snapshot): Snapshot {
  return snapshot.filter((metric) => {
    const type: unknown = metric.type; // the JSON form carries the type's name
    return type === 'counter' || type === 'histogram';
  });
}

/** Past this many exited workers, their snapshots are folded into one (a crash loop must not grow the list). */
const MAX_RETIRED = 8;

/** In the primary: collect from the workers on each worker's request, and keep what exited workers counted. */
export function serveClusterMetrics(): void {
  const ready = new Set<Worker>();
  const last = new Map<Worker, Snapshot>();
  let retired: Snapshot[] = [];
  let nextId = 0;
  const waiting = new Map<number, { readonly expected: Set<Worker>; readonly finish: () => void }>();

  const compactRetired = async () => {
    const folded = retired;
    const merged = (await AggregatorRegistry.aggregate(folded).getMetricsAsJSON()) as Snapshot;
    // Exits during the await were appended after the folded ones: keep them.
    retired = [merged, ...retired.slice(folded.length)];
  };

  const collect = async (): Promise<string> => {
    const id = nextId++;
    const expected = new Set(ready);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, COLLECT_TIMEOUT_MS);
      function finish() {
        clearTimeout(timer);
        waiting.delete(id);
        resolve();
      }
      waiting.set(id, { expected, finish });
      for (const worker of expected) worker.send({ type: COLLECT, id });
      if (expected.size === 0) finish();
    });
    return AggregatorRegistry.aggregate([...retired, ...last.values()]).metrics();
  };

  cluster.on('message', (worker, raw: unknown) => {
    const message = asMessage(raw);
    if (message?.type === READY) ready.add(worker);
    // A snapshot from a worker that already exited (or never said ready) would count it twice: ignored.
    if (message?.type === SNAPSHOT && message.snapshot && ready.has(worker)) {
      last.set(worker, message.snapshot);
      const collection = message.id === undefined ? undefined : waiting.get(message.id);
      collection?.expected.delete(worker);
      if (collection?.expected.size === 0) collection.finish();
    }
    if (message?.type === REQUEST) {
      const reply = (answer: Omit<Message, 'type' | 'id'>) => {
        if (worker.isConnected()) worker.send({ type: ANSWER, id: message.id, ...answer });
      };
      collect().then(
        (text) => reply({ text }),
        (error: Error) => reply({ error: error.message }),
      );
    }
  });

  cluster.on('exit', (worker) => {
    ready.delete(worker);
    for (const collection of waiting.values()) {
      collection.expected.delete(worker);
      if (collection.expected.size === 0) collection.finish();
    }
    const final = last.get(worker);
    last.delete(worker);
    if (final) retired.push(cumulative(final)); // in the same turn as the exit: no answer ever misses it
    if (retired.length > MAX_RETIRED) void compactRetired();
  });
}

/**
 * In a worker: answer the primary's collections with `registry`'s snapshot, tell the primary this worker is ready,
 * and return how `/metrics` reads the whole cluster's metrics.
 */
export function clusterMetricsReader(registry: Registry): () => Promise<string> {
  const pending = new Map<number, { resolve(text: string): void; reject(error: Error): void }>();
  let nextId = 0;
  const send = (message: Message) => process.send?.(message);
  process.on('message', (raw: unknown) => {
    const message = asMessage(raw);
    if (message?.type === COLLECT) {
      registry.getMetricsAsJSON().then(
        (snapshot) => send({ type: SNAPSHOT, id: message.id, snapshot }),
        () => {}, // the primary then counts this worker with its last snapshot
      );
    }
    if (message?.type === ANSWER && message.id !== undefined) {
      const request = pending.get(message.id);
      pending.delete(message.id);
      if (message.text !== undefined) request?.resolve(message.text);
      else request?.reject(new Error(`the cluster primary could not collect metrics: ${message.error ?? 'no answer'}`));
    }
  });
  send({ type: READY });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('the cluster primary did not answer with metrics in time'));
      }, WORKER_TIMEOUT_MS);
      pending.set(id, {
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      send({ type: REQUEST, id });
    });
}

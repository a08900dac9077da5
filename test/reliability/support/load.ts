export interface Answer {
  readonly status: number;
  readonly ms: number;
  readonly contentType: string;
  readonly body: string;
}

/** One request, timed, never throwing: a network failure is status 0 (and a request that hangs, a test timeout). */
export async function timedFetch(url: string, init: RequestInit = {}): Promise<Answer> {
  const start = performance.now();
  try {
    const res = await fetch(url, init);
    const body = await res.text();
    return {
      status: res.status,
      ms: performance.now() - start,
      contentType: res.headers.get('content-type') ?? '',
      body,
    };
  } catch (error) {
    return { status: 0, ms: performance.now() - start, contentType: '', body: String(error) };
  }
}

/** Run `count` calls of `fn` with at most `concurrency` in flight; answers in completion order. */
export async function burst<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) out.push(await fn(next++));
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return out;
}

/** Problem document fields of an answer (`{}` when it is not one). */
export function problemOf(answer: Answer): { code?: string; reason?: string; status?: number } {
  if (!answer.contentType.startsWith('application/problem+json')) return {};
  return JSON.parse(answer.body) as { code?: string; reason?: string; status?: number };
}

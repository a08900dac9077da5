import { finished, type Readable, type Writable } from 'node:stream';
import { type Dispatcher, Pool, errors as undiciErrors, util as undiciUtil } from 'undici';
import type { TargetConfig } from '../config/schema.js';
import { EscrowError } from '../errors.js';
import type { UpstreamErrorKind } from '../metric-labels.js';

export interface ForwardRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string | string[]>;
  readonly body: Readable | Buffer | undefined;
}

/** A keep-alive pool toward one target's origin. Redirects are never followed (undici's Pool does not). */
export function createUpstreamPool(target: TargetConfig): Pool {
  return new Pool(new URL(target.upstream).origin, {
    connections: target.pool.connections,
    keepAliveTimeout: target.pool.keepAliveTimeoutMs,
    headersTimeout: target.limits.headersTimeoutMs,
    bodyTimeout: target.limits.bodyTimeoutMs,
    connectTimeout: target.limits.connectTimeoutMs,
    maxResponseSize: target.limits.maxResponseBytes ?? -1,
  });
}

/** Map an undici failure once, here, to Escrow's error family (502/504) with the original as `cause`. */
export function upstreamError(error: unknown): { error: EscrowError; kind: UpstreamErrorKind } {
  const code = (error as { code?: string }).code ?? '';
  if (error instanceof EscrowError) return { error, kind: 'protocol' };
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return {
      error: new EscrowError('upstream_timeout', 'the upstream did not answer in time', { cause: error }),
      kind: 'timeout',
    };
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH') {
    return {
      error: new EscrowError('upstream_unavailable', 'the upstream refused the connection', { cause: error }),
      kind: 'connect',
    };
  }
  if (error instanceof undiciErrors.RequestAbortedError || code === 'UND_ERR_ABORTED') {
    return { error: new EscrowError('upstream_error', 'the request was aborted', { cause: error }), kind: 'aborted' };
  }
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED') {
    return {
      error: new EscrowError('upstream_error', 'the upstream connection failed', { cause: error }),
      kind: 'reset',
    };
  }
  return {
    error: new EscrowError('upstream_error', 'the upstream request failed', { cause: error }),
    kind: 'protocol',
  };
}

/**
 * What stops one upstream request: a cut (the task closed, a kill switch) or the agent leaving. Lighter than an
 * AbortController or an EventEmitter per request: one listener at most (the forward in flight), and an abort that
 * came before the forward listened is kept, so that forward is stopped as soon as it connects.
 */
export class AbortHook {
  #listener: AbortListener | undefined;
  #aborted = false;

  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.aborted();
  }

  /** Tells `listener` of the abort (at once if it already happened). */
  listen(listener: AbortListener): void {
    if (this.#aborted) listener.aborted();
    else this.#listener = listener;
  }

  unlisten(): void {
    this.#listener = undefined;
  }
}

/** What an AbortHook tells (an object, not a closure: the forward's handler is one already). */
export interface AbortListener {
  aborted(): void;
}

/**
 * A body target without a stream of its own: undici's parser hands it each chunk (pipeline/lib/scrub-sink.ts
 * ScrubRelease). `push` false pauses the upstream socket until `whenDrained` calls back.
 */
export interface DirectBody {
  push(chunk: Buffer): boolean;
  /** After the last chunk; the forward settles with it. */
  finish(): Promise<void>;
  abort(error: Error): void;
  whenDrained(resume: () => void): void;
}

/** Where `HeadTaker.head` sends the body: a Writable (a decoder's pipeline, kept with backpressure), or a DirectBody. */
export type BodyTarget = Writable | DirectBody;

// A Writable may be a Duplex (a decoder), whose Readable side has a `push` too: `whenDrained` is a DirectBody's alone.
const isDirect = (target: BodyTarget): target is DirectBody => typeof (target as DirectBody).whenDrained === 'function';

/** Takes the answer's head and says where its body goes (pipeline/forward.ts). */
export interface HeadTaker {
  head(statusCode: number, headers: Record<string, string | string[] | undefined>): BodyTarget;
}

/**
 * undici's dispatch handler for one forward (its "legacy" handler API, which its own `stream()` builds on): the
 * same contract as `Pool.stream` — the head is handed to `HeadTaker.head`, the body to what it returns, with
 * backpressure, and the request is aborted when `signal` fires — without the stream, the async resource and the
 * `finished()` listeners `stream()` puts around every answer. A DirectBody takes each chunk as the parser
 * delivers it; a Writable is written and ended as `stream()` would.
 */
class ForwardHandler implements AbortListener {
  readonly #taker: HeadTaker;
  readonly #signal: AbortHook;
  readonly #resolve: () => void;
  readonly #reject: (error: Error) => void;
  #abort: ((error: Error) => void) | undefined;
  #reason: Error | undefined;
  #target: BodyTarget | undefined;
  /** undici's resume for a paused parser; a DirectBody asks for it only when the agent's response is full. */
  #resume: (() => void) | undefined;
  #resumeLater: (() => void) | undefined;
  /** The upstream answer arrived whole: what fails afterwards (the agent's request body) changes nothing. */
  #complete = false;
  #done = false;

  constructor(taker: HeadTaker, signal: AbortHook, resolve: () => void, reject: (error: Error) => void) {
    this.#taker = taker;
    this.#signal = signal;
    this.#resolve = resolve;
    this.#reject = reject;
    signal.listen(this);
  }

  aborted(): void {
    const reason = new undiciErrors.RequestAbortedError();
    if (this.#abort) this.#abort(reason);
    else this.#reason = reason;
  }

  onConnect(abort: (error: Error) => void): void {
    if (this.#reason) abort(this.#reason);
    else this.#abort = abort;
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx: the final head follows
    this.#resume = resume;
    const target = this.#taker.head(statusCode, undiciUtil.parseHeaders(raw) as Record<string, string | string[]>);
    this.#target = target;
    if (isDirect(target)) return true;
    target.on('drain', resume);
    finished(target, { readable: false }, (error) => {
      if (error) this.#abort?.(error);
      this.#finish(error ?? undefined);
    });
    return target.writableNeedDrain !== true;
  }

  onData(chunk: Buffer): boolean {
    const target = this.#target;
    if (target === undefined) return true;
    if (!isDirect(target)) return target.write(chunk);
    if (target.push(chunk)) return true;
    this.#resumeLater ??= () => this.#resume?.(); // made only for an agent that reads slower than the upstream sends
    target.whenDrained(this.#resumeLater);
    return false;
  }

  onComplete(): void {
    this.#complete = true;
    this.#signal.unlisten();
    const target = this.#target;
    if (target === undefined) {
      this.#finish();
      return;
    }
    if (!isDirect(target)) {
      target.end(); // `finished` settles
      return;
    }
    target.finish().then(
      () => this.#finish(),
      (error: Error) => this.#finish(error),
    );
  }

  onError(error: Error): void {
    this.#signal.unlisten();
    const target = this.#target;
    this.#target = undefined; // a late chunk (the agent's body failed first) goes nowhere
    if (target !== undefined) {
      if (isDirect(target)) target.abort(error);
      else target.destroy(error);
    }
    this.#finish(error);
  }

  /** The agent's request body failed (undici aborts the request too; this also covers a failure before dispatch). */
  bodyFailed(error: Error): void {
    if (!this.#complete) this.onError(error);
  }

  #finish(error?: Error): void {
    if (this.#done) return;
    this.#done = true;
    if (error) this.#reject(error);
    else this.#resolve();
  }
}

/**
 * Send the request and take the answer: `taker.head` is called with the status and headers and returns where the
 * body goes (keeping backpressure end to end). Resolves once that target is done with the body.
 */
export function forward(pool: Pool, request: ForwardRequest, signal: AbortHook, taker: HeadTaker): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const handler = new ForwardHandler(taker, signal, resolve, reject);
    const body = request.body;
    if (body !== undefined && !Buffer.isBuffer(body)) body.on('error', (error) => handler.bodyFailed(error));
    pool.dispatch(
      { method: request.method as 'GET', path: request.path, headers: request.headers, body: body ?? null },
      handler as unknown as Dispatcher.DispatchHandler,
    );
  });
}

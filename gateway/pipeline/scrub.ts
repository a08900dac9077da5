import type { ServerResponse } from 'node:http';
import { pipeline, type Transform, type Writable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Building } from '../domain.js';
import { EscrowError } from '../errors.js';
import type { Gateway } from '../gateway.js';
import type { BodyTarget } from '../proxy/forward.js';
import type { NeedleIndex } from '../scrub/index.js';
import { StreamScrubber, type StreamScrubberOptions, scrubText, scrubTexts } from '../scrub/stream.js';
import type { TargetRuntime } from '../targets.js';
import { ScrubRelease, ScrubSink, type ScrubSinkOptions } from './lib/scrub-sink.js';

/*
 * Stage 8: nothing of a lease's secret reaches the agent. Headers are scrubbed and `Location` rewritten
 * (`finishResponseHeaders`); the body streams through a ScrubSink, decoded first when encoded (`bodySink`).
 */

/** A protocol's look at the answer before it is scrubbed (MCP filters list answers: gateway/mcp/respond.ts). */
export interface ResponseHook {
  responseFilter(head: { status: number; headers: Record<string, string | string[]> }): ResponseFilter | undefined;
}

export interface ResponseFilter {
  readonly transform: Transform;
  /** Send the head only with the first bytes the filter lets through (it may still refuse the answer with a 502). */
  readonly holdHead: boolean;
}

/**
 * A redirect to the target's own origin and base path is rewritten to the Escrow path, so the agent stays in
 * its lane; any other is passed back as it is, minus userinfo. Escrow never follows redirects itself.
 */
export function rewriteLocation(location: string, target: TargetRuntime): string | undefined {
  let url: URL;
  try {
    url = new URL(location, `${target.origin}${target.basePath}/`);
  } catch {
    return undefined;
  }
  const base = target.basePath;
  if (url.origin === target.origin && (url.pathname === base || url.pathname.startsWith(`${base}/`) || base === '')) {
    const rest = url.pathname.slice(base.length) || '/';
    return `/${target.config.name}${rest}${url.search}${url.hash}`;
  }
  url.username = '';
  url.password = '';
  return url.href;
}

/**
 * Scrub every header value, then fix up `Location`: rewriting re-serialises the URL (`<` becomes `%3C`, the host is
 * lower-cased), which could turn a form of a secret into one no needle matches, so the rewrite works on the masked
 * value and its result is scrubbed again. Mutates and returns `headers`.
 */
export function finishResponseHeaders(
  headers: Record<string, string | string[]>,
  target: TargetRuntime,
  index: NeedleIndex,
): Record<string, string | string[]> {
  // Every value in one pass (gateway/scrub/stream.ts scrubTexts), then put back in place.
  const names = Object.keys(headers);
  const values: string[] = [];
  for (const name of names) {
    const value = headers[name]!;
    if (Array.isArray(value)) values.push(...value);
    else values.push(value);
  }
  const scrubbed = scrubTexts(index, values);
  let i = 0;
  // The same array back: nothing was masked, every value stays where it is.
  if (scrubbed !== values) {
    for (const name of names) {
      const value = headers[name]!;
      if (Array.isArray(value)) {
        headers[name] = scrubbed.slice(i, i + value.length);
        i += value.length;
      } else {
        headers[name] = scrubbed[i++]!;
      }
    }
  }
  const location = headers.location;
  if (typeof location === 'string') {
    const rewritten = rewriteLocation(location, target);
    if (rewritten === undefined) delete headers.location;
    else headers.location = scrubText(index, rewritten);
  } else if (Array.isArray(location)) {
    delete headers.location;
  }
  return headers;
}

const DECODERS: Record<string, () => Writable & NodeJS.ReadableStream> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/** The decompressed-size bound when a target sets no `limits.maxResponseBytes` (docs/configuration.md). */
export const DEFAULT_MAX_DECODED_BYTES = 64 * 1024 * 1024;

const PLAIN: StreamScrubberOptions = Object.freeze({});
const SSE: StreamScrubberOptions = Object.freeze({ sse: true });

/** A body's Content-Length as a number, when the upstream gave a plain one. */
function lengthOf(headers: Record<string, string | string[]>): number | undefined {
  const length = headers['content-length'];
  return typeof length === 'string' && /^\d+$/.test(length) ? Number(length) : undefined;
}

/**
 * Where the body goes: a ScrubRelease writing into `res` (a ScrubSink behind a decoder or a filter). An encoded
 * body is decoded first so it can be scrubbed (no gzip bypass), sent identity-encoded, bounded by `maxResponseBytes` once decoded (a 300 KB bomb must not
 * become 300 MB for the agent), and its head is sent with the first released bytes, so a body that is refused
 * before then still gets a 502 problem. Unknown encodings fail. A protocol's `filter` (MCP) sees the decoded body
 * before the scrubber, also with a lazily sent head. `onError.failed` sees a decoded or filtered body's failure.
 * Whatever the encoding, the answer ends only after `onFinal` resolves (the audit log's group commit).
 */
export function bodySink(
  gw: Gateway,
  res: ServerResponse,
  target: TargetRuntime,
  head: { status: number; headers: Record<string, string | string[]> },
  onError: { failed(error: Error): void },
  onFinal: () => Promise<void>,
  filter: ResponseFilter | undefined,
): { target: BodyTarget; done?: Promise<void> } {
  const { headers } = head;
  const encoding = String(headers['content-encoding'] ?? 'identity')
    .toLowerCase()
    .trim();
  const contentType = String(headers['content-type'] ?? '').toLowerCase();
  const sse = contentType.startsWith('text/event-stream');
  const options: Building<ScrubSinkOptions> = {
    scrubber: new StreamScrubber(gw.secrets.index, sse ? SSE : PLAIN),
    flushAfterMs: target.config.scrub.flushAfterMs,
    onFinal,
  };
  if (encoding === 'identity' && filter === undefined) {
    res.writeHead(head.status, headers);
    const contentLength = lengthOf(headers);
    if (contentLength !== undefined) options.contentLength = contentLength;
    // The common answer: no stream between undici's parser and the scrubber (proxy/forward.ts DirectBody).
    return { target: new ScrubRelease(res, options) };
  }
  const decoder = encoding === 'identity' ? undefined : DECODERS[encoding];
  if (encoding !== 'identity' && !decoder) {
    throw new EscrowError('upstream_error', 'the upstream used a content encoding Escrow cannot scrub');
  }
  delete headers['content-length'];
  if (decoder) delete headers['content-encoding'];
  const holdHead = decoder !== undefined || filter?.holdHead === true;
  if (!holdHead) res.writeHead(head.status, headers).flushHeaders(); // a stream the agent should see open now
  const sink = new ScrubSink(res, {
    ...options,
    ...(decoder ? { maxBytes: target.config.limits.maxResponseBytes ?? DEFAULT_MAX_DECODED_BYTES } : {}),
    ...(holdHead ? { head: () => res.writeHead(head.status, headers) } : {}),
    onRefused: (error) => onError.failed(error),
  });
  const stages: Writable[] = [...(decoder ? [decoder()] : []), ...(filter ? [filter.transform] : [])];
  // undici is done once the first stage took the last upstream byte; the response is done when the sink is.
  const done = new Promise<void>((resolve, reject) =>
    pipeline([...stages, sink] as unknown as [NodeJS.ReadableStream, Writable], (error) => {
      if (!error) return resolve();
      onError.failed(error);
      reject(error);
    }),
  );
  done.catch(() => {}); // also awaited by forwardAndScrub, unless undici failed first
  return { target: stages[0]!, done };
}

import type { IncomingMessage } from 'node:http';
import { pipeline, type Readable, Transform, type TransformCallback } from 'node:stream';
import type { Soon } from '../../domain.js';
import { EscrowError } from '../../errors.js';

/** Counts bytes through and fails the stream once `max` is passed (chunked bodies have no length up front). */
class BodyLimit extends Transform {
  #seen = 0;
  constructor(readonly max: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.max)
      callback(new EscrowError('payload_too_large', `the body must be at most ${this.max} bytes`));
    else callback(null, chunk);
  }
}

export interface RequestBody {
  readonly stream?: Readable;
  readonly buffer?: Buffer;
}

const NO_BODY: RequestBody = Object.freeze({});

/**
 * The agent's request body, for forwarding. Only requests that declare a body (Content-Length or
 * Transfer-Encoding) have one; a declared length over the target's limit is refused before reading. Streamed at
 * once; read whole (a promise) only when `buffer` asks for it.
 */
export function requestBody(req: IncomingMessage, maxBytes: number, buffer: boolean): Soon<RequestBody> {
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (length === undefined && !chunked) return NO_BODY;
  if (length !== undefined && Number(length) > maxBytes) {
    throw new EscrowError('payload_too_large', `the body must be at most ${maxBytes} bytes`);
  }
  if (req.destroyed) throw notReceived();
  // pipeline, not pipe: an agent that aborts mid-body must fail the upstream request, not leave undici
  // waiting forever on a body that never ends (pinning an upstream connection per aborted request).
  const limited = new BodyLimit(maxBytes);
  pipeline(req, limited, () => {});
  return buffer ? readWhole(limited) : { stream: limited };
}

/** The whole body, for an adapter that signs it (`needsBody`). */
async function readWhole(limited: Readable): Promise<RequestBody> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of limited as AsyncIterable<Buffer>) chunks.push(chunk);
  } catch (error) {
    throw error instanceof EscrowError ? error : notReceived(error);
  }
  return { buffer: Buffer.concat(chunks) };
}

function notReceived(cause?: unknown): EscrowError {
  return new EscrowError('bad_request', 'the request body was not received in full', { cause });
}

import type { IncomingMessage } from 'node:http';
import { pipeline, type Readable, Transform, type TransformCallback } from 'node:stream';
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

/**
 * The agent's request body, for forwarding. Only requests that declare a body (Content-Length or
 * Transfer-Encoding) have one; a declared length over the target's limit is refused before reading.
 */
export async function requestBody(req: IncomingMessage, maxBytes: number, buffer: boolean): Promise<RequestBody> {
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (length === undefined && !chunked) return {};
  if (length !== undefined && Number(length) > maxBytes) {
    throw new EscrowError('payload_too_large', `the body must be at most ${maxBytes} bytes`);
  }
  if (req.destroyed) throw notReceived();
  // pipeline, not pipe: an agent that aborts mid-body must fail the upstream request, not leave undici
  // waiting forever on a body that never ends (pinning an upstream connection per aborted request).
  const limited = new BodyLimit(maxBytes);
  pipeline(req, limited, () => {});
  if (!buffer) return { stream: limited };
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

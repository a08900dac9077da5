import { Transform, type TransformCallback } from 'node:stream';
import { EscrowError } from '../errors.js';
import type { ListKind } from './calls.js';
import { filterLists, type ItemCheck, type ListRouting } from './filter.js';
import { type SseEvent, SseSplitter, withData } from './sse.js';

export interface ResponseFilterOptions {
  /** `json`: the whole answer is read, then filtered; `sse`: event by event; `pass`: bytes go through. */
  readonly mode: 'json' | 'sse' | 'pass';
  /** Nothing goes out before this settles (a new session's binding being stored); a rejection fails the answer. */
  readonly gate?: Promise<void>;
  readonly routing: ListRouting;
  readonly check: ItemCheck;
  /** Largest JSON answer, or SSE event, held to be filtered. */
  readonly maxBytes: number;
  readonly onHidden?: (hidden: ReadonlyMap<ListKind, number>) => void;
}

function unreadable(): EscrowError {
  return new EscrowError('upstream_error', 'the MCP server sent a list answer Escrow cannot read', {
    reason: 'mcp_list_unreadable',
  });
}

/**
 * Sits between the upstream body (decoded) and the scrubber: list answers lose what the principal may not use,
 * before the scrubber sees the bytes the agent will get. A filtered payload is re-serialised from what was checked,
 * so a reader that keeps the first of two duplicate members cannot see a list Escrow did not filter.
 */
export class McpResponseFilter extends Transform {
  readonly #o: ResponseFilterOptions;
  readonly #sse: SseSplitter | undefined;
  readonly #held: Buffer[] = [];
  #heldBytes = 0;
  #gate: Promise<void> | undefined;

  constructor(options: ResponseFilterOptions) {
    super();
    this.#o = options;
    this.#gate = options.gate;
    this.#sse = options.mode === 'sse' ? new SseSplitter(options.maxBytes) : undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#afterGate(() => this.#take(chunk)).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.#afterGate(() => this.#finish()).then(() => callback(), callback);
  }

  async #afterGate(step: () => void): Promise<void> {
    if (this.#gate !== undefined) {
      await this.#gate;
      this.#gate = undefined;
    }
    step();
  }

  #take(chunk: Buffer): void {
    if (this.#o.mode === 'pass') this.push(chunk);
    else if (this.#sse !== undefined) for (const event of this.#sse.push(chunk)) this.push(this.#event(event));
    else {
      this.#heldBytes += chunk.length;
      if (this.#heldBytes > this.#o.maxBytes) throw unreadable();
      this.#held.push(chunk);
    }
  }

  #finish(): void {
    if (this.#sse !== undefined) {
      const rest = this.#sse.end();
      if (rest !== '') this.push(rest);
      return;
    }
    if (this.#o.mode !== 'json' || this.#heldBytes === 0) return;
    const body = Buffer.concat(this.#held);
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      throw unreadable();
    }
    this.push(this.#filter(payload) ? JSON.stringify(payload) : body);
  }

  #event(event: SseEvent): string {
    const raw = event.lines.join('');
    if (event.data === undefined) return raw;
    let payload: unknown;
    try {
      payload = JSON.parse(event.data);
    } catch {
      return raw; // not JSON-RPC: nothing to filter (an MCP client ignores it too)
    }
    return this.#filter(payload) ? withData(event, JSON.stringify(payload)) : raw;
  }

  /** Filter in place; true when the payload carried a list answer (it is then sent as re-serialised). */
  #filter(payload: unknown): boolean {
    const outcome = filterLists(payload, this.#o.routing, this.#o.check);
    if (outcome.hidden.size > 0) this.#o.onHidden?.(outcome.hidden);
    return outcome.matched;
  }
}

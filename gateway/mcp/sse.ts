import { EscrowError } from '../errors.js';

/** One complete server-sent event: its lines as they came (line endings kept) and the value of its data lines. */
export interface SseEvent {
  readonly lines: readonly string[];
  /** The data lines joined with `\n` (undefined when the event has none). */
  readonly data: string | undefined;
}

const DATA = /^data:? ?/;
const isDataLine = (line: string) => /^data(:|\r|\n|$)/.test(line);

function fieldValue(line: string): string {
  return line.replace(/\r?\n$|\r$/, '').replace(DATA, '');
}

/**
 * Splits an event stream into complete events (WHATWG "event stream interpretation": lines end in CRLF, LF or CR; a
 * blank line ends an event). Bytes of an unfinished event are held, up to `maxEventBytes`.
 */
export class SseSplitter {
  readonly #decoder = new TextDecoder('utf-8');
  readonly #max: number;
  #pending = '';
  #lines: string[] = [];
  #size = 0;

  constructor(maxEventBytes: number) {
    this.#max = maxEventBytes;
  }

  /** The events completed by this chunk. Throws once an event grows past the bound. */
  push(chunk: Buffer): SseEvent[] {
    this.#pending += this.#decoder.decode(chunk, { stream: true });
    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.#pending.length; i += 1) {
      const code = this.#pending.charCodeAt(i);
      if (code !== 0x0a && code !== 0x0d) continue;
      // A CR at the end of what arrived may be the first half of a CRLF: wait for the next chunk.
      if (code === 0x0d && i + 1 === this.#pending.length) break;
      const end = code === 0x0d && this.#pending.charCodeAt(i + 1) === 0x0a ? i + 2 : i + 1;
      this.#line(this.#pending.slice(start, end), events);
      start = end;
      i = end - 1;
    }
    this.#pending = this.#pending.slice(start);
    this.#grow(0);
    return events;
  }

  /** What is left at the end of the stream (an unfinished event), as it came. */
  end(): string {
    const rest = this.#lines.join('') + this.#pending + this.#decoder.decode();
    this.#lines = [];
    this.#pending = '';
    return rest;
  }

  #line(line: string, events: SseEvent[]): void {
    this.#lines.push(line);
    this.#grow(line.length);
    if (line !== '\n' && line !== '\r\n' && line !== '\r') return;
    const data = this.#lines.filter(isDataLine).map(fieldValue);
    events.push({ lines: this.#lines, data: data.length === 0 ? undefined : data.join('\n') });
    this.#lines = [];
    this.#size = 0;
  }

  #grow(by: number): void {
    this.#size += by;
    if (this.#size + this.#pending.length > this.#max) {
      throw new EscrowError('upstream_error', 'an event of the MCP stream is too large to filter', {
        reason: 'mcp_event_too_large',
      });
    }
  }
}

/** The event with its data lines replaced by one line carrying `data` (other fields and line endings kept). */
export function withData(event: SseEvent, data: string): string {
  const out: string[] = [];
  let written = false;
  for (const line of event.lines) {
    if (!isDataLine(line)) out.push(line);
    else if (!written) {
      out.push(`data: ${data}\n`);
      written = true;
    }
  }
  return out.join('');
}

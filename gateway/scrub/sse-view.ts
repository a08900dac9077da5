import { ScannedView } from './view-bytes.js';

const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;
const SPACE = 0x20;
const DATA = [0x64, 0x61, 0x74, 0x61]; // "data"

enum State {
  Name,
  AfterColon,
  Value,
  Skip,
}

/**
 * The server-sent events view: the values of every `data:` field of a `text/event-stream`, one after the other
 * with nothing between them, across events. A secret an upstream streams in pieces (`data: sk-ab` then, one event
 * later, `data: cd…`) is contiguous here, and a match masks only the pieces' own bytes, never the SSE framing.
 * Other fields (`event:`, `id:`, `retry:`, comments) are left out.
 */
export class SseView extends ScannedView {
  #state = State.Name;
  /** How much of the field name read so far matches `data`; -1 once it cannot. */
  #name = 0;

  feed(chunk: Uint8Array, base: number): void {
    this.out.reset(chunk.length);
    for (let k = 0; k < chunk.length; k++) {
      const c = chunk[k]!;
      if (c === CR || c === LF) {
        this.#state = State.Name;
        this.#name = 0;
        continue;
      }
      switch (this.#state) {
        case State.Name:
          if (c === COLON) this.#state = this.#name === DATA.length ? State.AfterColon : State.Skip;
          else this.#name = this.#name >= 0 && this.#name < DATA.length && c === DATA[this.#name] ? this.#name + 1 : -1;
          break;
        case State.AfterColon:
          this.#state = State.Value;
          if (c !== SPACE) this.out.append(c, base + k, 1);
          break;
        case State.Value:
          this.out.append(c, base + k, 1);
          break;
        case State.Skip:
          break;
        default: {
          const never: never = this.#state;
          throw new Error(`unknown SSE state ${String(never)}`);
        }
      }
    }
    this.scanner.scanMapped(this.out);
  }
}

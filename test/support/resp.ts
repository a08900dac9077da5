/**
 * Just enough of RESP2 (the Redis protocol) to find where one command or one reply ends in a byte stream, for
 * the fault-injecting proxy (resp-proxy.ts). Clients send arrays of bulk strings; replies are any RESP2 value.
 */

export interface Command {
  /** The command's bytes exactly as the client sent them. */
  readonly raw: Buffer;
  /** Its arguments as text; `args[0]` is the command name, upper-cased. */
  readonly args: readonly string[];
}

/** The index just past the CRLF that ends the line starting at `from`, or -1 when the line is incomplete. */
function lineEnd(buf: Buffer, from: number): number {
  const at = buf.indexOf('\r\n', from);
  return at === -1 ? -1 : at + 2;
}

/** Where one RESP2 value starting at `from` ends, or -1 when it is not complete yet. */
export function valueEnd(buf: Buffer, from: number): number {
  if (from >= buf.length) return -1;
  const end = lineEnd(buf, from);
  if (end === -1) return -1;
  const type = String.fromCharCode(buf[from]!);
  const n = Number(buf.toString('latin1', from + 1, end - 2));
  switch (type) {
    case '+':
    case '-':
    case ':':
      return end;
    case '$':
      if (n < 0) return end;
      return buf.length >= end + n + 2 ? end + n + 2 : -1;
    case '*': {
      let at = end;
      for (let i = 0; i < n; i++) {
        at = valueEnd(buf, at);
        if (at === -1) return -1;
      }
      return at;
    }
    default:
      throw new Error(`not RESP2: ${JSON.stringify(buf.toString('latin1', from, Math.min(end, from + 40)))}`);
  }
}

/** Split complete commands off the front of `buf`; returns them and the bytes left over. */
export function takeCommands(buf: Buffer): { commands: Command[]; rest: Buffer } {
  const commands: Command[] = [];
  let at = 0;
  for (;;) {
    const end = valueEnd(buf, at);
    if (end === -1) break;
    const raw = buf.subarray(at, end);
    commands.push({ raw: Buffer.from(raw), args: bulkStrings(raw) });
    at = end;
  }
  return { commands, rest: Buffer.from(buf.subarray(at)) };
}

/** How many complete replies `buf` holds from its start, and where the last complete one ends. */
export function countReplies(buf: Buffer): { ends: number[] } {
  const ends: number[] = [];
  let at = 0;
  for (;;) {
    const end = valueEnd(buf, at);
    if (end === -1) return { ends };
    ends.push(end);
    at = end;
  }
}

function bulkStrings(raw: Buffer): string[] {
  const out: string[] = [];
  let at = lineEnd(raw, 0);
  while (at < raw.length) {
    const end = lineEnd(raw, at);
    const n = Number(raw.toString('latin1', at + 1, end - 2));
    out.push(raw.toString('utf8', end, end + n));
    at = end + n + 2;
  }
  if (out[0] !== undefined) out[0] = out[0].toUpperCase();
  return out;
}

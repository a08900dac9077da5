import { MAX_ENTITY_NAME, namedEntity } from './entities.js';
import type { ViewScanner } from './scanner.js';
import { EMPTY_BYTES } from './scratch.js';
import { ScannedView } from './view-bytes.js';

const PCT = 0x25;
const BSL = 0x5c;
const AMP = 0x26;
const HASH = 0x23;
const SEMI = 0x3b;
const CR = 0x0d;
const LF = 0x0a;

/** Hex digit values, -1 elsewhere. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX['0123456789abcdef'.charCodeAt(i)] = i;
  HEX['0123456789ABCDEF'.charCodeAt(i)] = i;
}
/** Bytes that begin an escape or are dropped: where the plain fast path stops. */
const SPECIAL = new Uint8Array(256);
for (const c of [PCT, BSL, AMP, CR, LF]) SPECIAL[c] = 1;
const isLetter = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);

/** JSON's one-character escapes (`\n` and `\r` decode to line breaks, which the view drops). */
const SIMPLE_ESCAPES: Readonly<Record<number, number>> = {
  47: 0x2f,
  92: 0x5c,
  34: 0x22,
  39: 0x27,
  98: 0x08,
  102: 0x0c,
  116: 0x09,
  110: LF,
  114: CR,
};

/** Outcome of looking at the pending bytes: need more, not an escape, or an escape of that many bytes. */
const MORE = -1;
/** The longest escape held while it is read. */
const PEND_BYTES = 16;
const INVALID = 0;

/**
 * The decoded view: undoes, wherever they occur and in any mix, percent-escapes in either hex case (`%2f`,
 * `%2F`) and doubled (`%252F`), JSON escapes (`\/`, `\"`, `\uXXXX` in either case, surrogate pairs), HTML numeric
 * (`&#47;`, `&#x2F;`) and named (`&sol;`) references, and drops CR and LF (base64 wrapped at 64 or 76 columns,
 * JSON `\n`). Each decoded byte keeps the source range of the escape it came from, so a match masks whole escapes.
 * Anything that is not a complete escape passes through as it is.
 */
export class DecodedView extends ScannedView {
  /** The escape being read (at most 16 bytes); from the stream's scratch, like the view's other arrays. */
  #pend: Uint8Array;
  #plen = 0;
  #pstart = 0;
  /** Skip what no match with an escape can reach (`#plain`); false scans every byte (the equivalence tests). */
  readonly #skim: boolean;
  /** Plain bytes in a row since the last special byte (none yet: as if far away). */
  #plainRun = Number.MAX_SAFE_INTEGER;

  constructor(scanner: ViewScanner, skim = true) {
    super(scanner);
    this.#pend = scanner.scratch.bytes(PEND_BYTES);
    this.#skim = skim;
  }

  override release(): void {
    super.release();
    this.scanner.scratch.give(this.#pend);
    this.#pend = EMPTY_BYTES;
  }

  feed(chunk: Uint8Array, base: number): void {
    const out = this.out;
    let k = 0;
    while (k < chunk.length) {
      // Runs of plain bytes go straight to the scanner; only escapes take the slow path below.
      if (this.#plen === 0) {
        k = this.#skim ? this.#plain(chunk, k, base) : this.scanner.scanSource(chunk, k, chunk.length, base, SPECIAL);
      }
      if (k >= chunk.length) break;
      this.#plainRun = 0;
      out.reset(16);
      this.#byte(chunk[k]!, base + k);
      if (out.length > 0) this.scanner.scanMapped(out);
      k++;
    }
  }

  /**
   * A run of plain bytes, from `from` to the next special byte or the chunk's end. There the decoded view is the raw
   * view byte for byte, so a match wholly inside the run is the raw view's as well (same bytes, same source
   * ranges, same extensions), and the raw view scans every byte. What only this view can match involves an escape
   * or a dropped line break, and spans less than the scanner's history: so only a history's worth of the run after
   * the last special byte and before the next one (or the chunk's end, where the next may come) is scanned. What
   * lies between is skipped, and the scanner told (`gap`), so that no match spans it. Returns the run's end.
   */
  #plain(chunk: Uint8Array, from: number, base: number): number {
    const reach = this.scanner.history;
    let k = from;
    // The lead: the bytes a match with the last escape can reach, scanned as they come (one pass, stopping at a
    // special byte, as without skipping: a body with escapes every few dozen bytes never gets further).
    const lead = Math.min(chunk.length, from + Math.max(0, reach - this.#plainRun));
    if (lead > from) {
      k = this.scanner.scanSource(chunk, from, lead, base, SPECIAL);
      this.#ran(k - from);
      if (k < lead || k === chunk.length) return k;
    }
    let end = k;
    while (end < chunk.length && SPECIAL[chunk[end]!] !== 1) end++;
    const tail = Math.max(k, end - reach);
    if (tail > k) this.scanner.gap();
    if (end > tail) this.scanner.scanSource(chunk, tail, end, base);
    this.#ran(end - k);
    return end;
  }

  #ran(plain: number): void {
    this.#plainRun = Math.min(Number.MAX_SAFE_INTEGER, this.#plainRun + plain);
  }

  /** End of the stream: what is still pending is decoded as far as it goes, the rest passes as it is. */
  finish(): void {
    this.out.reset(PEND_BYTES * 4);
    while (this.#plen > 0) this.#settle(true);
    this.scanner.scanMapped(this.out);
  }

  #byte(c: number, at: number): void {
    if (this.#plen === 0) {
      if (c === PCT || c === BSL || c === AMP) {
        this.#pstart = at;
        this.#pend[0] = c;
        this.#plen = 1;
      } else if (c !== CR && c !== LF) this.out.append(c, at, 1);
      return;
    }
    this.#pend[this.#plen++] = c;
    this.#settle(false);
  }

  #settle(final: boolean): void {
    const p = this.#pend;
    const used = p[0] === PCT ? this.#percent(final) : p[0] === BSL ? this.#escape(final) : this.#entity(final);
    if (used === MORE) return;
    const skip = used === INVALID ? 1 : used;
    if (used === INVALID) this.out.append(p[0]!, this.#pstart, 1);
    const n = this.#plen;
    this.#plen = 0;
    if (skip === n) return;
    // Bytes after the escape (or after a `%`, `\` or `&` that began none) are read again from scratch.
    const rest = p.slice(skip, n);
    const restStart = this.#pstart + skip;
    for (let j = 0; j < rest.length; j++) this.#byte(rest[j]!, restStart + j);
  }

  #percent(final: boolean): number {
    const p = this.#pend;
    const n = this.#plen;
    for (let k = 1; k < Math.min(n, 3); k++) if (HEX[p[k]!]! < 0) return INVALID;
    if (n < 3) return final ? INVALID : MORE;
    const value = HEX[p[1]!]! * 16 + HEX[p[2]!]!;
    if (value !== PCT) return this.#emit(value, 3);
    // `%25` may be the first half of a doubled escape (`%252F`): look at two more bytes before deciding.
    for (let k = 3; k < Math.min(n, 5); k++) if (HEX[p[k]!]! < 0) return this.#emit(PCT, 3);
    if (n < 5) return final ? this.#emit(PCT, 3) : MORE;
    return this.#emit(HEX[p[3]!]! * 16 + HEX[p[4]!]!, 5);
  }

  #escape(final: boolean): number {
    const p = this.#pend;
    const n = this.#plen;
    if (n < 2) return final ? INVALID : MORE;
    const simple = SIMPLE_ESCAPES[p[1]!];
    if (simple !== undefined) return this.#emit(simple, 2);
    if (p[1] !== 0x75) return INVALID;
    const unit = this.#hex4(2, final);
    if (unit < 0) return unit === -2 ? INVALID : MORE;
    if (unit < 0xd800 || unit > 0xdfff) return this.#codePoint(unit, 6);
    if (unit >= 0xdc00) return INVALID;
    if ((n > 6 && p[6] !== BSL) || (n > 7 && p[7] !== 0x75)) return INVALID;
    const low = this.#hex4(8, final);
    if (low < 0) return low === -2 ? INVALID : MORE;
    if (low < 0xdc00 || low > 0xdfff) return INVALID;
    return this.#codePoint(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00), 12);
  }

  /** Four hex digits at `from`: their value, -1 for "need more", -2 for "not hex". */
  #hex4(from: number, final: boolean): number {
    let value = 0;
    for (let k = from; k < from + 4; k++) {
      if (k >= this.#plen) return final ? -2 : -1;
      const digit = HEX[this.#pend[k]!]!;
      if (digit < 0) return -2;
      value = value * 16 + digit;
    }
    return value;
  }

  #entity(final: boolean): number {
    const p = this.#pend;
    const n = this.#plen;
    if (n < 2) return final ? INVALID : MORE;
    if (p[1] === HASH) return this.#numeric(final);
    if (!isLetter(p[1]!)) return INVALID;
    for (let k = 2; k < n; k++) {
      if (p[k] === SEMI) {
        const bytes = namedEntity(Buffer.from(p.subarray(1, k)).toString('latin1'));
        if (!bytes) return INVALID;
        for (const b of bytes) this.#emit(b, k + 1);
        return k + 1;
      }
      if (!isLetter(p[k]!) || k > MAX_ENTITY_NAME) return INVALID;
    }
    return final ? INVALID : MORE;
  }

  #numeric(final: boolean): number {
    const p = this.#pend;
    const n = this.#plen;
    if (n < 3) return final ? INVALID : MORE;
    const hex = p[2] === 0x78 || p[2] === 0x58;
    const from = hex ? 3 : 2;
    let value = 0;
    for (let k = from; k < n; k++) {
      if (p[k] === SEMI) return k === from ? INVALID : this.#codePoint(value, k + 1);
      const digit = HEX[p[k]!]!;
      if (digit < 0 || (!hex && digit > 9) || k - from >= (hex ? 6 : 7)) return INVALID;
      value = value * (hex ? 16 : 10) + digit;
    }
    return final ? INVALID : MORE;
  }

  #codePoint(cp: number, len: number): number {
    if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return INVALID;
    if (cp < 0x80) return this.#emit(cp, len);
    if (cp < 0x800) {
      this.#emit(0xc0 | (cp >> 6), len);
    } else if (cp < 0x10000) {
      this.#emit(0xe0 | (cp >> 12), len);
      this.#emit(0x80 | ((cp >> 6) & 63), len);
    } else {
      this.#emit(0xf0 | (cp >> 18), len);
      this.#emit(0x80 | ((cp >> 12) & 63), len);
      this.#emit(0x80 | ((cp >> 6) & 63), len);
    }
    return this.#emit(0x80 | (cp & 63), len);
  }

  /** One decoded byte standing for the pending escape's first `len` bytes; returns `len`. */
  #emit(byte: number, len: number): number {
    if (byte !== CR && byte !== LF) this.out.append(byte, this.#pstart, len);
    return len;
  }
}

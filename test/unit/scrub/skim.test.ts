import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NeedleIndex } from '../../../gateway/scrub/index.js';
import { StreamScrubber, type StreamScrubberOptions } from '../../../gateway/scrub/stream.js';
import { cut } from '../../support/chunks.js';

/*
 * The decoded view skips the middle of long plain runs (gateway/scrub/decoder.ts `#plain`): only the bytes a match
 * with an escape can reach are scanned there. These tests hold it to the view that scans every byte: the same
 * masks, for bodies built to put secrets, their escaped and base64 forms and lone escape characters at every
 * distance from each other, around the scanner's history (64 or 128 bytes here), in any chunking.
 */

// A long secret (sparse anchors, base64 cores with extensions) and a short one (dense anchors, probed every byte).
const LONG = 'sk-Q7fZ2m/Kx+9pLw3vT8rY1nB6dH0cJ4aE';
const SHORT = 'pw7!';
const index = new NeedleIndex();
index.add(LONG);
index.add(SHORT);

const hex = (c: number, upper: boolean) => {
  const h = c.toString(16).padStart(2, '0');
  return upper ? h.toUpperCase() : h;
};

/** One character of a secret, as an upstream may reflect it. */
function escaped(ch: string, how: number): string {
  const c = ch.charCodeAt(0);
  switch (how) {
    case 1:
      return `%${hex(c, false)}`;
    case 2:
      return `%${hex(c, true)}`;
    case 3:
      return `%25${hex(c, true)}`;
    case 4:
      return `\\u00${hex(c, false)}`;
    case 5:
      return `&#${c};`;
    case 6:
      return `&#x${hex(c, true)};`;
    case 7:
      return ch === '/' ? '\\/' : ch;
    default:
      return ch;
  }
}

/**
 * The forms of a secret an escape can reach into: the raw value, and the longest ones (hex and UTF-16, 70 bytes
 * for LONG), so that a match reaches as far from an escape as any can.
 */
const FORMS = [
  LONG,
  SHORT,
  `Bearer ${LONG}`,
  Buffer.from(LONG).toString('hex'),
  Buffer.from(LONG).toString('hex').toUpperCase(),
  Buffer.from(LONG, 'utf16le').toString('latin1'),
  Buffer.from(LONG, 'utf16le').swap16().toString('latin1'),
];
/** A form whose last (first) character only is escaped: the plain stretch before (after) it is as long as it gets. */
const escapedLast = (form: string) => `${form.slice(0, -1)}%${hex(form.charCodeAt(form.length - 1), true)}`;
const escapedFirst = (form: string) => `%${hex(form.charCodeAt(0), false)}${form.slice(1)}`;

const secretForm = fc.oneof(
  // A form with a few of its characters escaped (most plain: a plain stretch next to an escape).
  fc
    .tuple(fc.constantFrom(...FORMS), fc.array(fc.nat(200), { minLength: 80, maxLength: 80 }))
    .map(([s, hows]) => [...s].map((ch, i) => escaped(ch, hows[i]! > 7 ? 0 : hows[i]!)).join('')),
  fc.constantFrom(...FORMS).map(escapedLast),
  fc.constantFrom(...FORMS).map(escapedFirst),
  // Base64 of the secret inside other bytes, wrapped by line breaks at any places.
  fc
    .tuple(fc.string({ maxLength: 3 }), fc.array(fc.nat(60), { maxLength: 3 }), fc.boolean())
    .map(([pad, cuts, crlf]) => {
      const b64 = Buffer.from(`${pad}${LONG}`).toString('base64');
      let out = b64;
      for (const at of [...cuts].sort((a, b) => b - a))
        out = `${out.slice(0, at)}${crlf ? '\r\n' : '\n'}${out.slice(at)}`;
      return out;
    }),
  fc.constantFrom(LONG, SHORT, LONG.slice(0, 20), LONG.slice(10)),
);

/** Plain runs short and long: shorter and longer than the history, so the view skips some and not others. */
const plainRun = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'abcXYZ019+/=-_ "{}:,'), maxLength: 40 }),
  fc
    .tuple(fc.integer({ min: 40, max: 400 }), fc.constantFrom('x', 'A', 'Q7fZ', ' '))
    .map(([n, u]) => u.repeat(n).slice(0, n)),
);

/** Escape characters on their own: they begin an escape, or are dropped, or begin none. */
const special = fc.constantFrom('%', '%2', '%25', '\\', '\\u00', '&', '&#', '&amp;', '\n', '\r\n', '%2F', '\\n');

const body = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: plainRun },
      { weight: 2, arbitrary: secretForm },
      { weight: 2, arbitrary: special },
    ),
    {
      maxLength: 14,
    },
  )
  .map((parts) => Buffer.from(parts.join(''), 'latin1'));

function scrub(chunks: readonly Buffer[], options: StreamScrubberOptions): Buffer {
  const s = new StreamScrubber(index, options);
  const out: Buffer[] = [];
  for (const c of chunks) {
    s.push(c);
    out.push(s.take(s.due));
  }
  out.push(s.end());
  return Buffer.concat(out);
}

describe('the decoded view skips plain bytes no escape can reach, and masks exactly what scanning all of them masks', () => {
  it('gives the same bytes as the view that scans every byte, for any body and chunking', () => {
    fc.assert(
      fc.property(body, fc.array(fc.nat(4000), { maxLength: 6 }), (buf, points) => {
        const chunks = cut(buf, points);
        const skimmed = scrub(chunks, {});
        const full = scrub(chunks, { everyDecodedByte: true });
        expect(skimmed.toString('latin1')).toBe(full.toString('latin1'));
      }),
      { numRuns: 2000 },
    );
  });

  it('masks a secret escaped only at its far end after a long plain run, and one escaped only at its start', () => {
    const run = 'x'.repeat(1000);
    const last = escapedLast(LONG);
    const first = escapedFirst(LONG);
    const hexLast = escapedLast(Buffer.from(LONG).toString('hex'));
    const hexFirst = escapedFirst(Buffer.from(LONG).toString('hex'));
    for (const text of [
      `${run}${last}${run}`,
      `${run}${first}${run}`,
      `${run}\n${run}${last}`,
      `${run}${hexLast}`,
      `${run}${hexFirst}${run}`,
    ]) {
      const buf = Buffer.from(text);
      for (const chunks of [[buf], cut(buf, [999]), cut(buf, [500, 1001, 1010])]) {
        const out = scrub(chunks, {}).toString();
        expect(out).toHaveLength(text.length);
        expect(out).not.toContain(LONG.slice(1, -1));
        expect(out).not.toContain(Buffer.from(LONG).toString('hex').slice(2, -2));
        expect(out.startsWith(run)).toBe(true);
      }
    }
  });

  it('masks nothing across a skipped stretch: the history ends at the gap', () => {
    // Laid out so that, were the skipped stretch not a gap, the end of one scanned stretch and the start of the
    // next would spell the secret in the view's history. The history's size is a power of two ≥ 64: try each.
    const half = Math.floor(LONG.length / 2);
    for (const reach of [64, 128, 256, 512]) {
      const text = [
        '%41',
        'z'.repeat(reach - half),
        LONG.slice(0, half),
        'y'.repeat(2000),
        LONG.slice(half),
        'z'.repeat(reach - (LONG.length - half)),
        '%41',
      ].join('');
      expect(scrub([Buffer.from(text)], {}).toString()).toBe(text);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { NeedleIndex } from '../../../gateway/scrub/index.js';
import { scrubBytes } from '../../../gateway/scrub/stream.js';

const SECRET = 'k3y/Val+ue=42&x<y>';
const index = new NeedleIndex();
index.add(SECRET);
const scrub = (text: string) => scrubBytes(index, Buffer.from(text)).toString();
const stars = (n: number) => '*'.repeat(n);

describe('the decoded view masks whole escapes of a secret, and nothing for anything less', () => {
  it.each([
    ['percent, upper', encodeURIComponent(SECRET)],
    ['percent, lower', encodeURIComponent(SECRET).replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase())],
    ['percent, doubled', encodeURIComponent(encodeURIComponent(SECRET))],
    ['JSON \\/', SECRET.replaceAll('/', '\\/')],
    [
      'JSON \\u, upper hex',
      SECRET.replace(/[/+=&<>]/g, (c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`),
    ],
    ['HTML decimal', SECRET.replace(/[/+=&<>]/g, (c) => `&#${c.charCodeAt(0)};`)],
    ['HTML hex, leading zeros', SECRET.replace(/[/+=&<>]/g, (c) => `&#x00${c.charCodeAt(0).toString(16)};`)],
    [
      'HTML named',
      SECRET.replaceAll('&', '&amp;').replaceAll('/', '&sol;').replaceAll('<', '&lt;').replaceAll('>', '&gt;'),
    ],
  ])('%s: the escapes are masked as a whole, the text around is kept', (_name, encoded) => {
    expect(scrub(`[${encoded}]`)).toBe(`[${stars(encoded.length)}]`);
  });

  it('decodes surrogate pairs and multi-byte characters', () => {
    const index2 = new NeedleIndex();
    index2.add('pässwörd-😀-secret');
    // Every non-ASCII UTF-16 unit escaped, the emoji as a surrogate pair (as JSON.stringify-with-ASCII-only does).
    const escaped = JSON.stringify('pässwörd-😀-secret').replace(/[^\x20-\x7e]/g, (c) =>
      c
        .split('')
        .map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`)
        .join(''),
    );
    const out = scrubBytes(index2, Buffer.from(escaped)).toString();
    expect(out).toBe(`"${stars(escaped.length - 2)}"`);
  });

  it('leaves a prefix of the secret, escaped or not, as it is', () => {
    for (const k of [1, 5, SECRET.length - 1]) {
      const prefix = SECRET.slice(0, k);
      expect(scrub(`#${prefix}`)).toBe(`#${prefix}`);
      expect(scrub(`#${encodeURIComponent(prefix)}`)).toBe(`#${encodeURIComponent(prefix)}`);
    }
  });

  it('still masks the raw secret when the agent puts an escape character right before it', () => {
    // `%` + "k3" is not hex, but `\` + "/" is a JSON escape: the decoded view loses the first byte, the raw view not.
    expect(scrub(`\\${SECRET.slice(3)}`)).toBe(`\\${SECRET.slice(3)}`); // not the whole secret: nothing
    expect(scrub(`%${SECRET}`)).toBe(`%${stars(SECRET.length)}`);
    expect(scrub(`\\${SECRET}`)).toBe(`\\${stars(SECRET.length)}`);
    expect(scrub(`&#${SECRET}`)).toBe(`&#${stars(SECRET.length)}`);
  });

  it('passes broken escapes through and decodes what follows them', () => {
    const text = `%zz %2 \\q \\u12 &#; &nosuch; &#x110000; ${encodeURIComponent(SECRET)}%`;
    const out = scrub(text);
    expect(out.startsWith('%zz %2 \\q \\u12 &#; &nosuch; &#x110000; ')).toBe(true);
    expect(out).not.toContain(encodeURIComponent(SECRET));
    expect(out.endsWith('%')).toBe(true);
  });

  it('finishes an escape pending at the end of the stream (`%25` is a complete escape there)', () => {
    const index3 = new NeedleIndex();
    index3.add('ends-with-percent%');
    expect(scrubBytes(index3, Buffer.from('x ends-with-percent%25')).toString()).toBe(`x ${stars(20)}`);
  });

  it('ignores line breaks inside the secret’s base64 but keeps them in the output', () => {
    const b64 = Buffer.from(`prefix text ${SECRET} suffix text`).toString('base64');
    const wrapped = `${b64.slice(0, 20)}\r\n${b64.slice(20)}`;
    const out = scrub(wrapped);
    expect(out).toContain('\r\n');
    expect(out.length).toBe(wrapped.length);
    expect(Buffer.from(out.replace(/[*\r\n]/g, ''), 'base64').toString('latin1')).not.toContain('Val+ue');
  });
});

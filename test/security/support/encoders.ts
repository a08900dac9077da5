/**
 * The ways real upstreams reflect a value, each as a function from the value to the bytes they send. The names
 * are the rows of the encodings table in docs/security.md.
 */

const hex2 = (b: number) => b.toString(16).padStart(2, '0');
const u4 = (c: number) => `\\u${c.toString(16).padStart(4, '0')}`;
const everyByte = (s: string, f: (b: number, i: number) => string) => [...Buffer.from(s)].map(f).join('');
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

/** A longer text around the value, as when an upstream encodes a whole echo of the request. */
const around = (s: string, skip: number) => `${'x'.repeat(skip)}{"key":"${s}","n":1} and some more text after it`;

/** HTML5 references that stand for these very ASCII characters (`&tilde;` and `&hyphen;` do not). */
const NAMED: Record<string, string> = {
  '/': '&sol;',
  '+': '&plus;',
  '=': '&equals;',
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '!': '&excl;',
  '(': '&lpar;',
  ')': '&rpar;',
};

export const ENCODERS: Readonly<Record<string, (s: string) => string | Buffer>> = {
  raw: (s) => s,
  'base64 padded': (s) => b64(s),
  'base64 unpadded': (s) => b64(s).replace(/=+$/, ''),
  'base64url padded': (s) => b64(s).replaceAll('+', '-').replaceAll('/', '_'),
  'base64url unpadded': (s) => Buffer.from(s).toString('base64url'),
  'base64 of a longer text, alignment 0': (s) => b64(around(s, 0)),
  'base64 of a longer text, alignment 1': (s) => b64(around(s, 1)),
  'base64 of a longer text, alignment 2': (s) => b64(around(s, 2)),
  'base64url of a longer text, alignment 1': (s) => Buffer.from(around(s, 1)).toString('base64url'),
  'base64 wrapped at 64 columns (PEM)': (s) => b64(around(s, 40)).replace(/(.{64})/g, '$1\n'),
  'base64 wrapped at 76 columns (MIME)': (s) => b64(around(s, 20)).replace(/(.{76})/g, '$1\r\n'),
  'hex lower': (s) => Buffer.from(s).toString('hex'),
  'hex upper': (s) => Buffer.from(s).toString('hex').toUpperCase(),
  'percent (encodeURIComponent)': (s) => encodeURIComponent(s),
  'percent, lower-case hex': (s) => encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()),
  'percent, mixed case': (s) => {
    let n = 0;
    return encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (h) => (n++ % 2 ? h.toLowerCase() : h));
  },
  'percent, Python quote (bare /)': (s) => encodeURIComponent(s).replaceAll('%2F', '/'),
  'percent, form encoding (+ for space)': (s) => new URLSearchParams({ v: s }).toString().slice(2),
  'percent, every byte (upper)': (s) => everyByte(s, (b) => `%${hex2(b).toUpperCase()}`),
  'percent, every byte (lower)': (s) => everyByte(s, (b) => `%${hex2(b)}`),
  'percent, doubled': (s) => encodeURIComponent(encodeURIComponent(s)),
  'JSON (JSON.stringify)': (s) => JSON.stringify(s),
  'JSON, PHP json_encode (\\/)': (s) => JSON.stringify(s).replaceAll('/', '\\/'),
  'JSON, Go encoding/json (\\u0026 \\u003c \\u003e)': (s) =>
    JSON.stringify(s).replace(/[&<>]/g, (c) => u4(c.charCodeAt(0))),
  'JSON, every character \\uXXXX (lower)': (s) => [...s].map((c) => u4(c.charCodeAt(0))).join(''),
  'JSON, every character \\uXXXX (upper)': (s) =>
    [...s].map((c) => u4(c.charCodeAt(0)).toUpperCase().replace('\\U', '\\u')).join(''),
  'JSON, every other character \\uXXXX': (s) => [...s].map((c, i) => (i % 2 ? u4(c.charCodeAt(0)) : c)).join(''),
  'HTML numeric, decimal': (s) => [...s].map((c) => `&#${c.charCodeAt(0)};`).join(''),
  'HTML numeric, hex': (s) => [...s].map((c, i) => `&#${i % 2 ? 'x' : 'X'}${c.charCodeAt(0).toString(16)};`).join(''),
  'HTML named (&sol; &plus; &equals; …)': (s) => [...s].map((c) => NAMED[c] ?? c).join(''),
  'HTML htmlspecialchars (& < > " \')': (s) =>
    s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#039;' })[c]!),
  'UTF-16LE': (s) => Buffer.from(s, 'utf16le'),
  'UTF-16BE': (s) => Buffer.from(s, 'utf16le').swap16(),
};

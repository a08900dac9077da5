/** Helpers of the adapter contract suite: what an error reveals, and what `inject` put on the wire. */
import { inspect } from 'node:util';
import type { UpstreamRequest } from './types.js';

/** Everything an error can reveal when it is logged, serialised or printed. */
export function renderings(error: unknown): string {
  const e = error as Error;
  const forms = [JSON.stringify(error), inspect(error, { depth: 10 }), String(error), e?.stack, e?.message];
  return forms.join('\n');
}

/** What inject put on the wire: changed header values (without an auth scheme) and added query values. */
export function sentValues(before: UpstreamRequest, after: UpstreamRequest): string[] {
  const values: string[] = [];
  for (const [name, value] of Object.entries(after.headers)) {
    const text = Array.isArray(value) ? value.join(', ') : value;
    if (text !== before.headers[name]) values.push(text.replace(/^[A-Za-z0-9-]+ (?=\S)/, ''));
  }
  const query = (path: string) => new URLSearchParams(path.includes('?') ? path.slice(path.indexOf('?')) : '');
  const had = new Set(query(before.path).values());
  const raw = after.path.includes('?') ? after.path.slice(after.path.indexOf('?') + 1).split('&') : [];
  for (const pair of raw) if (!had.has(new URLSearchParams(pair).values().next().value ?? '')) values.push(pair);
  return values;
}

/** True when a sent value shows the secret in some form (as is, base64-decoded, URL-decoded). */
export function reveals(value: string, secret: string): boolean {
  let urlDecoded = value;
  try {
    urlDecoded = decodeURIComponent(value.replaceAll('+', ' '));
  } catch {
    // not URL-encoded
  }
  return [value, Buffer.from(value, 'base64').toString('utf8'), urlDecoded].some((form) => form.includes(secret));
}

/** True when the scrubber, removing each wire form and its base64 and URL-encoded forms, removes the secret. */
export function covered(value: string, wireForms: readonly string[]): boolean {
  return wireForms.some((form) =>
    [form, Buffer.from(form).toString('base64'), encodeURIComponent(form)].some((f) => value.includes(f)),
  );
}

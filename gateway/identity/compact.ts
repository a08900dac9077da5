import { identityError } from './reasons.js';

/** The unverified parts of a compact JWS, decoded only after the hygiene checks below passed. */
export interface DecodedToken {
  readonly header: Readonly<Record<string, unknown>>;
  readonly payload: Readonly<Record<string, unknown>>;
  readonly hasSignature: boolean;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Check the token is a canonical compact JWS and decode its header and payload, untrusted.
 * jose tolerates padding, spaces and duplicate JSON members (the last one wins, so
 * `{"alg":"none","alg":"RS256"}` reads differently to different parsers): Escrow refuses all of them.
 */
export function decodeCompact(token: string): DecodedToken {
  const segments = token.split('.');
  if (segments.length !== 3) throw identityError('token_malformed');
  const [header, payload, signature] = segments as [string, string, string];
  if (header === '' || payload === '') throw identityError('token_malformed');
  for (const segment of segments) {
    if (!isCanonicalBase64url(segment)) throw identityError('token_malformed');
  }
  return {
    header: decodeJsonObject(header),
    payload: decodeJsonObject(payload),
    hasSignature: signature !== '',
  };
}

/** Only the base64url alphabet, no padding, and decoding then re-encoding gives the same text back. */
export function isCanonicalBase64url(segment: string): boolean {
  if (!BASE64URL.test(segment)) return false;
  return Buffer.from(segment, 'base64url').toString('base64url') === segment;
}

function decodeJsonObject(segment: string): Record<string, unknown> {
  let text: string;
  let value: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Buffer.from(segment, 'base64url'));
    value = JSON.parse(text);
  } catch {
    throw identityError('token_malformed');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw identityError('token_malformed');
  if (hasDuplicateMembers(text)) throw identityError('token_malformed');
  return value as Record<string, unknown>;
}

/**
 * True when any object in the (already valid) JSON text names a member twice. Names are compared after
 * unescaping, so `"sub"` and `"s\u0075b"` collide as they would for JSON.parse.
 */
export function hasDuplicateMembers(text: string): boolean {
  const stack: (Set<string> | null)[] = [];
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (c === '{') stack.push(new Set());
    else if (c === '[') stack.push(null);
    else if (c === '}' || c === ']') stack.pop();
    else if (c === '"') {
      const end = endOfString(text, i);
      const names = stack.at(-1);
      if (names && nextNonSpace(text, end + 1) === ':') {
        const name = JSON.parse(text.slice(i, end + 1)) as string;
        if (names.has(name)) return true;
        names.add(name);
      }
      i = end;
    }
  }
  return false;
}

function endOfString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
  return i;
}

function nextNonSpace(text: string, from: number): string | undefined {
  let i = from;
  while (i < text.length && /\s/.test(text[i] ?? '')) i += 1;
  return text[i];
}

import { headerValues } from '../http/raw-headers.js';
import { identityError } from './reasons.js';
import type { IdentityInput } from './types.js';

/** A token as presented, and the header that carried it. */
export interface PresentedToken {
  readonly token: string;
  readonly header: string;
}

const BEARER = /^Bearer +([^\s]+)$/i;

/**
 * Find the one token the caller presented among `candidates` (header names, lower case). A header sent
 * twice, or tokens in two different headers, is refused: two parsers (Escrow and the upstream, or Node's
 * `req.headers` which keeps only the first `authorization`) must never disagree on who is calling.
 * `maxBytes` is checked before any parsing.
 */
export function presentedToken(
  input: IdentityInput,
  candidates: readonly string[],
  maxBytes: number,
): PresentedToken | undefined {
  const found: PresentedToken[] = [];
  for (const header of candidates) {
    const values = headerValues(input.rawHeaders, header);
    if (values.length === 0) continue;
    if (values.length > 1) throw identityError('duplicate_header');
    found.push({ header, token: tokenFromValue(header, values[0] ?? '', maxBytes) });
  }
  if (found.length > 1) throw identityError('duplicate_header');
  return found[0];
}

function tokenFromValue(header: string, value: string, maxBytes: number): string {
  if (Buffer.byteLength(value) > maxBytes + 'Bearer '.length) throw identityError('token_too_large');
  const bearer = BEARER.exec(value.trim());
  if (bearer?.[1] !== undefined) return bearer[1];
  // In `authorization` the Bearer scheme is required; elsewhere (e.g. `x-api-key`, for unmodified SDKs) the
  // raw token is the value.
  if (header === 'authorization') throw identityError('token_malformed');
  const raw = value.trim();
  if (raw === '' || /\s/.test(raw)) throw identityError('token_malformed');
  return raw;
}

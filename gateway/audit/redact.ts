import type { Json } from './canonical.js';

/**
 * Three base64url segments, not glued to other token characters (the third may be empty: `alg: none`). A
 * header is a JSON object, so its base64url starts with `e` (`{`), or `I`, `C`, `D` (leading JSON
 * whitespace); anchoring on that makes the scan ~8× faster than trying every position.
 */
const JWT_SHAPE = /(?<![\w.-])([eICD][\w-]{3,})\.[\w-]{4,}\.[\w-]*/g;

/**
 * True when `text` contains something shaped like a JWS compact token whose first segment decodes to a
 * JSON object (its header). Decoding the header keeps host names and dotted ids (`api.example.org`) out.
 */
export function looksLikeJwt(text: string): boolean {
  for (const match of text.matchAll(JWT_SHAPE)) {
    const header = match[1] ?? '';
    try {
      const decoded: unknown = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
      if (decoded !== null && typeof decoded === 'object' && !Array.isArray(decoded)) return true;
    } catch {
      // Not JSON: not a JWT header.
    }
  }
  return false;
}

/**
 * Drops every string (at any depth) that looks like a JWT and returns the cleaned value with the paths it
 * dropped. The pipeline must never hand a token to the audit log; this is the second line of defence.
 */
export function refuseTokens(value: Json, path = ''): { readonly value: Json | undefined; readonly refused: string[] } {
  if (typeof value === 'string') {
    return looksLikeJwt(value) ? { value: undefined, refused: [path] } : { value, refused: [] };
  }
  if (value === null || typeof value !== 'object') return { value, refused: [] };
  const refused: string[] = [];
  if (Array.isArray(value)) {
    const kept: Json[] = [];
    value.forEach((item: Json, index: number) => {
      const result = refuseTokens(item, `${path}[${index}]`);
      refused.push(...result.refused);
      if (result.value !== undefined) kept.push(result.value);
    });
    return { value: kept, refused };
  }
  const kept: Record<string, Json> = {};
  for (const [key, item] of Object.entries(value as { readonly [key: string]: Json })) {
    const at = path === '' ? key : `${path}.${key}`;
    if (looksLikeJwt(key)) {
      // The name itself is the token: the path that reports it must not repeat it.
      refused.push(path === '' ? '<token-named member>' : `${path}.<token-named member>`);
      continue;
    }
    const result = refuseTokens(item, at);
    refused.push(...result.refused);
    if (result.value !== undefined) kept[key] = result.value;
  }
  return { value: kept, refused };
}

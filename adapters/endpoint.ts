/**
 * Calls from adapters to token endpoints and management APIs. A credential travels on these calls, so:
 * redirects are never followed (a redirect could carry it elsewhere), every call times out, answers are
 * size-capped, and errors name the endpoint (origin and path, never the query) but no request content.
 */
import { EscrowError } from '../gateway/errors.js';

const MAX_ANSWER_BYTES = 256 * 1024;

export interface EndpointCall {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs: number;
}

export interface EndpointAnswer {
  readonly status: number;
  readonly text: string;
}

/** `https://idp.example/oauth/token`: what errors may say about an endpoint. */
export function describeEndpoint(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function invalidAnswer(url: URL, what: string): EscrowError {
  return new EscrowError('credential_unavailable', `${describeEndpoint(url)} ${what}`, {
    reason: 'credential_response_invalid',
  });
}

async function readCapped(url: URL, response: Response): Promise<string> {
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    if (size > MAX_ANSWER_BYTES) throw invalidAnswer(url, `answered more than ${MAX_ANSWER_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** One HTTP call; any status is returned. Network failures and timeouts become `credential_unavailable`. */
export async function callEndpoint(url: URL, call: EndpointCall): Promise<EndpointAnswer> {
  try {
    const response = await fetch(url, {
      method: call.method,
      headers: call.headers,
      body: call.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(call.timeoutMs),
    });
    return { status: response.status, text: await readCapped(url, response) };
  } catch (cause) {
    if (cause instanceof EscrowError) throw cause;
    const timedOut = cause instanceof DOMException && cause.name === 'TimeoutError';
    const what = timedOut ? `timed out after ${call.timeoutMs} ms` : 'is unreachable';
    // fetch errors carry no request content; the cause (ECONNREFUSED, …) helps whoever runs Escrow.
    throw new EscrowError('credential_unavailable', `${describeEndpoint(url)} ${what}`, {
      reason: timedOut ? 'credential_endpoint_timeout' : 'credential_endpoint_unreachable',
      cause,
    });
  }
}

/** `status 401 (invalid_client)`: the status and a short OAuth/API error code, never free text that may echo input. */
export function describeRefusal(answer: EndpointAnswer): string {
  let code: unknown;
  try {
    code = (JSON.parse(answer.text) as { error?: unknown }).error;
  } catch {
    code = undefined;
  }
  const safe = typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? ` (${code})` : '';
  const redirect = answer.status >= 300 && answer.status < 400 ? ' (redirects are not followed)' : '';
  return `status ${answer.status}${safe}${redirect}`;
}

/** The refusal of a call, as the error the lease layer turns into a 502 for the agent. */
export function refused(url: URL, answer: EndpointAnswer, what: string): EscrowError {
  return new EscrowError(
    'credential_unavailable',
    `${what} at ${describeEndpoint(url)} refused: ${describeRefusal(answer)}`,
    {
      reason: 'credential_endpoint_refused',
    },
  );
}

/** A field missing from, or wrong in, an answer (named, never shown). */
export function badField(url: URL, field: string): EscrowError {
  return invalidAnswer(url, `answered without a usable "${field}"`);
}

/** The answer as a JSON object, or `credential_unavailable` if it is not one. */
export function jsonObject(url: URL, answer: EndpointAnswer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(answer.text);
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidAnswer(url, 'answered something other than a JSON object');
  }
  return value as Record<string, unknown>;
}

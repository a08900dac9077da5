import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { EscrowError } from '../errors.js';
import { FrameReader } from './frames.js';
import type { TlsUpgrader } from './tls.js';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const MAX_PARAMETERS = 64;

/** How the listener answers encryption requests. */
export interface StartupOptions {
  /** TLS with Escrow's server certificate (and client CA for X.509-SVIDs); absent: SSLRequest is answered `N`. */
  readonly tls?: TlsUpgrader;
}

/** What a client opened its connection for. */
export type Opening =
  | {
      readonly kind: 'startup';
      readonly socket: Duplex;
      readonly tls: TLSSocket | undefined;
      readonly reader: FrameReader;
      readonly params: ReadonlyMap<string, string>;
      /** `_pq_.` protocol options and a minor version above 0: answered with NegotiateProtocolVersion. */
      readonly negotiate: readonly string[] | undefined;
    }
  | { readonly kind: 'cancel'; readonly processId: number; readonly secretKey: number };

function violation(message: string): EscrowError {
  return new EscrowError('bad_request', message, { reason: 'protocol_violation' });
}

/** `name\0value\0…\0`: every string terminated, names unique, a bounded count. */
export function parseParameters(body: Buffer): Map<string, string> {
  const params = new Map<string, string>();
  let at = 0;
  for (;;) {
    const end = body.indexOf(0, at);
    if (end === -1) throw violation('invalid startup packet layout: expected terminator as last byte');
    if (end === at) break;
    const name = body.toString('utf8', at, end);
    const valueEnd = body.indexOf(0, end + 1);
    if (valueEnd === -1) throw violation('invalid startup packet layout: expected terminator as last byte');
    if (params.has(name)) throw violation(`startup parameter "${name.slice(0, 64)}" appears twice`);
    params.set(name, body.toString('utf8', end + 1, valueEnd));
    if (params.size > MAX_PARAMETERS) throw violation('too many startup parameters');
    at = valueEnd + 1;
  }
  if (at !== body.length - 1) throw violation('invalid startup packet layout: data after the terminator');
  return params;
}

/** The startup proper: protocol 3.x only (2.0 and others refused as PostgreSQL does), replication refused. */
function startupOf(code: number, body: Buffer, socket: Duplex, tls: TLSSocket | undefined, reader: FrameReader) {
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) {
    throw new EscrowError('bad_request', `unsupported frontend protocol ${major}.${minor}: Escrow supports 3.0`, {
      reason: 'protocol_unsupported',
    });
  }
  const params = parseParameters(body.subarray(4));
  const replication = params.get('replication');
  if (replication !== undefined && !/^(false|off|no|0)$/i.test(replication)) {
    throw new EscrowError('bad_request', 'replication connections are not served through Escrow', {
      reason: 'replication_refused',
    });
  }
  const options = [...params.keys()].filter((name) => name.startsWith('_pq_.'));
  for (const option of options) params.delete(option);
  const negotiate = minor > 0 || options.length > 0 ? options : undefined;
  return { kind: 'startup' as const, socket, tls, reader, params, negotiate };
}

/**
 * Read what the client opens with: SSLRequest (answered `S` and TLS, or `N`), GSSENCRequest (`N`),
 * CancelRequest, or the startup message. Bytes sent behind an SSLRequest before TLS is up are refused
 * (CVE-2021-23214: they would be read as if they came through TLS). `current.socket` follows the upgrade, so
 * that a refusal is written where the client reads.
 */
export async function readOpening(
  raw: Socket,
  options: StartupOptions,
  current: { socket: Duplex } = { socket: raw },
): Promise<Opening> {
  let socket: Duplex = raw;
  let tls: TLSSocket | undefined;
  let reader = new FrameReader(raw);
  for (;;) {
    const body = await reader.startupPacket();
    const code = body.readInt32BE(0);
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      if (body.length !== 4) throw violation('invalid encryption request length');
      if (reader.buffered > 0) throw violation('received unencrypted data after an encryption request');
      if (code === GSSENC_REQUEST || tls !== undefined || options.tls === undefined) {
        if (tls !== undefined) throw violation('encryption requested twice');
        socket.write('N');
        continue;
      }
      reader.detach();
      socket.write('S');
      tls = await options.tls.upgrade(raw);
      socket = tls;
      current.socket = tls; // a refusal from now on must be sent inside TLS
      reader = new FrameReader(tls);
      continue;
    }
    if (code === CANCEL_REQUEST) {
      if (body.length !== 12) throw violation('invalid cancel request length');
      return { kind: 'cancel', processId: body.readInt32BE(4), secretKey: body.readInt32BE(8) };
    }
    return startupOf(code, body, socket, tls, reader);
  }
}

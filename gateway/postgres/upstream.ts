import { type Socket, connect as tcpConnect } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { continueSession, finalizeSession, type SaslSession, startSession } from 'pg/lib/crypto/sasl.js';
import { serialize } from 'pg-protocol';
import { Writer } from 'pg-protocol/dist/buffer-writer.js';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { Parser } from 'pg-protocol/dist/parser.js';
import { EscrowError } from '../errors.js';
import { MessageSplitter } from './frames.js';

/** Where and as whom Escrow opens the session at the database server. */
export interface UpstreamLogin extends ServerAddress {
  readonly user: string;
  readonly password: string;
  /** The client's startup parameters (database, application_name, …), `user` replaced. */
  readonly params: ReadonlyMap<string, string>;
}

/** An authenticated upstream session, ready for the client's first query. */
export interface UpstreamSession {
  readonly socket: Socket | TLSSocket;
  /** ParameterStatus and NoticeResponse messages the server sent during startup, as bytes, to pass on. */
  readonly startupMessages: readonly Buffer[];
  readonly backendKey: { readonly processId: number; readonly secretKey: number } | undefined;
}

/** A backend message during startup is small; a larger one means something else is talking. */
const MAX_STARTUP_MESSAGE = 64 * 1024;

function refused(message: string, cause?: unknown, reason = 'server_refused'): EscrowError {
  return new EscrowError('upstream_error', message, { reason, ...(cause === undefined ? {} : { cause }) });
}

/** The startup message with exactly the client's parameters (pg-protocol's own always adds client_encoding). */
function startupMessage(user: string, params: ReadonlyMap<string, string>): Buffer {
  const body = new Writer().addInt16(3).addInt16(0).addCString('user').addCString(user);
  for (const [name, value] of params) if (name !== 'user') body.addCString(name).addCString(value);
  const bytes = body.addCString('').flush();
  return new Writer()
    .addInt32(bytes.length + 4)
    .add(bytes)
    .flush();
}

function connected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', (cause) =>
      reject(new EscrowError('upstream_unavailable', 'the database server refused the connection', { cause })),
    );
  });
}

/** SSLRequest, then verified TLS: a server that answers `N` is refused, never talked to in the clear. */
async function startTls(socket: Socket, tls: NonNullable<UpstreamLogin['tls']>, host: string): Promise<TLSSocket> {
  socket.write(serialize.requestSsl());
  const answer = await new Promise<Buffer>((resolve, reject) => {
    socket.once('data', resolve);
    socket.once('close', () => reject(refused('the database server closed the connection')));
  });
  if (answer.length !== 1 || answer[0] !== 0x53)
    throw refused('the database server does not offer TLS', undefined, 'tls');
  return new Promise((resolve, reject) => {
    const secure = tlsConnect({ socket, servername: tls.servername ?? host, rejectUnauthorized: true, ca: tls.ca });
    secure.once('secureConnect', () => resolve(secure));
    secure.once('error', (cause) => reject(refused('TLS with the database server failed', cause, 'tls')));
  });
}

/** One step of the handshake: what to send back (if anything), and whether the session is ready. */
class Handshake {
  #sasl: SaslSession | undefined;
  backendKey: UpstreamSession['backendKey'];
  readonly startupMessages: Buffer[] = [];

  constructor(
    readonly login: UpstreamLogin,
    readonly socket: Socket | TLSSocket,
  ) {}

  /** `raw` is one whole message. Returns true once ReadyForQuery arrived. */
  async step(raw: Buffer, parsed: BackendMessage & Record<string, unknown>): Promise<boolean> {
    const type = String.fromCharCode(raw[0]!);
    if (type === 'R') await this.#authenticate(raw.readInt32BE(5), parsed);
    else if (type === 'S' || type === 'N') this.startupMessages.push(raw);
    else if (type === 'K') this.backendKey = { processId: raw.readInt32BE(5), secretKey: raw.readInt32BE(9) };
    else if (type === 'E') throw refused(`the database server refused the session: ${String(parsed.message)}`, parsed);
    else if (type === 'Z') return true;
    else if (type !== 'v') throw refused(`unexpected message "${type}" from the database server`);
    return false;
  }

  /** Only SCRAM (or the server's own trust): a cleartext or MD5 request could be a server harvesting passwords. */
  async #authenticate(code: number, parsed: Record<string, unknown>): Promise<void> {
    const tlsStream = 'encrypted' in this.socket ? this.socket : undefined;
    if (code === 0) return;
    if (code === 10) {
      this.#sasl = startSession(parsed.mechanisms as string[], tlsStream);
      this.socket.write(serialize.sendSASLInitialResponseMessage(this.#sasl.mechanism, this.#sasl.response));
    } else if (code === 11 && this.#sasl) {
      await continueSession(this.#sasl, this.login.password, String(parsed.data), tlsStream);
      this.socket.write(serialize.sendSCRAMClientFinalMessage(this.#sasl.response));
    } else if (code === 12 && this.#sasl) {
      finalizeSession(this.#sasl, String(parsed.data));
    } else {
      throw refused(`the database server asked for authentication method ${code}: Escrow answers SCRAM-SHA-256 only`);
    }
  }
}

function runHandshake(h: Handshake): Promise<Buffer> {
  const splitter = new MessageSplitter(MAX_STARTUP_MESSAGE);
  const parser = new Parser();
  return new Promise((resolve, reject) => {
    let chain = Promise.resolve(false);
    const onData = (chunk: Buffer) => {
      let messages: Buffer[];
      try {
        messages = splitter.push(chunk);
      } catch (error) {
        return reject(error);
      }
      for (const raw of messages) {
        chain = chain.then(async (done) => {
          if (done) return true;
          let parsed: BackendMessage & Record<string, unknown> = { name: 'notice', length: 0 };
          parser.parse(raw, (m) => {
            parsed = m as BackendMessage & Record<string, unknown>;
          });
          return h.step(raw, parsed);
        });
      }
      chain.then((done) => {
        if (!done) return;
        h.socket.off('data', onData);
        h.socket.pause();
        resolve(splitter.rest());
      }, reject);
    };
    h.socket.on('data', onData);
    h.socket.once('close', () => reject(refused('the database server closed the connection')));
  });
}

/** Where Escrow connects for a session or a cancel. */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  readonly tls?: { readonly ca?: string; readonly servername?: string };
  readonly timeoutMs: number;
}

/** Run `work` on a fresh connection to the server (TLS when configured), bounded by `timeoutMs`; on failure it is closed. */
async function withServerSocket<T>(
  address: ServerAddress,
  work: (socket: Socket | TLSSocket) => Promise<T>,
): Promise<T> {
  const tcp = tcpConnect({ host: address.host, port: address.port, noDelay: true });
  let socket: Socket | TLSSocket = tcp;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new EscrowError('upstream_timeout', 'the database server did not answer in time')),
      address.timeoutMs,
    );
  });
  const run = async () => {
    await connected(tcp);
    tcp.on('error', () => {}); // later failures surface as 'close' (handshake) or end the relay
    if (address.tls) socket = await startTls(tcp, address.tls, address.host);
    socket.on('error', () => {});
    return work(socket);
  };
  try {
    return await Promise.race([run(), timeout]);
  } catch (error) {
    socket.destroy();
    tcp.destroy();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Open an authenticated session at the database server as the lease's role: TCP (TLS when configured),
 * the client's startup parameters, SCRAM-SHA-256 with the server's signature checked, then the server's
 * parameters up to ReadyForQuery. Bounded by `timeoutMs` as a whole; any failure closes the socket.
 */
export function openUpstream(login: UpstreamLogin): Promise<UpstreamSession & { leftover: Buffer }> {
  return withServerSocket(login, async (socket) => {
    const handshake = new Handshake(login, socket);
    socket.write(startupMessage(login.user, login.params));
    const leftover = await runHandshake(handshake);
    return { socket, startupMessages: handshake.startupMessages, backendKey: handshake.backendKey, leftover };
  });
}

/** Send a CancelRequest for one backend, on a connection of its own (as the protocol wants), and close it. */
export function sendCancel(address: ServerAddress, key: { processId: number; secretKey: number }): Promise<void> {
  return withServerSocket(address, async (socket) => {
    await new Promise<void>((resolve) => socket.end(serialize.cancel(key.processId, key.secretKey), resolve));
  });
}

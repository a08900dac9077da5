import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer, type Server, type TLSSocket, type TlsOptions } from 'node:tls';
import { EscrowError } from '../errors.js';

interface Pending {
  resolve(socket: TLSSocket): void;
  reject(error: EscrowError): void;
}

/** The raw socket a server-side TLSSocket wraps (Node keeps it as `_parent`). */
function parentOf(socket: TLSSocket): Duplex | undefined {
  return (socket as TLSSocket & { _parent?: Duplex })._parent;
}

/**
 * Starts TLS on a socket that began in the clear (PostgreSQL's SSLRequest). A `tls.Server` that never listens
 * does the handshake, handed each socket with `emit('connection')` (Node's documented way to pass it a socket):
 * unlike a bare `new TLSSocket(…, { isServer })`, the server checks the client certificate, so `authorized`
 * and `authorizationError` tell the truth.
 */
export class TlsUpgrader {
  readonly #server: Server;
  readonly #pending = new Map<Duplex, Pending>();

  constructor(options: TlsOptions) {
    this.#server = createServer(options);
    this.#server.on('secureConnection', (secure: TLSSocket) => this.#settle(secure, undefined));
    this.#server.on('tlsClientError', (_error: Error, secure: TLSSocket) =>
      this.#settle(secure, new EscrowError('bad_request', 'TLS handshake failed', { reason: 'tls_failed' })),
    );
  }

  #settle(secure: TLSSocket, error: EscrowError | undefined): void {
    const raw = parentOf(secure);
    const pending = raw === undefined ? undefined : this.#pending.get(raw);
    if (!pending || raw === undefined) return;
    this.#pending.delete(raw);
    if (error) {
      secure.destroy();
      pending.reject(error);
      return;
    }
    secure.on('error', () => secure.destroy());
    pending.resolve(secure);
  }

  upgrade(raw: Socket): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      this.#pending.set(raw, { resolve, reject });
      raw.once('close', () => {
        if (this.#pending.delete(raw))
          reject(new EscrowError('bad_request', 'the client went away', { reason: 'eof' }));
      });
      this.#server.emit('connection', raw);
    });
  }
}

import { randomInt, timingSafeEqual } from 'node:crypto';
import type { RelayEnd } from './relay.js';

/** A relayed session as the registry knows it. */
export interface LiveSession {
  /** Escrow's own BackendKeyData for this session (what the client sends back in a CancelRequest). */
  readonly processId: number;
  readonly secretKey: number;
  /** End the session now (idempotent). */
  cut(reason: RelayEnd): void;
  /** Forward a cancel to this session's backend at the database server. */
  cancel(): Promise<void>;
}

/**
 * The sessions one listener relays, by Escrow's backend key (a cancel request reaches only the session it names;
 * the listener's shutdown ends them all). Their tasks' cuts reach them through the gateway's live connections
 * (gateway/connections.ts), like every other connection. Owned by its listener: no module state.
 */
export class SessionRegistry {
  readonly #byProcess = new Map<number, LiveSession>();

  get size(): number {
    return this.#byProcess.size;
  }

  /** A process id no live session uses (positive int32, as PostgreSQL's pids are). */
  freshProcessId(): number {
    for (;;) {
      const id = randomInt(1, 2 ** 31 - 1);
      if (!this.#byProcess.has(id)) return id;
    }
  }

  add(session: LiveSession): void {
    this.#byProcess.set(session.processId, session);
  }

  delete(session: LiveSession): void {
    if (this.#byProcess.get(session.processId) === session) this.#byProcess.delete(session.processId);
  }

  cutAll(reason: RelayEnd): void {
    for (const session of [...this.#byProcess.values()]) session.cut(reason);
  }

  /** The session a CancelRequest names, only when both the process id and the secret key match. */
  forCancel(processId: number, secretKey: number): LiveSession | undefined {
    const session = this.#byProcess.get(processId);
    if (!session) return undefined;
    const a = Buffer.alloc(4);
    const b = Buffer.alloc(4);
    a.writeInt32BE(session.secretKey);
    b.writeInt32BE(secretKey);
    return timingSafeEqual(a, b) ? session : undefined;
  }
}

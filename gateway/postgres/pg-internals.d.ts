/** Types for node-postgres' SCRAM-SHA-256 client (`pg/lib/crypto/sasl.js`, exported by pg's package.json). */
declare module 'pg/lib/crypto/sasl.js' {
  export interface SaslSession {
    readonly mechanism: string;
    /** The next message to send (client-first, then client-final). */
    readonly response: string;
  }
  /** Picks SCRAM-SHA-256-PLUS when `stream` is a TLS socket and the server offers it, else SCRAM-SHA-256. */
  export function startSession(mechanisms: readonly string[], stream?: unknown): SaslSession;
  export function continueSession(
    session: SaslSession,
    password: string,
    serverData: string,
    stream?: unknown,
  ): Promise<void>;
  /** Throws unless the server proved it knows the verifier (server signature). */
  export function finalizeSession(session: SaslSession, serverData: string): void;
}

/** Types for node-postgres' escaping helpers (`pg/lib/utils.js`), the same functions `pg` exports. */
declare module 'pg/lib/utils.js' {
  /** CommonJS: Node's ESM loader sees only its default export. */
  const utils: {
    escapeIdentifier(value: string): string;
    escapeLiteral(value: string): string;
  };
  export default utils;
}

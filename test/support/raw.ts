import { connect } from 'node:net';

export interface RawResponse {
  readonly status: number;
  readonly head: string;
  readonly body: string;
  readonly raw: string;
}

/** Send exact bytes over a socket and read until the server closes or `timeoutMs` passes. */
export function rawExchange(port: number, bytes: string | Buffer, timeoutMs = 2_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = () => {
      const raw = Buffer.concat(chunks).toString('latin1');
      const split = raw.indexOf('\r\n\r\n');
      const head = split === -1 ? raw : raw.slice(0, split);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, head, body: split === -1 ? '' : raw.slice(split + 4), raw });
    };
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      finish();
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', finish);
    socket.on('error', (e) => (chunks.length ? finish() : reject(e)));
    socket.write(bytes);
  });
}

/** A GET with an exact request target (no client-side URL normalisation), connection closed after. */
export function rawGet(port: number, target: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const lines = [
    `GET ${target} HTTP/1.1`,
    'host: 127.0.0.1',
    'connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  return rawExchange(port, `${lines.join('\r\n')}\r\n\r\n`);
}

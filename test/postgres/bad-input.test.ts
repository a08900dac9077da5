import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestEscrow } from '../support/escrow.js';
import { createPgFixture, type PgFixture } from '../support/postgres.js';
import { createDbPki, type DbPki, startDbEscrow } from '../support/postgres-escrow.js';
import { GSSENC_REQUEST, messages, packet, RawClient, SSL_REQUEST, startup } from './support/wire.js';

let fx: PgFixture;
let pki: DbPki;
let escrow: TestEscrow & { dbPort: number };

beforeAll(async () => {
  fx = await createPgFixture('badinput');
  pki = createDbPki();
  escrow = await startDbEscrow(pki, {
    template: fx.readOnly,
    rolePrefix: fx.rolePrefix,
    postgres: { startupTimeoutMs: 1_000, maxConnections: 3 },
  });
});
afterAll(async () => {
  await escrow?.close();
  await fx?.drop();
});

async function refusedWith(bytes: Buffer): Promise<Record<string, string>> {
  const raw = await RawClient.connect(escrow.dbPort);
  raw.socket.write(bytes);
  return raw.error();
}

describe('malformed and unsupported startups are refused with an ErrorResponse, never a crash', () => {
  it('a startup packet shorter than its header: 08P01', async () => {
    expect(await refusedWith(Buffer.from([0, 0, 0, 4, 0, 3, 0, 0]))).toMatchObject({ C: '08P01', S: 'FATAL' });
  });

  it('a startup packet announced larger than 10 000 bytes: 08P01 at once, without waiting for the bytes', async () => {
    const error = await refusedWith(packet(196608, Buffer.alloc(0), 1_000_000));
    expect(error).toMatchObject({ C: '08P01', M: 'escrow: the startup packet is too large' });
  });

  it('protocol 2.0: 0A000, as PostgreSQL answers it', async () => {
    const error = await refusedWith(startup({ user: 'x' }, 2, 0));
    expect(error).toMatchObject({ C: '0A000', M: 'escrow: unsupported frontend protocol 2.0: Escrow supports 3.0' });
  });

  it('parameters without their terminator, or a parameter twice: 08P01', async () => {
    const unterminated = packet(196608, Buffer.from('user\0tsk_x'));
    expect((await refusedWith(unterminated)).C).toBe('08P01');
    const twice = packet(196608, Buffer.from('user\0a\0user\0b\0\0'));
    expect(await refusedWith(twice)).toMatchObject({ C: '08P01', M: 'escrow: startup parameter "user" appears twice' });
  });

  it('a replication connection: 0A000', async () => {
    for (const replication of ['true', 'database']) {
      const error = await refusedWith(startup({ user: 'x', database: 'replication', replication }));
      expect(error).toMatchObject({ C: '0A000', M: 'escrow: replication connections are not served through Escrow' });
    }
  });

  it('bytes pipelined behind an SSLRequest (before TLS is up) are refused: 08P01 (CVE-2021-23214)', async () => {
    const error = await refusedWith(Buffer.concat([packet(SSL_REQUEST), startup({ user: 'x' })]));
    expect(error).toMatchObject({ C: '08P01', M: 'escrow: received unencrypted data after an encryption request' });
  });

  it('a GSSENCRequest is answered N; the plain startup after it still needs TLS', async () => {
    const raw = await RawClient.connect(escrow.dbPort);
    raw.socket.write(packet(GSSENC_REQUEST));
    expect((await raw.received(1)).toString('latin1', 0, 1)).toBe('N');
    raw.socket.write(startup({ user: 'x' }));
    expect(await raw.error(1)).toMatchObject({ C: '28000' });
  });

  it('protocol 3.2 with a _pq_ option gets NegotiateProtocolVersion (3.0, option unsupported) first', async () => {
    const raw = await RawClient.connectTls(escrow.dbPort, pki.ca.cert);
    raw.socket.write(startup({ user: 'tsk_aaaaaaaaaaaaaaaaaaaaaa', '_pq_.future': 'on' }, 3, 2));
    const [negotiate] = messages(await raw.received(5));
    expect(negotiate?.type).toBe('v');
    expect(negotiate?.body.readInt32BE(0)).toBe(0);
    expect(negotiate?.body.subarray(8).toString()).toBe('_pq_.future\0');
    raw.socket.destroy();
  });

  it('an oversized or mistyped password message: 08P01, at once', async () => {
    const cases: [Buffer, string][] = [
      [Buffer.from([0x70, 0, 0x10, 0, 0]), 'escrow: the message is too large'],
      [Buffer.from([0x51, 0, 0, 0, 5, 0]), 'escrow: expected a password message, got "Q"'],
    ];
    for (const [message, text] of cases) {
      const raw = await RawClient.connectTls(escrow.dbPort, pki.ca.cert);
      raw.socket.write(startup({ user: 'tsk_aaaaaaaaaaaaaaaaaaaaaa', database: fx.database }));
      const [ask] = messages(await raw.received(9));
      expect(ask).toMatchObject({ type: 'R' });
      expect(ask?.body.readInt32BE(0)).toBe(3); // AuthenticationCleartextPassword
      raw.socket.write(message);
      expect(await raw.error()).toMatchObject({ C: '08P01', M: text });
    }
  });

  it('a client that never finishes its startup is refused after startupTimeoutMs: 08P01', async () => {
    const raw = await RawClient.connectTls(escrow.dbPort, pki.ca.cert);
    expect(await raw.error()).toMatchObject({ C: '08P01', M: 'escrow: the startup did not complete in time' });
  });

  it('more connections than maxConnections: 53300', async () => {
    const held = await Promise.all([1, 2, 3].map(() => RawClient.connect(escrow.dbPort)));
    await expect.poll(() => escrow.gw.postgres[0]!.context.connections()).toBe(3);
    const error = await refusedWith(startup({ user: 'x' }));
    expect(error).toMatchObject({ C: '53300', M: 'escrow: too many connections on this listener' });
    for (const raw of held) raw.socket.destroy();
  });

  it('none of this was counted as an opened connection, and each refusal is audited once', async () => {
    const metrics = await escrow.gw.metrics.exposition();
    expect(metrics).toMatch(/escrow_postgres_connections_total\{target="db",outcome="opened"\} 0/);
    expect(metrics).toMatch(/escrow_postgres_connections_total\{target="db",outcome="protocol"\} [1-9]/);
    expect(metrics).toMatch(/escrow_postgres_connections_total\{target="db",outcome="limit"\} 1/);
  });
});

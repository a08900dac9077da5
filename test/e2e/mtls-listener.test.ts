import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svidExtensions, type TestCert, TestPki } from '../identity/certs.js';
import { startEscrow, type TestEscrow } from '../support/escrow.js';
import { echoTarget, startUpstream, type TestUpstream } from '../support/upstream.js';

const AGENT = 'spiffe://test.example/agent/mtls';
const CANARY = 'canary-mtls-key-4b7e21';

describe('an agent with an X.509-SVID and no token gets through the mTLS listener', () => {
  const pki = new TestPki();
  let ca: TestCert;
  let good: TestCert;
  let twoSans: TestCert;
  let upstream: TestUpstream;
  let escrow: TestEscrow;
  let port: number;

  const call = (client: TestCert, method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, method, path, ca: ca.cert, servername: 'localhost', headers, ...client },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  beforeAll(async () => {
    ca = pki.ca('ca');
    const server = pki.leaf('server', 'ca', ['subjectAltName=DNS:localhost', 'extendedKeyUsage=serverAuth']);
    good = pki.leaf('good', 'ca', svidExtensions(AGENT));
    twoSans = pki.leaf('two', 'ca', svidExtensions(AGENT, 'spiffe://test.example/agent/other'));
    upstream = await startUpstream();
    escrow = await startEscrow({
      env: { K: CANARY },
      targets: [echoTarget(upstream.url, 'env:K')],
      configure: (dir) => {
        writeFileSync(join(dir, 'tls.pem'), server.cert);
        writeFileSync(join(dir, 'tls.key'), server.key);
        writeFileSync(join(dir, 'ca.pem'), ca.cert);
        return {
          proxy: {
            listen: '127.0.0.1:0',
            tls: { listen: '127.0.0.1:0', cert: 'file:tls.pem', key: 'file:tls.key', clientCA: 'file:ca.pem' },
          },
        };
      },
    });
    port = (escrow.listeners.tls!.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await escrow?.close();
    await upstream?.close();
  });

  it('opens a task and calls the target with only its certificate', async () => {
    const opened = await call(
      good,
      'POST',
      '/_escrow/tasks',
      { 'content-type': 'application/json' },
      JSON.stringify({ intent: 'mtls job', targets: ['echo'] }),
    );
    expect(opened.status).toBe(201);
    const task = (JSON.parse(opened.text) as { id: string }).id;
    const res = await call(good, 'GET', '/echo/x', { 'x-escrow-task': task });
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(CANARY);
    expect(upstream.requests.at(-1)!.headers['x-api-key']).toBe(CANARY);
    const events = await escrow.auditEvents();
    const request = events.find((e) => e.event === 'request' && e.status === 200)!;
    expect(request.principal).toMatchObject({ type: 'Agent', id: AGENT });
  });

  it('refuses a certificate with two URI SANs, before any upstream call', async () => {
    const before = upstream.requests.length;
    const res = await call(twoSans, 'GET', '/echo/x');
    expect(res.status).toBe(401);
    expect(upstream.requests.length).toBe(before);
  });
});

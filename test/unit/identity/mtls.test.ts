import { once } from 'node:events';
import { createServer as createHttpsServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EscrowError } from '../../../gateway/errors.js';
import { createIdentityVerifier } from '../../../gateway/identity/index.js';
import type { IdentityVerifier } from '../../../gateway/identity/types.js';
import { svidExtensions, type TestCert, TestPki } from '../../identity/certs.js';
import { identityConfig, makeKey, sign, type TestKey, writeJwks } from '../../identity/support.js';

const AGENT_ID = 'spiffe://example.org/ns/prod/sa/agent';

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

describe('client certificates on the mTLS listener become principals only when they are X.509-SVIDs', () => {
  const pki = new TestPki();
  let ca: TestCert;
  let leaves: Record<string, TestCert>;
  let server: Server;
  let port: number;
  let key: TestKey;
  let verifier: IdentityVerifier;

  /** One request over a real TLS connection presenting `client` (or none). */
  function call(client: TestCert | undefined, headers: Record<string, string> = {}): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/', ca: ca.cert, servername: 'localhost', headers, ...client },
        (res) => {
          let text = '';
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  beforeAll(async () => {
    ca = pki.ca('ca');
    const serverCert = pki.leaf('server', 'ca', ['subjectAltName=DNS:localhost', 'extendedKeyUsage=serverAuth']);
    leaves = {
      good: pki.leaf('good', 'ca', svidExtensions(AGENT_ID)),
      none: pki.leaf('none', 'ca', [...svidExtensions(), 'subjectAltName=DNS:agent.example.org']),
      two: pki.leaf('two', 'ca', svidExtensions(AGENT_ID, 'spiffe://example.org/ns/prod/sa/admin')),
      caLeaf: pki.leaf('ca-leaf', 'ca', ['basicConstraints=critical,CA:TRUE', `subjectAltName=URI:${AGENT_ID}`]),
      foreign: pki.leaf('foreign', 'ca', svidExtensions('spiffe://evil.example/agent')),
      notSpiffe: pki.leaf('not-spiffe', 'ca', svidExtensions('https://example.org/agent')),
    };
    key = await makeKey('m1');
    const { dir, file } = await writeJwks({ keys: [key.jwk] });
    verifier = await createIdentityVerifier(
      identityConfig(
        [
          { name: 'jwt', principal: 'Agent', issuer: 'https://jwt.example', audience: 'escrow', jwks: `file:${file}` },
          {
            name: 'bound',
            principal: 'Agent',
            issuer: 'https://bound.example',
            audience: 'escrow',
            jwks: `file:${file}`,
            bindToClientCert: true,
          },
        ],
        { mtls: { principal: 'Agent', trustDomain: 'example.org' } },
      ),
      { baseDir: dir },
    );
    server = createHttpsServer(
      { ...serverCert, ca: ca.cert, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const socket = req.socket as TLSSocket;
        const send = (status: number, body: unknown) =>
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        // Mirrors the pipeline: only an authorized (chain-verified) socket hands its certificate on.
        const peerCertificate = socket.authorized ? socket.getPeerCertificate() : undefined;
        verifier.verify({ rawHeaders: req.rawHeaders, peerCertificate }).then(
          (principal) => send(200, principal),
          (error: EscrowError) => send(error.status, { reason: error.reason }),
        );
      },
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    verifier.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('accepts a leaf with exactly one SPIFFE URI SAN', async () => {
    const answer = await call(leaves.good);
    expect(answer).toMatchObject({
      status: 200,
      body: { type: 'Agent', id: AGENT_ID, issuer: 'mtls', authMethod: 'mtls' },
    });
    expect(answer.body.trustDomain).toBe('example.org');
  });

  it.each([
    ['no URI SAN', 'none', 'cert_invalid'],
    ['two URI SANs', 'two', 'cert_invalid'],
    ['a CA certificate as leaf', 'caLeaf', 'cert_invalid'],
    ['a SPIFFE ID of another trust domain', 'foreign', 'trust_domain_mismatch'],
    ['a URI SAN that is not a SPIFFE ID', 'notSpiffe', 'spiffe_id_invalid'],
  ])('refuses %s', async (_what, leaf, reason) => {
    await expect(call(leaves[leaf])).resolves.toEqual({ status: 401, body: { reason } });
  });

  it('without a certificate or token answers identity_missing', async () => {
    await expect(call(undefined)).resolves.toEqual({ status: 401, body: { reason: 'token_missing' } });
  });

  it('a bound issuer needs the JWT sub to equal the certificate SPIFFE ID', async () => {
    const claims = { iss: 'https://bound.example', aud: 'escrow' };
    const matching = await sign(key, { ...claims, sub: AGENT_ID });
    const other = await sign(key, { ...claims, sub: 'spiffe://example.org/ns/prod/sa/other' });
    await expect(call(leaves.good, { authorization: `Bearer ${matching}` })).resolves.toMatchObject({
      status: 200,
      body: { id: AGENT_ID, authMethod: 'jwt', issuer: 'bound' },
    });
    await expect(call(leaves.good, { authorization: `Bearer ${other}` })).resolves.toEqual({
      status: 401,
      body: { reason: 'cert_binding_mismatch' },
    });
    await expect(call(undefined, { authorization: `Bearer ${matching}` })).resolves.toEqual({
      status: 401,
      body: { reason: 'cert_binding_mismatch' },
    });
  });

  it('a token from an unbound issuer wins over the certificate', async () => {
    const token = await sign(key, { iss: 'https://jwt.example', aud: 'escrow', sub: 'ci-job' });
    await expect(call(leaves.good, { authorization: `Bearer ${token}` })).resolves.toMatchObject({
      body: { id: 'ci-job', authMethod: 'jwt' },
    });
  });
});

describe('a certificate from an unknown CA never reaches identity: the TLS handshake refuses it', () => {
  it('fails the handshake with rejectUnauthorized', async () => {
    const pki = new TestPki();
    const ca = pki.ca('ca');
    pki.ca('other-ca');
    const serverCert = pki.leaf('server', 'ca', ['subjectAltName=DNS:localhost']);
    const wrong = pki.leaf('wrong', 'other-ca', svidExtensions(AGENT_ID));
    let reached = false;
    const server = createHttpsServer(
      { ...serverCert, ca: ca.cert, requestCert: true, rejectUnauthorized: true },
      (_req, res) => {
        reached = true;
        res.end();
      },
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const outcome = await new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port, ca: ca.cert, servername: 'localhost', ...wrong }, () =>
        resolve('answered'),
      );
      req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      req.end();
    });
    expect(outcome).not.toBe('answered');
    expect(reached).toBe(false);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

/**
 * Identity verification cost, with and without the verified-identity cache.
 * Run: npx tsx bench/identity.ts   (appends a section to bench/RESULTS-identity.md)
 */
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { identitySchema } from '../gateway/config/identity-schema.js';
import { createIdentityVerifier } from '../gateway/identity/index.js';
import type { IdentityInput } from '../gateway/identity/types.js';

const ITERATIONS = 5_000;
const ISS = 'https://bench.example';

async function tokenAndJwks(alg: 'ES256' | 'RS256' | 'EdDSA') {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  const jwk = { ...(await exportJWK(publicKey)), kid: alg, alg };
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({
    iss: ISS,
    aud: 'escrow',
    sub: 'spiffe://example.org/bench',
    iat: now,
    exp: now + 600,
  })
    .setProtectedHeader({ alg, kid: alg, typ: 'JWT' })
    .sign(privateKey);
  return { token, jwk };
}

async function measure(alg: 'ES256' | 'RS256' | 'EdDSA', cacheSize: number): Promise<{ median: number; p99: number }> {
  const { token, jwk } = await tokenAndJwks(alg);
  const dir = mkdtempSync(join(tmpdir(), 'escrow-bench-'));
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
  const config = identitySchema.parse({
    issuers: [
      { name: 'b', principal: 'Agent', issuer: ISS, audience: 'escrow', jwks: 'file:jwks.json', algorithms: [alg] },
    ],
    cacheSize,
  });
  const verifier = await createIdentityVerifier(config, { baseDir: dir });
  const input: IdentityInput = {
    rawHeaders: ['Authorization', `Bearer ${token}`],
  };
  for (let i = 0; i < 500; i += 1) await verifier.verify(input); // warm-up (JIT, key import)
  const samples: number[] = [];
  for (let i = 0; i < ITERATIONS; i += 1) {
    const start = process.hrtime.bigint();
    await verifier.verify(input);
    samples.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  verifier.close();
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)] ?? 0, p99: samples[Math.floor(samples.length * 0.99)] ?? 0 };
}

const rows: string[] = [];
for (const alg of ['ES256', 'RS256', 'EdDSA'] as const) {
  const cold = await measure(alg, 0);
  const warm = await measure(alg, 10_000);
  rows.push(
    `| ${alg} | ${cold.median.toFixed(1)} | ${cold.p99.toFixed(1)} | ${warm.median.toFixed(1)} | ${warm.p99.toFixed(1)} |`,
  );
}
const section = [
  `## Identity verification (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'})`,
  '',
  `Command: \`npx tsx bench/identity.ts\` — ${ITERATIONS} sequential \`verify()\` calls of one token, after 500 warm-up calls.`,
  'Time per call in µs. "no cache" = `cacheSize: 0` (full hygiene checks + jose signature verification every call);',
  '"cache" = default `cacheSize: 10000` (SHA-256 of the token + LRU lookup).',
  '',
  '| alg | no cache median | no cache p99 | cache median | cache p99 |',
  '|---|---|---|---|---|',
  ...rows,
  '',
].join('\n');
console.log(section);
appendFileSync(new URL('./RESULTS-identity.md', import.meta.url), `${section}\n`);

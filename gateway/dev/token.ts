import { importJWK, type JWK, SignJWT } from 'jose';
import type { Config } from '../config/schema.js';
import { resolveSecretRef } from '../config/secret-ref.js';
import { EscrowError } from '../errors.js';

export interface DevTokenOptions {
  readonly subject?: string;
  readonly ttlSeconds?: number;
  /** Issuer config entry to mint for (default: the first). */
  readonly issuer?: string;
}

/**
 * Mint a workload token with the config's dev signing key, for local use only. Refused unless the config
 * has a `dev:` block: a production config has no signing key Escrow could use.
 */
export async function mintDevToken(config: Config, baseDir: string, options: DevTokenOptions = {}): Promise<string> {
  if (!config.dev) throw new EscrowError('config_invalid', 'not a dev config (no dev: block): refusing to mint tokens');
  const issuer = options.issuer
    ? config.identity.issuers.find((i) => i.name === options.issuer)
    : config.identity.issuers[0];
  if (!issuer) throw new EscrowError('config_invalid', `no issuer named ${options.issuer}`);
  const jwk = JSON.parse(resolveSecretRef(config.dev.signingKey, baseDir)) as JWK & { kid?: string; alg?: string };
  const alg = jwk.alg ?? 'ES256';
  const key = await importJWK(jwk, alg);
  const subject = options.subject ?? (issuer.trustDomain ? `spiffe://${issuer.trustDomain}/agent/demo` : 'dev-agent');
  const audience = Array.isArray(issuer.audience) ? issuer.audience[0]! : issuer.audience;
  let jwt = new SignJWT({})
    .setProtectedHeader({ alg, ...(jwk.kid ? { kid: jwk.kid } : {}), typ: 'JWT' })
    .setSubject(subject)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime(`${options.ttlSeconds ?? 3600}s`);
  if (issuer.issuer) jwt = jwt.setIssuer(issuer.issuer);
  return jwt.sign(key);
}

import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type { IdentityConfig } from '../config/identity-schema.js';
import type { Principal } from '../domain.js';
import { identityError } from './reasons.js';
import { parseSpiffeId } from './spiffe.js';

export type MtlsConfig = NonNullable<IdentityConfig['mtls']>;

/** True when the TLS layer actually received a client certificate (Node gives `{}` when there was none). */
export function hasPeerCertificate(cert: PeerCertificate | undefined): cert is PeerCertificate {
  return cert !== undefined && Buffer.isBuffer(cert.raw) && cert.raw.length > 0;
}

/**
 * Turn a client certificate into a principal, the way the X.509-SVID specification reads one. The chain was
 * already verified by Node's TLS (`requestCert` + `rejectUnauthorized` against `proxy.tls.clientCA`); this
 * checks what TLS does not: the leaf is not a CA, and it names exactly one URI SAN, which is a valid SPIFFE ID
 * (in `mtls.trustDomain` when set). Several URI SANs are refused rather than guessing which one is meant.
 */
export function verifyPeerCertificate(cert: PeerCertificate, config: MtlsConfig, nowMs = Date.now()): Principal {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert.raw);
  } catch (error) {
    throw identityError('cert_invalid', error);
  }
  if (x509.ca) throw identityError('cert_invalid');
  const expiresAt = Math.floor(Date.parse(x509.validTo) / 1000);
  if (Date.parse(x509.validFrom) > nowMs || expiresAt * 1000 <= nowMs) throw identityError('cert_invalid');
  const uris = subjectAltNames(x509.subjectAltName ?? '').filter((n) => n.type === 'URI');
  if (uris.length !== 1) throw identityError('cert_invalid');
  const id = (uris[0] as SubjectAltName).value;
  const spiffe = parseSpiffeId(id);
  if (spiffe === undefined) throw identityError('spiffe_id_invalid');
  if (config.trustDomain !== undefined && spiffe.trustDomain !== config.trustDomain) {
    throw identityError('trust_domain_mismatch');
  }
  return Object.freeze({
    type: config.principal,
    id,
    issuer: 'mtls',
    authMethod: 'mtls',
    trustDomain: spiffe.trustDomain,
    claims: Object.freeze({}),
    expiresAt,
  });
}

interface SubjectAltName {
  readonly type: string;
  readonly value: string;
}

/**
 * Parse Node's `subjectAltName` text (`URI:a, DNS:b`). Since CVE-2021-44532 Node writes a value that contains
 * a comma, quote or other special character as a JSON string, so a forged `URI:x, URI:y` inside one name
 * cannot pass for two names; anything unparseable is refused.
 */
export function subjectAltNames(text: string): SubjectAltName[] {
  const names: SubjectAltName[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) throw identityError('cert_invalid');
    const type = text.slice(i, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = endOfJsonString(text, colon + 1) + 1;
      value = JSON.parse(text.slice(colon + 1, end)) as string;
    } else {
      end = text.indexOf(', ', colon);
      if (end < 0) end = text.length;
      value = text.slice(colon + 1, end);
    }
    names.push({ type, value });
    i = end;
    if (i < text.length) {
      if (!text.startsWith(', ', i)) throw identityError('cert_invalid');
      i += 2;
    }
  }
  return names;
}

function endOfJsonString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
  if (i >= text.length) throw identityError('cert_invalid');
  return i;
}

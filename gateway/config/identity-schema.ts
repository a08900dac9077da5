import { z } from 'zod';

/** Asymmetric JWS algorithms only: an HMAC key would be a shared secret, never a workload identity. */
export const asymmetricAlgorithms = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

const jwksSource = z
  .string()
  .min(1)
  .refine((v) => v === 'discovery' || /^file:.+/.test(v) || /^https?:\/\/[^\s]+$/.test(v), {
    message: 'must be file:PATH, an http(s) URL, or discovery',
  })
  // A key set is public; a credential here would be printed wherever the URL is (and fetch refuses it anyway).
  .refine((v) => !URL.canParse(v) || (new URL(v).username === '' && new URL(v).password === ''), {
    message: 'must not carry userinfo (a key set is public)',
  });

export const issuerSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9._-]+$/),
    /** Which Cedar principal type this issuer's tokens become. Decided by config, never by the token. */
    principal: z.enum(['Agent', 'Human']),
    /** Required `iss` claim. */
    issuer: z.string().min(1).optional(),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** `file:PATH`, an https/http URL of a JWK Set, or `discovery` (OIDC discovery from `issuer`). */
    jwks: jwksSource,
    algorithms: z.array(z.enum(asymmetricAlgorithms)).min(1).default(['ES256', 'RS256']),
    /** SPIFFE: `sub` must be `spiffe://<trustDomain>/…`. */
    trustDomain: z
      .string()
      .regex(/^[a-z0-9._-]+$/)
      .optional(),
    /** Header that carries the token: `authorization` (Bearer) by default, or e.g. `x-api-key`. */
    header: z.string().toLowerCase().default('authorization'),
    clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
    maxTokenAgeSeconds: z.number().int().positive().default(86_400),
    maxTokenBytes: z.number().int().positive().default(8_192),
    typ: z.string().optional(),
    requiredClaims: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
    /** Claims copied into the Cedar principal's tags: `{ tagName: claimPath }`. */
    claimTags: z.record(z.string(), z.string()).default({}),
    jwksRefreshSeconds: z.number().int().positive().default(300),
    jwksCooldownSeconds: z.number().int().positive().default(30),
    jwksMaxStaleSeconds: z.number().int().positive().default(3_600),
    replayCache: z.boolean().default(false),
    /** With mTLS: require a JWT whose `sub` equals the client certificate's SPIFFE ID. */
    bindToClientCert: z.boolean().default(false),
  })
  .refine((i) => i.issuer !== undefined || i.trustDomain !== undefined, {
    message: 'required (only a SPIFFE bundle issuer, with trustDomain, may leave it out)',
    path: ['issuer'],
  })
  .refine((i) => i.jwks !== 'discovery' || i.issuer !== undefined, {
    message: 'jwks: discovery needs issuer',
    path: ['issuer'],
  });

export const identitySchema = z.strictObject({
  issuers: z.array(issuerSchema).min(1),
  /** mTLS principals: which type an X.509-SVID from `proxy.tls.clientCA` becomes. */
  mtls: z
    .strictObject({ principal: z.enum(['Agent', 'Human']).default('Agent'), trustDomain: z.string().optional() })
    .optional(),
  cacheSize: z.number().int().min(0).default(10_000),
});

export type IssuerConfig = z.output<typeof issuerSchema>;
export type IdentityConfig = z.output<typeof identitySchema>;

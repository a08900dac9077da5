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
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/)
      .describe('Name of the issuer, used in audit events and `escrow token dev --issuer`.'),
    principal: z
      .enum(['Agent', 'Human'])
      .describe("Which Cedar principal type this issuer's tokens become. Decided by config, never by the token."),
    issuer: z
      .string()
      .min(1)
      .optional()
      .describe('Required `iss` claim (only a SPIFFE bundle issuer, with `trustDomain`, may leave it out).'),
    audience: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .describe('Required `aud` (one value or a list: any may match).'),
    jwks: jwksSource.describe(
      '`file:PATH`, an https/http URL of a JWK Set, or `discovery` (OIDC discovery from `issuer`).',
    ),
    algorithms: z
      .array(z.enum(asymmetricAlgorithms))
      .min(1)
      .default(['ES256', 'RS256'])
      .describe('Accepted JWS algorithms (asymmetric only).'),
    trustDomain: z
      .string()
      .regex(/^[a-z0-9._-]+$/)
      .optional()
      .describe('SPIFFE: `sub` must be `spiffe://<trustDomain>/…`.'),
    header: z
      .string()
      .toLowerCase()
      .default('authorization')
      .describe('Header that carries the token: `authorization` (Bearer) by default, or e.g. `x-api-key`.'),
    clockToleranceSeconds: z.number().int().min(0).max(300).default(30).describe('Leeway for `exp`, `nbf` and `iat`.'),
    maxTokenAgeSeconds: z
      .number()
      .int()
      .positive()
      .default(86_400)
      .describe('Refuse tokens older than this (by `iat`), or valid for longer than this.'),
    maxTokenBytes: z.number().int().positive().default(8_192).describe('Refuse larger tokens before parsing them.'),
    typ: z.string().optional().describe('Required JOSE `typ` header (e.g. `at+jwt`, `JWT`).'),
    requiredClaims: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .default({})
      .describe('`{ claimPath: value }`: the claim must equal the value (or, for a list, contain it).'),
    claimTags: z
      .record(z.string(), z.string())
      .default({})
      .describe("Claims copied into the Cedar principal's tags: `{ tagName: claimPath }`."),
    jwksRefreshSeconds: z
      .number()
      .int()
      .positive()
      .default(300)
      .describe('How often the key set is re-read (a SPIFFE bundle’s refresh hint wins).'),
    jwksCooldownSeconds: z
      .number()
      .int()
      .positive()
      .default(30)
      .describe('Minimum time between two reads of the key set (unknown `kid`s trigger a read).'),
    jwksMaxStaleSeconds: z
      .number()
      .int()
      .positive()
      .default(3_600)
      .describe('How long the last good keys stay usable while the key source is down.'),
    replayCache: z
      .boolean()
      .default(false)
      .describe('Single-use tokens: each `jti` is accepted once (needs the Redis store).'),
    bindToClientCert: z
      .boolean()
      .default(false)
      .describe("With mTLS: require a JWT whose `sub` equals the client certificate's SPIFFE ID."),
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
  issuers: z
    .array(issuerSchema)
    .min(1)
    .describe('Trusted token issuers; a token is accepted by the first issuer whose checks it passes.'),
  mtls: z
    .strictObject({
      principal: z
        .enum(['Agent', 'Human'])
        .default('Agent')
        .describe('The Cedar principal type of a client certificate’s SPIFFE ID.'),
      trustDomain: z.string().optional().describe('Required SPIFFE trust domain of client certificates.'),
    })
    .optional()
    .describe('mTLS principals: which type an X.509-SVID from `proxy.tls.clientCA` becomes.'),
  cacheSize: z
    .number()
    .int()
    .min(0)
    .default(10_000)
    .describe('Entries in the verified-identity cache (`0` turns it off).'),
});

export type IssuerConfig = z.output<typeof issuerSchema>;
export type IdentityConfig = z.output<typeof identitySchema>;

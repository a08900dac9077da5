import { z } from 'zod';
import { identitySchema } from './identity-schema.js';

/** A reference to a secret: `env:NAME` or `file:PATH`. Literal secrets are refused in config. */
export const secretRef = z
  .string()
  .regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$/, 'must be a secret reference: env:NAME or file:PATH');

/** `host:port`, `:port`, or a bare port. */
export const listenAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):?\d{1,5}$|^\d{1,5}$/, 'must be host:port');

const targetName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes (not starting with a dash)')
  .refine((n) => n !== '_escrow', 'is reserved');

const attributeValue = z.union([z.string(), z.number().int(), z.boolean()]);

/** Adapter options are checked by the adapter's own factory; only the common keys are checked here. */
const credentialSchema = z
  .object({
    adapter: z.string().min(1),
    ttl: z.number().int().positive().max(86_400).default(300),
  })
  .catchall(z.unknown());

const limitsSchema = z.strictObject({
  maxBodyBytes: z
    .number()
    .int()
    .positive()
    .default(10 * 1024 * 1024),
  maxResponseBytes: z.number().int().positive().optional(),
  headersTimeoutMs: z.number().int().positive().default(30_000),
  bodyTimeoutMs: z.number().int().positive().default(60_000),
  connectTimeoutMs: z.number().int().positive().default(5_000),
});

export const targetSchema = z.strictObject({
  name: targetName,
  upstream: z
    .string()
    .url()
    .refine((u) => /^https?:\/\//.test(u), 'must be an http:// or https:// URL')
    .refine((u) => !new URL(u).username && !new URL(u).password, 'must not carry userinfo (put secrets in credential)')
    .refine((u) => !new URL(u).search && !new URL(u).hash, 'must not carry a query or fragment'),
  attributes: z.record(z.string(), attributeValue).default({}),
  requireTask: z.boolean().default(true),
  /** Another header that may carry the workload token for this target, beside the issuer's (e.g. `x-api-key`). */
  identityHeader: z.string().toLowerCase().optional(),
  credential: credentialSchema,
  limits: limitsSchema.default(limitsSchema.parse({})),
  /** Response headers from the upstream that are passed back although they are dropped by default. */
  allowResponseHeaders: z.array(z.string().toLowerCase()).default([]),
  websocket: z.boolean().default(false),
  /** The time half of the scrubber's release rule (docs/security.md, "No side channel"). */
  scrub: z
    .strictObject({
      /** Longest a response byte is held back for scrubbing when no more bytes follow it (0: no window). */
      flushAfterMs: z.number().int().min(0).max(10_000).default(100),
    })
    .default({ flushAfterMs: 100 }),
  /** Fail fast while the upstream is failing (gateway/proxy/breaker.ts); absent: no breaker. */
  circuitBreaker: z
    .strictObject({
      failureThreshold: z.number().int().positive().default(5),
      coolDownMs: z.number().int().positive().default(10_000),
    })
    .optional(),
  pool: z
    .strictObject({
      connections: z.number().int().positive().default(128),
      keepAliveTimeoutMs: z.number().int().positive().default(30_000),
    })
    .default({ connections: 128, keepAliveTimeoutMs: 30_000 }),
});

const tlsSchema = z.strictObject({
  listen: listenAddress,
  cert: secretRef,
  key: secretRef,
  clientCA: secretRef,
  requireClientCert: z.boolean().default(true),
});

const auditSchema = z.strictObject({
  /** `stdout`, `stderr`, `file:PATH`, `redis` (the store's stream), or `none`. */
  sinks: z
    .array(z.string().regex(/^(stdout|stderr|redis|none|file:.+)$/, 'must be stdout, stderr, redis, none or file:PATH'))
    .default(['stdout']),
  failMode: z.enum(['closed', 'open']).default('closed'),
  streamMaxLen: z.number().int().positive().default(100_000),
});

const tasksSchema = z.strictObject({
  defaultTtlSeconds: z.number().int().positive().default(900),
  maxTtlSeconds: z.number().int().positive().default(86_400),
  maxDepth: z.number().int().min(0).default(4),
  maxOpenPerPrincipal: z.number().int().positive().default(100),
  maxIntentLength: z.number().int().positive().default(1024),
});

const webhookSchema = z
  .strictObject({
    /** Where notifications go: an http(s) URL, or a secret reference to one (a Slack webhook URL is a secret). */
    url: z.union([
      secretRef,
      z
        .string()
        .url()
        .refine((u) => /^https?:\/\//.test(u), 'must be an http:// or https:// URL or a secret reference'),
    ]),
    /** Key of the `x-escrow-signature` HMAC-SHA256 (required with `format: json`). */
    secret: secretRef.optional(),
    /** `json` (Escrow's own body) or `slack` (an incoming-webhook body; agent text escaped). */
    format: z.enum(['json', 'slack']).default('json'),
    /** Each delivery attempt gives up after this long. */
    timeoutMs: z.number().int().positive().max(60_000).default(5_000),
    /** Attempts per notification (retried on network errors, timeouts, 408, 429 and 5xx). */
    maxAttempts: z.number().int().min(1).max(20).default(6),
    /** The first retry waits this long; each next one twice as long (at most 60 s). */
    retryBaseMs: z.number().int().positive().max(60_000).default(1_000),
  })
  .refine((w) => w.format === 'slack' || w.secret !== undefined, {
    message: 'required with format json',
    path: ['secret'],
  });

const approvalsSchema = z.strictObject({
  /** An approval request expires after this long without a decision (never after its task). */
  ttlSeconds: z.number().int().positive().max(86_400).default(900),
  /** How long a granted per-request approval covers its request, unless a policy's `@approvalWindow` says less. */
  grantWindowSeconds: z.number().int().positive().max(86_400).default(600),
  /** Approvals one principal may have waiting at once; more get 429 `approval_limit`. */
  maxPendingPerRequester: z.number().int().positive().max(10_000).default(10),
  /** Tell people when an approval is requested and when it is decided (docs/approvals.md). */
  webhook: webhookSchema.optional(),
});

export const configSchema = z.strictObject({
  proxy: z
    .strictObject({
      listen: listenAddress.default('127.0.0.1:8080'),
      tls: tlsSchema.optional(),
      maxHeaderBytes: z
        .number()
        .int()
        .positive()
        .default(16 * 1024),
      requestTimeoutMs: z.number().int().positive().default(120_000),
      /** Escrow sets its own X-Forwarded-For/-Proto upstream (the agent's are dropped either way). */
      forwardedHeaders: z.boolean().default(false),
      maxConcurrentPerPrincipal: z.number().int().positive().default(256),
      /** On SIGTERM, how long in-flight requests may take to finish before their connections are cut. */
      drainTimeoutMs: z.number().int().positive().default(10_000),
    })
    .default({
      listen: '127.0.0.1:8080',
      maxHeaderBytes: 16384,
      requestTimeoutMs: 120_000,
      forwardedHeaders: false,
      maxConcurrentPerPrincipal: 256,
      drainTimeoutMs: 10_000,
    }),
  admin: z.strictObject({ listen: listenAddress.default('127.0.0.1:9090') }).default({ listen: '127.0.0.1:9090' }),
  store: z
    .string()
    .regex(
      /^(memory|rediss?(\+(sentinel|cluster))?):\/\//,
      'must be redis://…, rediss://…, redis+sentinel://…, redis+cluster://… or memory://',
    )
    .default('memory://'),
  /** The Redis password as a secret reference (instead of userinfo in `store:`). */
  storePassword: secretRef.optional(),
  storePrefix: z
    .string()
    .regex(/^[A-Za-z0-9:_-]+$/)
    .default('escrow:'),
  storeTimeoutMs: z.number().int().positive().default(1_000),
  keys: z.strictObject({
    leaseEncryption: secretRef,
    /** Older lease keys, still readable until their leases expire (rotation). */
    leaseEncryptionPrevious: z.array(secretRef).default([]),
    auditHmac: secretRef,
  }),
  identity: identitySchema,
  policies: z.string().min(1).default('./policies'),
  /** A candidate policy directory evaluated beside the enforced one (shadow mode); never decides. */
  shadowPolicies: z.string().min(1).optional(),
  /** Reload policies when their files change. */
  watchPolicies: z.boolean().default(true),
  tasks: tasksSchema.default(tasksSchema.parse({})),
  audit: auditSchema.default(auditSchema.parse({})),
  /** Human approval of tasks and requests that policy marks `@approval("required")` (docs/approvals.md). */
  approvals: approvalsSchema.default(approvalsSchema.parse({})),
  targets: z.array(targetSchema).min(1),
  /** Marks a development config: `escrow token dev` refuses to mint tokens for any other. */
  dev: z.strictObject({ signingKey: z.string().min(1), demoUpstream: z.boolean().default(false) }).optional(),
});

export type RawConfig = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type TargetConfig = z.output<typeof targetSchema>;
export type CredentialConfig = TargetConfig['credential'];

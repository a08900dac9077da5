import { z } from 'zod';
import { checkMcpTarget, mcpTargetSchema } from '../mcp/config.js';
import { checkPostgresUrl, isLoopback, listenHost, postgresSchemas } from '../postgres/config.js';
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

const postgres = postgresSchemas(secretRef);

/** The http(s) upstream rules; a `protocol: postgres` target is checked by `checkPostgresUrl` instead. */
function checkHttpUrl(u: string): string | undefined {
  if (!URL.canParse(u)) return 'Invalid URL';
  if (!/^https?:\/\//.test(u)) return 'must be an http:// or https:// URL';
  if (new URL(u).username || new URL(u).password) return 'must not carry userinfo (put secrets in credential)';
  if (new URL(u).search || new URL(u).hash) return 'must not carry a query or fragment';
  return undefined;
}

const baseTargetSchema = z.strictObject({
  name: targetName,
  /**
   * `http` (default) proxies HTTP under `/<name>/`; `mcp` too, authorizing each JSON-RPC call of the Model Context
   * Protocol over Streamable HTTP (docs/mcp.md); `postgres` listens on `listen` for the PostgreSQL wire protocol.
   */
  protocol: z.enum(['http', 'mcp', 'postgres']).default('http'),
  /** Address of this target's own listener (`protocol: postgres` only). */
  listen: listenAddress.optional(),
  upstream: z.string(),
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
  /**
   * Requests in flight toward the upstream, per replica: at most `connections`; beyond that a request waits
   * (at most `maxQueued` of them, each at most `queueTimeoutMs`) and is then refused with 503 `upstream_busy`.
   */
  pool: z
    .strictObject({
      connections: z.number().int().positive().default(128),
      keepAliveTimeoutMs: z.number().int().positive().default(30_000),
      /** Requests that may wait for a connection when all are busy; one more gets 503 `upstream_busy` at once. */
      maxQueued: z.number().int().min(0).default(1_024),
      /** How long a request may wait for a connection before it gets 503 `upstream_busy`. */
      queueTimeoutMs: z.number().int().positive().default(5_000),
    })
    .default({ connections: 128, keepAliveTimeoutMs: 30_000, maxQueued: 1_024, queueTimeoutMs: 5_000 }),
  /**
   * Forward `%2F` (an encoded `/`) inside a path segment. Off: refused with 400, because upstreams disagree on
   * whether it separates segments (docs/policies.md, "Paths").
   */
  allowEncodedSlash: z.boolean().default(false),
  /** The PostgreSQL listener's options (`protocol: postgres` only; docs/databases.md). */
  postgres: postgres.listener.optional(),
  /** How Escrow reads an MCP target's JSON-RPC: bounds, audit, metric labels, revisions (`protocol: mcp` only). */
  mcp: mcpTargetSchema.optional(),
});

type TargetShape = z.output<typeof baseTargetSchema>;

/** The rules that tie a target's keys to its protocol, each reported at the key it concerns. */
function checkProtocol(t: TargetShape, ctx: z.core.$RefinementCtx<TargetShape>): void {
  const fail = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: path.split('.'), message });
  checkMcpTarget(t, ctx);
  if (t.protocol !== 'postgres') {
    const bad = checkHttpUrl(t.upstream);
    if (bad) fail('upstream', bad);
    if (t.listen !== undefined) fail('listen', 'only a protocol: postgres target has its own listener');
    if (t.postgres !== undefined) fail('postgres', 'only for protocol: postgres');
    return;
  }
  const bad = checkPostgresUrl(t.upstream);
  if (bad) fail('upstream', bad);
  if (t.listen === undefined) fail('listen', 'required');
  if (!t.requireTask) fail('requireTask', 'a postgres target needs a task (the user name is the task id)');
  if (t.websocket) fail('websocket', 'not for protocol: postgres');
  const listener = t.postgres ?? postgres.listener.parse({});
  if (!listener.tls && !listener.allowPlaintext) fail('postgres.tls', 'required (or allowPlaintext on loopback)');
  if (listener.allowPlaintext && t.listen !== undefined && !isLoopback(listenHost(t.listen))) {
    fail('postgres.allowPlaintext', 'only on a loopback listen address');
  }
}

export const targetSchema = baseTargetSchema.superRefine(checkProtocol);

const tlsSchema = z.strictObject({
  listen: listenAddress,
  cert: secretRef,
  key: secretRef,
  clientCA: secretRef,
  requireClientCert: z.boolean().default(true),
});

/**
 * The admin listener. Every endpoint but `/healthz`, `/readyz` (and `/metrics` unless `authenticateMetrics`)
 * needs the admin credential: the bearer `token`, or a client certificate issued by `clientCA` (the listener then
 * serves TLS with `cert` and `key`). Neither configured: those endpoints are refused (gateway/admin-auth.ts).
 */
export const adminSchema = z
  .strictObject({
    listen: listenAddress.default('127.0.0.1:9090'),
    /** Bearer token for the admin endpoints (`Authorization: Bearer …`), at least 16 characters. */
    token: secretRef.optional(),
    /** Serve the admin listener over TLS with this certificate chain (PEM); needs `key`. */
    cert: secretRef.optional(),
    /** The admin listener's private key (PEM). */
    key: secretRef.optional(),
    /** CA bundle (PEM): a client certificate that chains to it is an admin credential (needs `cert`, `key`). */
    clientCA: secretRef.optional(),
    /** Require the admin credential for `/metrics` too (Prometheus then sends it: `authorization` in its config). */
    authenticateMetrics: z.boolean().default(false),
  })
  .refine((a) => (a.cert === undefined) === (a.key === undefined), {
    path: ['cert'],
    message: 'cert and key go together (the admin listener then serves TLS)',
  })
  .refine((a) => a.clientCA === undefined || a.cert !== undefined, {
    path: ['clientCA'],
    message: 'client certificates need a TLS admin listener: set admin.cert and admin.key too',
  });

const auditSchema = z.strictObject({
  /**
   * `stdout`, `stderr`, `file:PATH`, `redis` (the store's stream), or `none`. Default: `[stdout, redis]` with a Redis
   * store, `[stdout]` with `memory://` (gateway/audit/config.ts).
   */
  sinks: z
    .array(z.string().regex(/^(stdout|stderr|redis|none|file:.+)$/, 'must be stdout, stderr, redis, none or file:PATH'))
    .min(1)
    .optional(),
  failMode: z.enum(['closed', 'open']).default('closed'),
  /** The Redis stream's size bound: a batch that would pass it is refused (the sink fails closed), never evicting. */
  streamMaxLen: z.number().int().positive().default(500_000),
  /** Stream entries older than this are trimmed (`XTRIM MINID`); `escrow audit verify` reports them as trimmed. */
  streamRetentionSeconds: z.number().int().positive().default(3_600),
  /** `file:` sinks: `batch` fdatasyncs each batch before it counts as written (survives a power loss); `none` not. */
  fileSync: z.enum(['none', 'batch']).default('none'),
  /** How long an answer waits for its audit event to be written by every sink before it is refused (503). */
  commitTimeoutMs: z.number().int().positive().default(2_000),
  /** Events held per sink while it fails; past this the oldest are dropped (a gap `verify` reports). */
  maxQueue: z.number().int().positive().default(10_000),
  /** Repeated identical denials are recorded once per window and counted (`denials.aggregated`). */
  noise: z
    .strictObject({
      /** Length of one aggregation window. */
      intervalSeconds: z.number().int().positive().default(60),
      /** Distinct denials recorded in full per window and replica; further ones are counted per reason only. */
      maxKeys: z.number().int().positive().max(100_000).default(100),
    })
    .default({ intervalSeconds: 60, maxKeys: 100 }),
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
  admin: adminSchema.default({ listen: '127.0.0.1:9090', authenticateMetrics: false }),
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

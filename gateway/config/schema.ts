import { z } from 'zod';
import { type EscrowErrorCode, PROBLEMS } from '../errors.js';
import { checkMcpTarget, mcpTargetSchema } from '../mcp/config.js';
import { checkPostgresUrl, isLoopback, listenHost, postgresSchemas } from '../postgres/config.js';
import { identitySchema } from './identity-schema.js';

/*
 * Every key carries its `.describe()` text: docs/configuration.md's reference is rendered from these alone
 * (scripts/config-reference.ts, `npm run docs:config`). A status in a description is read from PROBLEMS, so the
 * page cannot say 502 where the code answers 503.
 */
const status = (code: EscrowErrorCode): number => PROBLEMS[code].status;

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
    adapter: z
      .string()
      .min(1)
      .describe(
        'Built-in adapter name (`header`, `basic`, `query`, `oauth2-client-credentials`, `jwt-bearer`, `rabbitmq`, `hmac`, `postgres`) or `./path/to/module.js`.',
      ),
    ttl: z
      .number()
      .int()
      .positive()
      .max(86_400)
      .default(300)
      .describe('Lease lifetime in seconds; a lease never outlives its task.'),
  })
  .catchall(z.unknown());

const limitsSchema = z.strictObject({
  maxBodyBytes: z
    .number()
    .int()
    .positive()
    .default(10 * 1024 * 1024)
    .describe(`Largest request body; bigger gets ${status('payload_too_large')}.`),
  maxResponseBytes: z
    .number()
    .int()
    .positive()
    .optional()
    .describe(
      `Largest upstream response body, as received and once decompressed (${status('upstream_error')} before the head is sent, the connection cut after). Unset: unlimited as received, 64 MiB once decompressed.`,
    ),
  headersTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(30_000)
    .describe(`Time to wait for the upstream’s response head (${status('upstream_timeout')} after).`),
  bodyTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(60_000)
    .describe('Longest pause between two chunks of the upstream’s body.'),
  connectTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(5_000)
    .describe(`Time to connect to the upstream (${status('upstream_timeout')} after).`),
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
  name: targetName.describe('The first path segment agents use (`/<name>/…`); lower-case letters, digits, dashes.'),
  protocol: z
    .enum(['http', 'mcp', 'postgres'])
    .default('http')
    .describe(
      '`http` (default) proxies HTTP under `/<name>/`; `mcp` too, authorizing each JSON-RPC call of the Model Context Protocol over Streamable HTTP (docs/mcp.md); `postgres` listens on `listen` for the PostgreSQL wire protocol.',
    ),
  listen: listenAddress.optional().describe("Address of this target's own listener (`protocol: postgres` only)."),
  upstream: z
    .string()
    .describe(
      'Base URL requests are forwarded to (`http(s)://host[:port][/base/path]`), or `postgres://host[:port]` for `protocol: postgres`; no userinfo, query or fragment.',
    ),
  attributes: z
    .record(z.string(), attributeValue)
    .default({})
    .describe('Cedar attributes of the target (`sensitivity`, `environment`, …) and tags policies can read.'),
  requireTask: z
    .boolean()
    .default(true)
    .describe(
      `Refuse requests without an \`X-Escrow-Task\` header (${status('task_required')} \`task_required\`). Off: an implicit task per principal and target, for static secrets only.`,
    ),
  identityHeader: z
    .string()
    .toLowerCase()
    .optional()
    .describe(
      "Another header that may carry the workload token for this target, beside the issuer's (e.g. `x-api-key`).",
    ),
  credential: credentialSchema.describe(
    'How the credential is obtained and injected: `adapter` plus the adapter’s own options (docs/targets.md).',
  ),
  limits: limitsSchema.default(limitsSchema.parse({})).describe('Size and time limits for this target.'),
  allowResponseHeaders: z
    .array(z.string().toLowerCase())
    .default([])
    .describe('Response headers from the upstream that are passed back although they are dropped by default.'),
  websocket: z.boolean().default(false).describe('Allow `GET` + `Upgrade: websocket` to this target.'),
  scrub: z
    .strictObject({
      flushAfterMs: z
        .number()
        .int()
        .min(0)
        .max(10_000)
        .default(100)
        .describe('Longest a response byte is held back for scrubbing when no more bytes follow it (0: no window).'),
    })
    .default({ flushAfterMs: 100 })
    .describe('The time half of the scrubber\'s release rule (docs/security.md, "No side channel").'),
  circuitBreaker: z
    .strictObject({
      failureThreshold: z
        .number()
        .int()
        .positive()
        .default(5)
        .describe(
          `Consecutive upstream failures that open the circuit (requests then fail at once with ${status('circuit_open')} \`circuit_open\`).`,
        ),
      coolDownMs: z
        .number()
        .int()
        .positive()
        .default(10_000)
        .describe('How long the circuit stays open before one probe request is let through.'),
    })
    .optional()
    .describe('Fail fast while the upstream is failing (gateway/proxy/breaker.ts); absent: no breaker.'),
  pool: z
    .strictObject({
      connections: z
        .number()
        .int()
        .positive()
        .default(128)
        .describe(
          'Maximum connections per replica, and so the most requests forwarded to this upstream at once per replica.',
        ),
      keepAliveTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(30_000)
        .describe('How long an idle upstream connection is kept.'),
      maxQueued: z
        .number()
        .int()
        .min(0)
        .default(1_024)
        .describe(
          `Requests that may wait for a connection when all are busy; one more gets ${status('upstream_busy')} \`upstream_busy\` at once.`,
        ),
      queueTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(5_000)
        .describe(
          `How long a request may wait for a connection before it gets ${status('upstream_busy')} \`upstream_busy\`.`,
        ),
    })
    .default({ connections: 128, keepAliveTimeoutMs: 30_000, maxQueued: 1_024, queueTimeoutMs: 5_000 })
    .describe(
      `Requests in flight toward the upstream, per replica: at most \`connections\`; beyond that a request waits (at most \`maxQueued\` of them, each at most \`queueTimeoutMs\`) and is then refused with ${status('upstream_busy')} \`upstream_busy\`.`,
    ),
  allowEncodedSlash: z
    .boolean()
    .default(false)
    .describe(
      `Forward \`%2F\` (an encoded \`/\`) inside a path segment. Off: refused with ${status('bad_path')}, because upstreams disagree on whether it separates segments (docs/policies.md, "Paths").`,
    ),
  postgres: postgres.listener
    .optional()
    .describe("The PostgreSQL listener's options (`protocol: postgres` only; docs/databases.md)."),
  mcp: mcpTargetSchema
    .optional()
    .describe(
      "How Escrow reads an MCP target's JSON-RPC: bounds, audit, metric labels, revisions (`protocol: mcp` only).",
    ),
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
  listen: listenAddress.describe('Address of the mTLS listener.'),
  cert: secretRef.describe("The listener's certificate chain (PEM)."),
  key: secretRef.describe("The listener's private key (PEM)."),
  clientCA: secretRef.describe('CA bundle (PEM) that client certificates must chain to, e.g. the SPIRE trust bundle.'),
  requireClientCert: z.boolean().default(true).describe('Refuse the TLS handshake without a valid client certificate.'),
});

/**
 * The admin listener. Every endpoint but `/healthz`, `/readyz` (and `/metrics` unless `authenticateMetrics`)
 * needs the admin credential: the bearer `token`, or a client certificate issued by `clientCA` (the listener then
 * serves TLS with `cert` and `key`). Neither configured: those endpoints are refused (gateway/admin-auth.ts).
 */
export const adminSchema = z
  .strictObject({
    listen: listenAddress
      .default('127.0.0.1:9090')
      .describe('Address of the admin listener. Bind it to a private interface (or a pod-local port).'),
    token: secretRef
      .optional()
      .describe('Bearer token for the admin endpoints (`Authorization: Bearer …`), at least 16 characters.'),
    cert: secretRef
      .optional()
      .describe('Serve the admin listener over TLS with this certificate chain (PEM); needs `key`.'),
    key: secretRef.optional().describe("The admin listener's private key (PEM)."),
    clientCA: secretRef
      .optional()
      .describe(
        'CA bundle (PEM): a client certificate that chains to it is an admin credential (needs `cert`, `key`).',
      ),
    authenticateMetrics: z
      .boolean()
      .default(false)
      .describe(
        'Require the admin credential for `/metrics` too (Prometheus then sends it: `authorization` in its config).',
      ),
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
  sinks: z
    .array(z.string().regex(/^(stdout|stderr|redis|none|file:.+)$/, 'must be stdout, stderr, redis, none or file:PATH'))
    .min(1)
    .optional()
    .describe(
      "`stdout`, `stderr`, `file:PATH`, `redis` (the store's stream), or `none`. Default: `[stdout, redis]` with a Redis store, `[stdout]` with `memory://` (gateway/audit/config.ts).",
    ),
  failMode: z
    .enum(['closed', 'open'])
    .default('closed')
    .describe(
      `\`closed\`: an answer waits for its audit event, and nothing is served while a sink fails (${status('audit_unavailable')}); \`open\`: keep serving and queue events (bounded).`,
    ),
  streamMaxLen: z
    .number()
    .int()
    .positive()
    .default(500_000)
    .describe(
      "The Redis stream's size bound: a batch that would pass it is refused (the sink fails closed), never evicting.",
    ),
  streamRetentionSeconds: z
    .number()
    .int()
    .positive()
    .default(3_600)
    .describe(
      'Stream entries older than this are trimmed (`XTRIM MINID`); `escrow audit verify` reports them as trimmed.',
    ),
  fileSync: z
    .enum(['none', 'batch'])
    .default('none')
    .describe(
      '`file:` sinks: `batch` fdatasyncs each batch before it counts as written (survives a power loss); `none` not.',
    ),
  commitTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(2_000)
    .describe(
      `How long an answer waits for its audit event to be written by every sink; then, with \`failMode: closed\`, it is refused (${status('audit_unavailable')}), with \`open\` it is sent.`,
    ),
  maxQueue: z
    .number()
    .int()
    .positive()
    .default(10_000)
    .describe('Events held per sink while it fails; past this the oldest are dropped (a gap `verify` reports).'),
  noise: z
    .strictObject({
      intervalSeconds: z.number().int().positive().default(60).describe('Length of one aggregation window.'),
      maxKeys: z
        .number()
        .int()
        .positive()
        .max(100_000)
        .default(100)
        .describe(
          'Distinct denials recorded in full per window and replica; further ones are counted per reason only.',
        ),
    })
    .default({ intervalSeconds: 60, maxKeys: 100 })
    .describe('Repeated identical denials are recorded once per window and counted (`denials.aggregated`).'),
});

const tasksSchema = z.strictObject({
  defaultTtlSeconds: z
    .number()
    .int()
    .positive()
    .default(900)
    .describe('Task lifetime when the request gives no `ttlSeconds`.'),
  maxTtlSeconds: z.number().int().positive().default(86_400).describe('Longest task an agent may ask for.'),
  maxDepth: z
    .number()
    .int()
    .min(0)
    .default(4)
    .describe(`How deep child tasks (steps) may nest; a deeper one is refused (${status('task_invalid')}).`),
  maxOpenPerPrincipal: z
    .number()
    .int()
    .positive()
    .default(100)
    .describe(`Live tasks one workload may hold; more get ${status('task_limit')} \`task_limit\`.`),
  maxIntentLength: z.number().int().positive().default(1024).describe('Longest `intent` accepted, in characters.'),
});

const webhookSchema = z
  .strictObject({
    url: z
      .union([
        secretRef,
        z
          .string()
          .url()
          .refine((u) => /^https?:\/\//.test(u), 'must be an http:// or https:// URL or a secret reference'),
      ])
      .describe(
        'Where notifications go: an http(s) URL, or a secret reference to one (a Slack webhook URL is a secret).',
      ),
    secret: secretRef
      .optional()
      .describe('Key of the `x-escrow-signature` HMAC-SHA256 (required with `format: json`).'),
    format: z
      .enum(['json', 'slack'])
      .default('json')
      .describe("`json` (Escrow's own body) or `slack` (an incoming-webhook body; agent text escaped)."),
    timeoutMs: z
      .number()
      .int()
      .positive()
      .max(60_000)
      .default(5_000)
      .describe('Each delivery attempt gives up after this long.'),
    maxAttempts: z
      .number()
      .int()
      .min(1)
      .max(20)
      .default(6)
      .describe('Attempts per notification (retried on network errors, timeouts, 408, 429 and 5xx).'),
    retryBaseMs: z
      .number()
      .int()
      .positive()
      .max(60_000)
      .default(1_000)
      .describe('The first retry waits this long; each next one twice as long (at most 60 s).'),
  })
  .refine((w) => w.format === 'slack' || w.secret !== undefined, {
    message: 'required with format json',
    path: ['secret'],
  });

const approvalsSchema = z.strictObject({
  ttlSeconds: z
    .number()
    .int()
    .positive()
    .max(86_400)
    .default(900)
    .describe('An approval request expires after this long without a decision (never after its task).'),
  grantWindowSeconds: z
    .number()
    .int()
    .positive()
    .max(86_400)
    .default(600)
    .describe(
      "How long a granted per-request approval covers its request, unless a policy's `@approvalWindow` says less.",
    ),
  maxPendingPerRequester: z
    .number()
    .int()
    .positive()
    .max(10_000)
    .default(10)
    .describe(
      `Approvals one principal may have waiting at once; more get ${status('approval_limit')} \`approval_limit\`.`,
    ),
  webhook: webhookSchema
    .optional()
    .describe('Tell people when an approval is requested and when it is decided (docs/approvals.md).'),
});

export const configSchema = z.strictObject({
  proxy: z
    .strictObject({
      listen: listenAddress
        .default('127.0.0.1:8080')
        .describe(
          'Address of the plain-HTTP proxy listener: `host:port`, `:port` (every interface) or a bare port (loopback). Use `0.0.0.0:8080` in a container.',
        ),
      tls: tlsSchema
        .optional()
        .describe('An additional HTTPS listener that asks for client certificates (mTLS, X.509-SVIDs).'),
      maxHeaderBytes: z
        .number()
        .int()
        .positive()
        .default(16 * 1024)
        .describe(`Largest request head accepted; bigger requests get ${status('headers_too_large')}.`),
      requestTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(120_000)
        .describe(
          `Time allowed to receive a whole request from the agent (${status('request_timeout')} after); its head must arrive within this or 60 s, whichever is shorter.`,
        ),
      forwardedHeaders: z
        .boolean()
        .default(false)
        .describe("Escrow sets its own X-Forwarded-For/-Proto upstream (the agent's are dropped either way)."),
      maxConcurrentPerPrincipal: z
        .number()
        .int()
        .positive()
        .default(256)
        .describe(`In-flight requests one workload may have on one replica; more get ${status('too_many_requests')}.`),
      drainTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(10_000)
        .describe('On SIGTERM, how long in-flight requests may take to finish before their connections are cut.'),
    })
    .default({
      listen: '127.0.0.1:8080',
      maxHeaderBytes: 16384,
      requestTimeoutMs: 120_000,
      forwardedHeaders: false,
      maxConcurrentPerPrincipal: 256,
      drainTimeoutMs: 10_000,
    })
    .describe('The agent-facing listener.'),
  admin: adminSchema
    .default({ listen: '127.0.0.1:9090', authenticateMetrics: false })
    .describe(
      'The operators’ listener: `/metrics`, `/healthz`, `/readyz`, `/admin/revoke`, `/admin/tasks`, `/admin/approvals`. Everything but the probes (and `/metrics` unless `authenticateMetrics`) needs the admin credential, `token` or a client certificate from `clientCA`; with neither, those endpoints are refused. Keep it private too.',
    ),
  store: z
    .string()
    .regex(
      /^(memory|rediss?(\+(sentinel|cluster))?):\/\//,
      'must be redis://…, rediss://…, redis+sentinel://…, redis+cluster://… or memory://',
    )
    .default('memory://')
    .describe(
      'Where tasks, leases, revocations and the audit stream live: `redis://`/`rediss://` (one server), `redis+sentinel://`, `redis+cluster://`, or `memory://` (one process only). See docs/redis.md.',
    ),
  storePassword: secretRef
    .optional()
    .describe('The Redis password as a secret reference (instead of userinfo in `store:`).'),
  storePrefix: z
    .string()
    .regex(/^[A-Za-z0-9:_-]+$/)
    .default('escrow:')
    .describe('Prefix of every Redis key and channel; lets several Escrow deployments share one Redis.'),
  storeTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(1_000)
    .describe(
      `Per-command store timeout; a slower store is treated as unavailable (${status('store_unavailable')}, fail closed).`,
    ),
  keys: z
    .strictObject({
      leaseEncryption: secretRef.describe('AES-256-GCM key for leases at rest in the store: 32 bytes, base64.'),
      leaseEncryptionPrevious: z
        .array(secretRef)
        .default([])
        .describe('Older lease keys, still readable until their leases expire (rotation).'),
      auditHmac: secretRef.describe(
        'HMAC-SHA256 key of the secret fingerprints in audit events, at least 16 characters (the hash chain is not keyed).',
      ),
    })
    .describe('Escrow’s own keys, as secret references.'),
  identity: identitySchema.describe('Who may call Escrow: JWT/OIDC issuers and mTLS. See docs/identity.md.'),
  policies: z
    .string()
    .min(1)
    .default('./policies')
    .describe('Directory of `.cedar` files and `schema.cedarschema`, relative to this file.'),
  shadowPolicies: z
    .string()
    .min(1)
    .optional()
    .describe('A candidate policy directory evaluated beside the enforced one (shadow mode); never decides.'),
  watchPolicies: z.boolean().default(true).describe('Reload policies when their files change.'),
  tasks: tasksSchema.default(tasksSchema.parse({})).describe('Limits on tasks (`POST /_escrow/tasks`).'),
  audit: auditSchema
    .default(auditSchema.parse({}))
    .describe('Where audit events go and what happens when they cannot be written. See docs/audit.md.'),
  approvals: approvalsSchema
    .default(approvalsSchema.parse({}))
    .describe('Human approval of tasks and requests that policy marks `@approval("required")` (docs/approvals.md).'),
  targets: z
    .array(targetSchema)
    .min(1)
    .describe('The upstreams agents may reach, one per `/<name>/` path prefix. See docs/targets.md.'),
  dev: z
    .strictObject({
      signingKey: z
        .string()
        .min(1)
        .describe('Private JWK, as `env:NAME` or `file:PATH`, with which `escrow token dev` mints workload tokens.'),
      demoUpstream: z
        .boolean()
        .default(false)
        .describe('Start the demo upstream on the first target’s address (the embedded default).'),
    })
    .optional()
    .describe('Marks a development config: `escrow token dev` refuses to mint tokens for any other.'),
});

export type RawConfig = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
export type TargetConfig = z.output<typeof targetSchema>;
export type CredentialConfig = TargetConfig['credential'];

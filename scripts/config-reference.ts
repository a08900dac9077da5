/**
 * Generates docs/configuration.md from the config schema, so the reference cannot drift from the code:
 *
 *   npx tsx scripts/config-reference.ts > docs/configuration.md
 *
 * Types, defaults and "required" come from `z.toJSONSchema(configSchema)`. A key's description is, in order:
 * its `.describe()` text, the TSDoc comment above it in gateway/config/*.ts, or the entry in `NOTES` below.
 * test/docs/config-reference.test.ts regenerates the page and fails when the committed file differs, or when
 * a key has no description at all.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import ts from 'typescript';
import { z } from 'zod';
import { configSchema } from '../gateway/config/schema.js';
import { type EscrowErrorCode, PROBLEMS } from '../gateway/errors.js';

const ROOT = resolve(import.meta.dirname, '..');

/** The status an error code answers, read from the one table (gateway/errors.ts), so the prose cannot drift. */
const status = (code: EscrowErrorCode): number => PROBLEMS[code].status;
const SOURCES = ['gateway/config/schema.ts', 'gateway/config/identity-schema.ts', 'gateway/mcp/config.ts'];

/** Descriptions for keys whose schema carries neither `.describe()` nor TSDoc (better: add one there). */
const NOTES: Record<string, string> = {
  proxy: 'The agent-facing listener.',
  'proxy.listen': 'Address of the plain-HTTP proxy listener (`host:port`). Use `0.0.0.0:8080` in a container.',
  'proxy.tls': 'An additional HTTPS listener that asks for client certificates (mTLS, X.509-SVIDs).',
  'proxy.tls.listen': 'Address of the mTLS listener.',
  'proxy.tls.cert': "The listener's certificate chain (PEM).",
  'proxy.tls.key': "The listener's private key (PEM).",
  'proxy.tls.clientCA': 'CA bundle (PEM) that client certificates must chain to, e.g. the SPIRE trust bundle.',
  'proxy.tls.requireClientCert': 'Refuse the TLS handshake without a valid client certificate.',
  'proxy.maxHeaderBytes': 'Largest request head accepted; bigger requests get 431.',
  'proxy.requestTimeoutMs': 'Time allowed to receive a whole request from the agent.',
  'proxy.maxConcurrentPerPrincipal': 'In-flight requests one workload may have on one replica; more get 429.',
  admin:
    'The operators’ listener: `/metrics`, `/healthz`, `/readyz`, `/admin/revoke`, `/admin/tasks`. Everything but the probes (and `/metrics` unless `authenticateMetrics`) needs the admin credential. Keep it private too.',
  'admin.listen': 'Address of the admin listener. Bind it to a private interface (or a pod-local port).',
  store:
    'Where tasks, leases, revocations and the audit stream live: `redis://`/`rediss://` (one server), `redis+sentinel://`, `redis+cluster://`, or `memory://` (one process only). See docs/operations.md.',
  storePrefix: 'Prefix of every Redis key and channel; lets several Escrow deployments share one Redis.',
  storeTimeoutMs: `Per-command store timeout; a slower store is treated as unavailable (${status('store_unavailable')}, fail closed).`,
  keys: 'Escrow’s own keys, as secret references.',
  'keys.leaseEncryption': 'AES-256-GCM key for leases at rest in the store: 32 bytes, base64.',
  'keys.auditHmac': 'HMAC key for secret fingerprints and the audit hash chain: 32 bytes, base64.',
  identity: 'Who may call Escrow: JWT/OIDC issuers and mTLS. See docs/identity.md.',
  'identity.issuers': 'Trusted token issuers; a token is accepted by the first issuer whose checks it passes.',
  'identity.issuers[].name': 'Name of the issuer, used in audit events and `escrow token dev --issuer`.',
  'identity.issuers[].audience': 'Required `aud` (one value or a list: any may match).',
  'identity.issuers[].algorithms': 'Accepted JWS algorithms (asymmetric only).',
  'identity.issuers[].clockToleranceSeconds': 'Leeway for `exp`, `nbf` and `iat`.',
  'identity.issuers[].maxTokenAgeSeconds': 'Refuse tokens older than this (by `iat`), or valid for longer than this.',
  'identity.issuers[].maxTokenBytes': 'Refuse larger tokens before parsing them.',
  'identity.issuers[].typ': 'Required JOSE `typ` header (e.g. `at+jwt`, `JWT`).',
  'identity.issuers[].requiredClaims':
    '`{ claimPath: value }`: the claim must equal the value (or, for a list, contain it).',
  'identity.issuers[].jwksRefreshSeconds': 'How often the key set is re-read (a SPIFFE bundle’s refresh hint wins).',
  'identity.issuers[].jwksCooldownSeconds':
    'Minimum time between two reads of the key set (unknown `kid`s trigger a read).',
  'identity.issuers[].jwksMaxStaleSeconds': 'How long the last good keys stay usable while the key source is down.',
  'identity.issuers[].replayCache': 'Single-use tokens: each `jti` is accepted once (needs the Redis store).',
  'identity.mtls.principal': 'The Cedar principal type of a client certificate’s SPIFFE ID.',
  'identity.mtls.trustDomain': 'Required SPIFFE trust domain of client certificates.',
  'identity.cacheSize': 'Entries in the verified-identity cache (`0` turns it off).',
  policies: 'Directory of `.cedar` files and `schema.cedarschema`, relative to this file.',
  tasks: 'Limits on tasks (`POST /_escrow/tasks`).',
  'tasks.defaultTtlSeconds': 'Task lifetime when the request gives no `ttlSeconds`.',
  'tasks.maxTtlSeconds': 'Longest task an agent may ask for.',
  'tasks.maxDepth': 'How deep child tasks (steps) may nest.',
  'tasks.maxOpenPerPrincipal': 'Live tasks one workload may hold; more get 429 `task_limit`.',
  'tasks.maxIntentLength': 'Longest `intent` accepted, in characters.',
  audit: 'Where audit events go and what happens when they cannot be written. See docs/audit.md.',
  'audit.failMode': `\`closed\`: an answer waits for its audit event, and nothing is served while a sink fails (${status('audit_unavailable')}); \`open\`: keep serving and queue events (bounded).`,
  targets: 'The upstreams agents may reach, one per `/<name>/` path prefix. See docs/targets.md.',
  'targets[].name': 'The first path segment agents use (`/<name>/…`); lower-case letters, digits, dashes.',
  'targets[].upstream':
    'Base URL requests are forwarded to (`http(s)://host[:port][/base/path]`), or `postgres://host[:port]` for `protocol: postgres`; no userinfo, query or fragment.',
  'targets[].attributes':
    'Cedar attributes of the target (`sensitivity`, `environment`, …) and tags policies can read.',
  'targets[].requireTask': `Refuse requests without a live \`X-Escrow-Task\` (${status('task_required')} \`task_required\`).`,
  'targets[].credential':
    'How the credential is obtained and injected: `adapter` plus the adapter’s own options (docs/targets.md).',
  'targets[].credential.adapter':
    'Built-in adapter name (`header`, `basic`, `query`, `oauth2-client-credentials`, `jwt-bearer`, `rabbitmq`, `hmac`, `postgres`) or `./path/to/module.js`.',
  'targets[].credential.ttl': 'Lease lifetime in seconds; a lease never outlives its task.',
  'targets[].limits': 'Size and time limits for this target.',
  'targets[].limits.maxBodyBytes': 'Largest request body; bigger gets 413.',
  'targets[].limits.maxResponseBytes': `Largest upstream response body, as received and once decompressed (${status('upstream_error')} before the head is sent, the connection cut after). Unset: unlimited as received, 64 MiB once decompressed.`,
  'targets[].limits.headersTimeoutMs': `Time to wait for the upstream’s response head (${status('upstream_timeout')} after).`,
  'targets[].limits.bodyTimeoutMs': 'Longest pause between two chunks of the upstream’s body.',
  'targets[].limits.connectTimeoutMs': 'Time to connect to the upstream.',
  'targets[].websocket': 'Allow `GET` + `Upgrade: websocket` to this target.',
  'targets[].circuitBreaker.failureThreshold': `Consecutive upstream failures that open the circuit (requests then fail at once with ${status('circuit_open')} circuit_open).`,
  'targets[].circuitBreaker.coolDownMs': 'How long the circuit stays open before one probe request is let through.',
  'targets[].pool': 'The connection pool to this upstream (one per replica).',
  'targets[].pool.connections':
    'Maximum connections per replica, and so the most requests forwarded to this upstream at once per replica.',
  'targets[].pool.keepAliveTimeoutMs': 'How long an idle upstream connection is kept.',
  dev: 'Marks a development config. Never set it in production.',
  'dev.signingKey': 'Private JWK used by `escrow token dev` to mint workload tokens.',
  'dev.demoUpstream': 'Start the demo upstream on the first target’s address (the embedded default).',
};

type Json = {
  type?: string | string[];
  properties?: Record<string, Json>;
  required?: string[];
  items?: Json;
  additionalProperties?: Json | boolean;
  anyOf?: Json[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  minLength?: number;
};

interface Row {
  readonly path: string;
  readonly type: string;
  readonly fallback: string;
  readonly description: string;
}

/** TSDoc comments on the keys of every `z.object`/`z.strictObject` literal, by key path. */
export function tsdocByPath(): Map<string, string> {
  const files = SOURCES.map((f) =>
    ts.createSourceFile(f, readFileSync(resolve(ROOT, f), 'utf8'), ts.ScriptTarget.ES2022, true),
  );
  const consts = new Map<string, ts.Expression>();
  for (const file of files) {
    for (const statement of file.statements) {
      if (!ts.isVariableStatement(statement)) continue;
      for (const d of statement.declarationList.declarations) {
        if (ts.isIdentifier(d.name) && d.initializer) consts.set(d.name.text, d.initializer);
      }
    }
  }
  const docs = new Map<string, string>();
  const visit = (expr: ts.Expression, path: string, seen: Set<string>): void => {
    if (ts.isIdentifier(expr)) {
      const init = consts.get(expr.text);
      if (init && !seen.has(expr.text)) visit(init, path, new Set([...seen, expr.text]));
      return;
    }
    if (!ts.isCallExpression(expr)) return;
    const callee = expr.expression;
    if (!ts.isPropertyAccessExpression(callee)) return;
    const method = callee.name.text;
    const first = expr.arguments[0];
    if ((method === 'object' || method === 'strictObject') && first && ts.isObjectLiteralExpression(first)) {
      for (const prop of first.properties) {
        if (!ts.isPropertyAssignment(prop) || !(ts.isIdentifier(prop.name) || ts.isStringLiteral(prop.name))) continue;
        const key = path ? `${path}.${prop.name.text}` : prop.name.text;
        const doc = ts
          .getJSDocCommentsAndTags(prop)
          .map((d) => (typeof d.comment === 'string' ? d.comment : ''))
          .join(' ')
          .trim();
        if (doc) docs.set(key, doc.replace(/\s+/g, ' '));
        visit(prop.initializer, key, seen);
      }
      return;
    }
    if (method === 'array' && first) visit(first, `${path}[]`, seen);
    else visit(callee.expression, path, seen); // .optional(), .default(…), .refine(…) wrap the schema they follow
  };
  const root = consts.get('configSchema');
  if (root) visit(root, '', new Set(['configSchema']));
  return docs;
}

const code = (value: unknown) => `\`${JSON.stringify(value)}\``;

const SECRET_REF = '^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$';

function range(s: Json): string {
  const min = s.minimum !== undefined && s.minimum > Number.MIN_SAFE_INTEGER ? s.minimum : undefined;
  const low = s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : min;
  const high = s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER ? s.maximum : undefined;
  if (low === undefined && high === undefined) return '';
  return high === undefined ? ` ≥ ${low}` : ` ${low ?? '…'}–${high}`;
}

/** A short human type: `integer ≥ 1`, `secret ref`, `"closed" \| "open"`, `list of host:port`, `map of string`. */
export function typeOf(s: Json): string {
  if (s.anyOf) return s.anyOf.map(typeOf).join(' or ');
  if (s.enum) return s.enum.map((v) => code(v)).join(' \\| ');
  const type = Array.isArray(s.type) ? s.type.join(' \\| ') : (s.type ?? 'any');
  if (type === 'string') {
    if (s.pattern === SECRET_REF) return 'secret ref (`env:NAME` \\| `file:PATH`)';
    if (s.pattern?.includes('\\d{1,5}')) return 'host:port';
    return 'string';
  }
  if (type === 'integer' || type === 'number') return `${type}${range(s)}`;
  if (type === 'array') return `list of ${s.items ? typeOf(s.items) : 'any'}${s.minItems ? ` (≥ ${s.minItems})` : ''}`;
  if (type === 'object' && !s.properties) {
    const values = typeof s.additionalProperties === 'object' ? typeOf(s.additionalProperties) : 'any';
    return `map of ${values}`;
  }
  return type;
}

function fallback(s: Json, required: boolean): string {
  if (required) return '**required**';
  if (s.default === undefined) return '—';
  if (s.default !== null && typeof s.default === 'object' && !Array.isArray(s.default)) {
    return Object.keys(s.default).length === 0 ? '`{}`' : '(see keys below)';
  }
  return code(s.default);
}

/** Every key under `schema`, depth first: objects, then their keys; lists of objects as `key[]`. */
export function rows(schema: Json, docs: Map<string, string>, path = '', required = false): Row[] {
  const out: Row[] = [];
  if (path) {
    const description = schema.description ?? docs.get(path) ?? NOTES[path] ?? '';
    out.push({ path, type: typeOf(schema), fallback: fallback(schema, required), description });
  }
  const object = schema.items?.properties ? schema.items : schema;
  const prefix = schema.items?.properties ? `${path}[]` : path;
  for (const [key, child] of Object.entries(object.properties ?? {})) {
    const childPath = prefix ? `${prefix}.${key}` : key;
    out.push(...rows(child, docs, childPath, object.required?.includes(key) ?? false));
  }
  return out;
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

function table(list: readonly Row[]): string {
  const lines = ['| key | type | default | description |', '|---|---|---|---|'];
  for (const r of list) {
    lines.push(`| \`${r.path}\` | ${r.type} | ${r.fallback} | ${cell(r.description)} |`);
  }
  return lines.join('\n');
}

/** The whole page. Sections: top-level scalars first, then one per top-level object or list. */
export function renderReference(): string {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Json;
  const all = rows(schema, tsdocByPath());
  const top = Object.keys(schema.properties ?? {});
  const isSection = (key: string) => {
    const s = schema.properties?.[key];
    return Boolean(s?.properties || s?.items?.properties);
  };
  const scalars = all.filter((r) => top.includes(r.path) && !isSection(r.path));
  const parts = [
    '# Configuration reference',
    '',
    '<!-- Generated by scripts/config-reference.ts from gateway/config/schema.ts and identity-schema.ts.',
    '     Do not edit: run `npx tsx scripts/config-reference.ts > docs/configuration.md`. -->',
    '',
    '`escrow.yaml` is YAML checked against a strict schema: unknown keys are errors, and a bad file stops',
    'start-up (exit code 2) with a message naming the path, e.g. `targets[0].credential.header: required`.',
    'Validate a file without starting: `escrow check --config escrow.yaml`. Relative paths (`policies`,',
    '`file:` references) resolve against the directory of the config file.',
    '',
    'Secret values appear only as references: `env:NAME` (an environment variable) or `file:PATH`. A literal',
    'secret is refused. Each adapter checks its own options under `targets[].credential` at start-up; they are',
    'listed per adapter in [targets.md](targets.md). Identity is explained in [identity.md](identity.md).',
    '',
    '## Top-level keys',
    '',
    table(scalars),
  ];
  for (const key of top.filter(isSection)) {
    const section = all.filter((r) => r.path === key || r.path.startsWith(`${key}.`) || r.path.startsWith(`${key}[]`));
    parts.push('', `## \`${key}\``, '', table(section));
  }
  return formatMarkdown(`${parts.join('\n')}\n`);
}

/** The repository's formatter decides table padding, so `biome check .` and the drift test agree. */
function formatMarkdown(text: string): string {
  const biome = resolve(ROOT, 'node_modules/.bin/biome');
  return execFileSync(biome, ['format', '--stdin-file-path=docs/configuration.md'], { input: text, encoding: 'utf8' });
}

/** Keys that have no description from any source (the test fails on these). */
export function undocumentedKeys(): string[] {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Json;
  return rows(schema, tsdocByPath())
    .filter((r) => r.description === '')
    .map((r) => r.path);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  process.stdout.write(renderReference());
}

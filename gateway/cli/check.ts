import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { resolveSecretRef } from '../config/secret-ref.js';
import { ensureDevMaterial } from '../dev/material.js';
import { EscrowError } from '../errors.js';
import { createIdentityVerifier } from '../identity/index.js';
import type { IssuerKeyState } from '../identity/types.js';
import { createLeaseCipher } from '../leases/crypto.js';
import { createPolicyEngine } from '../policy/engine.js';
import { createTargetAdapters } from '../targets.js';
import { configPath, devMaterialDir, EXIT } from './common.js';

export const checkHelp = `escrow check [--config FILE] [--offline] [--json]

Validate without starting: the config (strict schema, every secret reference resolves, keys well-formed),
every target's adapter options, the policy set (strict schema validation), and every identity issuer's key set:
files are read, and JWKS URLs and OIDC discovery documents are fetched (--offline: files only).
Exit 0 when all is well; 2 with a message naming the offending path when the config is invalid; 1 when a key
set could not be fetched (each one is named).`;

/** The webhook's URL when it is a secret reference (a Slack URL is a secret), else nothing to resolve. */
function webhookUrlRef(config: Config): string | undefined {
  const url = config.approvals.webhook?.url;
  return url !== undefined && /^(env|file):/.test(url) ? url : undefined;
}

/** Every secret reference outside the targets (theirs are resolved by their adapters): each must resolve. */
function checkSecrets(config: Config, secret: (ref: string) => string): void {
  const refs: [string, string | undefined][] = [
    ['keys.auditHmac', config.keys.auditHmac],
    ['storePassword', config.storePassword],
    ['proxy.tls.cert', config.proxy.tls?.cert],
    ['proxy.tls.key', config.proxy.tls?.key],
    ['proxy.tls.clientCA', config.proxy.tls?.clientCA],
    ['approvals.webhook.secret', config.approvals.webhook?.secret],
    ['approvals.webhook.url', webhookUrlRef(config)],
  ];
  for (const [path, ref] of refs) {
    if (ref === undefined) continue;
    try {
      secret(ref);
    } catch (error) {
      throw new EscrowError('config_invalid', `${path}: ${(error as Error).message}`, { cause: error });
    }
  }
}

async function checkIdentity(config: Config, baseDir: string, offline: boolean): Promise<IssuerKeyState[]> {
  const identity = await createIdentityVerifier(config.identity, { baseDir, fetchRemote: !offline });
  const states = identity.keyStates().map((k, i): IssuerKeyState => {
    const remote = !config.identity.issuers[i]?.jwks.startsWith('file:');
    return offline && remote ? { issuer: k.issuer, state: 'never_loaded', source: k.source } : k;
  });
  identity.close();
  return states;
}

export async function checkCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string' }, json: { type: 'boolean' }, offline: { type: 'boolean' } },
    strict: true,
  });
  const offline = values.offline === true;
  const { path, dev } = configPath(values.config);
  if (dev) await ensureDevMaterial(devMaterialDir());
  const { config, baseDir } = loadConfig(path);
  const secret = (ref: string) => resolveSecretRef(ref, baseDir);
  createLeaseCipher(secret(config.keys.leaseEncryption), config.keys.leaseEncryptionPrevious.map(secret));
  checkSecrets(config, secret);
  for (const adapter of (
    await createTargetAdapters(config.targets, { resolveSecret: secret, baseDir, now: Date.now })
  ).values()) {
    await adapter.close?.();
  }
  const keySets = await checkIdentity(config, baseDir, offline);
  const policy = await createPolicyEngine({ dir: resolve(baseDir, config.policies), watch: false });
  const summary = {
    config: path,
    targets: config.targets.length,
    issuers: config.identity.issuers.length,
    policySetHash: policy.policySetHash,
    policies: policy.policyCount,
  };
  policy.close();
  const unreachable = offline ? [] : keySets.filter((k) => k.state !== 'ok');
  for (const k of unreachable) {
    process.stderr.write(`escrow: identity issuer ${k.issuer}: cannot read its keys from ${k.source}: ${k.error}\n`);
  }
  const ok = unreachable.length === 0;
  const report = keySets.map((k) => ({ ...k, state: offline && k.state !== 'ok' ? 'skipped' : k.state }));
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ ok, ...summary, offline, keySets: report })}\n`);
  } else if (ok) {
    const skipped = report.filter((k) => k.state === 'skipped').length;
    const note = skipped > 0 ? ` (${skipped} remote key set(s) not fetched: --offline)` : '';
    process.stdout.write(
      `OK: ${summary.targets} target(s), ${summary.issuers} issuer(s), ${summary.policies} policies (set ${summary.policySetHash.slice(0, 12)})${note}\n`,
    );
  }
  return ok ? EXIT.ok : EXIT.failure;
}

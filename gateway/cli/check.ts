import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createAdapter } from '../../adapters/registry.js';
import { loadConfig } from '../config/load.js';
import { resolveSecretRef } from '../config/secret-ref.js';
import { ensureDevMaterial } from '../dev/material.js';
import { createIdentityVerifier } from '../identity/index.js';
import { createLeaseCipher } from '../leases/crypto.js';
import { createPolicyEngine } from '../policy/engine.js';
import { configPath, devMaterialDir } from './common.js';

export const checkHelp = `escrow check [--config FILE] [--json]

Validate without starting: the config (strict schema, secret references resolve, keys well-formed), every
target's adapter options, the identity issuers' key sets, and the policy set (strict schema validation).
Exit 0 when all is well, 2 with a message naming the offending path otherwise.`;

export async function checkCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string' }, json: { type: 'boolean' } },
    strict: true,
  });
  const { path, dev } = configPath(values.config);
  if (dev) await ensureDevMaterial(devMaterialDir());
  const { config, baseDir } = loadConfig(path);
  const secret = (ref: string) => resolveSecretRef(ref, baseDir);
  createLeaseCipher(secret(config.keys.leaseEncryption), config.keys.leaseEncryptionPrevious.map(secret));
  for (const [i, target] of config.targets.entries()) {
    await createAdapter(target.credential, {
      resolveSecret: secret,
      path: `targets[${i}].credential`,
      baseDir,
      now: Date.now,
    });
  }
  const identity = await createIdentityVerifier(config.identity, { baseDir });
  identity.close();
  const policy = await createPolicyEngine({ dir: resolve(baseDir, config.policies), watch: false });
  const summary = {
    config: path,
    targets: config.targets.length,
    issuers: config.identity.issuers.length,
    policySetHash: policy.policySetHash,
    policies: policy.policyCount,
  };
  policy.close();
  process.stdout.write(
    values.json
      ? `${JSON.stringify({ ok: true, ...summary })}\n`
      : `OK: ${summary.targets} target(s), ${summary.issuers} issuer(s), ${summary.policies} policies (set ${summary.policySetHash.slice(0, 12)})\n`,
  );
  return 0;
}

import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { ensureDevMaterial } from '../dev/material.js';
import { mintDevToken } from '../dev/token.js';
import { configPath, devMaterialDir, printer, UsageError } from './common.js';

export const tokenHelp = `escrow token dev [--config FILE] [--sub ID] [--ttl SECONDS] [--issuer NAME] [--json]

Mint a workload token signed with the config's dev signing key, for local use. Refused (exit 2) when the
config has no dev: block, i.e. any production config.`;

export async function tokenCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'dev') throw new UsageError('usage: escrow token dev [--sub ID] [--ttl SECONDS]');
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string' },
      sub: { type: 'string' },
      ttl: { type: 'string' },
      issuer: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  const { path, dev } = configPath(values.config);
  if (dev) await ensureDevMaterial(devMaterialDir());
  if (process.env.ESCROW_DEV_MATERIAL) await ensureDevMaterial(process.env.ESCROW_DEV_MATERIAL);
  const loaded = loadConfig(path);
  const token = await mintDevToken(loaded.config, loaded.baseDir, {
    ...(values.sub ? { subject: values.sub } : {}),
    ...(values.ttl ? { ttlSeconds: Number(values.ttl) } : {}),
    ...(values.issuer ? { issuer: values.issuer } : {}),
  });
  printer(values.json)({ token }, token);
  return 0;
}

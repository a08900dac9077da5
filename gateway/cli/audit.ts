import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { auditHash, auditTrace, auditVerify } from '../audit/index.js';
import { loadConfig } from '../config/load.js';
import { resolveSecretRef } from '../config/secret-ref.js';
import { createStore } from '../store/index.js';
import { configPath, UsageError } from './common.js';

export const auditHelp = `escrow audit trace <secret|fingerprint> [--file FILE] [--config FILE] [--json]
escrow audit verify [--file FILE] [--config FILE] [--json]
escrow audit hash <secret> [--config FILE]

trace:  who was given this secret, for which task and intent, by which decision and policies, when it was
        issued and revoked, and every request made with it. Reads --file (JSON lines) or the store's
        audit stream (escrow:audit in Redis).
verify: checks every writer's hash chain; exit 1 at the first edited, missing or reordered event.
hash:   the fingerprint the audit trail shows for a secret (HMAC-SHA256 under keys.auditHmac).
A secret given on the command line lands in shell history: prefer '-' to read it from standard input.`;

async function readLines(file: string | undefined, configFlag: string | undefined): Promise<string[]> {
  if (file)
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
  const { config, baseDir } = loadConfig(configPath(configFlag).path);
  const store = await createStore({
    url: config.store,
    prefix: config.storePrefix,
    timeoutMs: 5_000,
    ...(config.storePassword ? { password: resolveSecretRef(config.storePassword, baseDir) } : {}),
  });
  try {
    return [...(await store.events.readAll())];
  } finally {
    await store.close();
  }
}

function hmacKey(configFlag: string | undefined): string {
  const { config, baseDir } = loadConfig(configPath(configFlag).path);
  return resolveSecretRef(config.keys.auditHmac, baseDir);
}

function secretArg(value: string | undefined): string {
  if (value === undefined) throw new UsageError('a secret or fingerprint is required');
  return value === '-' ? readFileSync(0, 'utf8').trim() : value;
}

export async function auditCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { file: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  const json = values.json === true;
  switch (sub) {
    case 'trace': {
      const secretOrFingerprint = secretArg(positionals[0]);
      const input = await readLines(values.file, values.config);
      process.stdout.write(`${auditTrace({ input, secretOrFingerprint, hmacKey: hmacKey(values.config), json })}\n`);
      return 0;
    }
    case 'verify': {
      const input = await readLines(values.file, values.config);
      const { output, ok } = auditVerify({ input, json, allowTrimmedHead: values.file === undefined });
      process.stdout.write(`${output}\n`);
      return ok ? 0 : 1;
    }
    case 'hash':
      process.stdout.write(`${auditHash({ secret: secretArg(positionals[0]), hmacKey: hmacKey(values.config) })}\n`);
      return 0;
    default:
      throw new UsageError('usage: escrow audit trace|verify|hash');
  }
}

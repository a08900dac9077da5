import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { auditHash, auditTrace, auditVerify } from '../audit/index.js';
import { loadConfig } from '../config/load.js';
import { resolveSecretRef } from '../config/secret-ref.js';
import { type AuditSource, emptySource, readAuditSource } from './audit-source.js';
import { configPath, EXIT, UsageError } from './common.js';

export const auditHelp = `escrow audit trace <secret|fingerprint> [--file FILE|-] [--config FILE] [--json]
escrow audit verify [--file FILE|-] [--config FILE] [--json]
escrow audit hash <secret> [--config FILE]

trace:  who was given this secret, for which task and intent, by which decision and policies, when it was
        issued and revoked, and every request made with it. Reads --file (JSON lines; - for standard input) or
        the store's audit stream (escrow:audit in Redis), and names the source it read.
verify: checks every writer's hash chain and says what happened to the trail. Exit status:
        0 ok; 3 trimmed (the oldest events removed by retention); 4 gap (events lost, not changed);
        5 malformed (a line that is no audit event); 6 reordered; 7 edited; 1 nothing to verify.
        Rotated files verify together: cat audit.log.1 audit.log | escrow audit verify --file -
hash:   the fingerprint the audit trail shows for a secret (HMAC-SHA256 under keys.auditHmac).
A secret given on the command line lands in shell history: prefer '-' to read it from standard input.`;

function hmacKey(configFlag: string | undefined): string {
  const { config, baseDir } = loadConfig(configPath(configFlag).path);
  return resolveSecretRef(config.keys.auditHmac, baseDir);
}

function secretArg(value: string | undefined, file: string | undefined): string {
  if (value === undefined) throw new UsageError('a secret or fingerprint is required');
  if (value === '-' && file === '-') throw new UsageError('the secret and --file cannot both come from standard input');
  return value === '-' ? readFileSync(0, 'utf8').trim() : value;
}

function write(text: string): void {
  process.stdout.write(`${text}\n`);
}

function lines(source: AuditSource): string[] {
  return source.entries.map((entry) => entry.line).filter((line) => line.trim() !== '');
}

async function trace(positionals: string[], file: string | undefined, configFlag: string | undefined, json: boolean) {
  const secretOrFingerprint = secretArg(positionals[0], file);
  const key = hmacKey(configFlag);
  const source = await readAuditSource(file, configFlag);
  const input = lines(source);
  if (input.length === 0) {
    write(
      json
        ? JSON.stringify({ source: source.name, events: 0, note: emptySource(source) }, null, 2)
        : emptySource(source),
    );
    return EXIT.failure;
  }
  const output = auditTrace({ input, secretOrFingerprint, hmacKey: key, json });
  if (json) {
    write(JSON.stringify({ source: source.name, events: input.length, ...JSON.parse(output) }, null, 2));
  } else {
    write(`Read ${input.length} event(s) from ${source.name}.${source.caveat ? ` Note: ${source.caveat}.` : ''}\n`);
    write(output);
  }
  return EXIT.ok;
}

async function verify(file: string | undefined, configFlag: string | undefined, json: boolean) {
  const source = await readAuditSource(file, configFlag);
  if (lines(source).length === 0) {
    write(
      json
        ? JSON.stringify({ source: source.name, events: 0, note: emptySource(source) }, null, 2)
        : emptySource(source),
    );
    return EXIT.failure;
  }
  const result = auditVerify({
    input: source.entries,
    json,
    source: source.name,
    ...(source.retention ? { retention: source.retention } : {}),
  });
  write(result.output);
  return result.exitCode;
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
    case 'trace':
      return trace(positionals, values.file, values.config, json);
    case 'verify':
      return verify(values.file, values.config, json);
    case 'hash':
      write(auditHash({ secret: secretArg(positionals[0], undefined), hmacKey: hmacKey(values.config) }));
      return EXIT.ok;
    default:
      throw new UsageError('usage: escrow audit trace|verify|hash');
  }
}

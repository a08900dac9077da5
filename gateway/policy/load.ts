import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { EscrowError } from '../errors.js';
import { cedar, describeErrors, type PolicyJson } from './cedar.js';
import { type PolicyScope, scopeOf } from './scope.js';

/** One static policy as read from disk. */
export interface PolicySource {
  readonly id: string;
  /** Path relative to the policy directory. */
  readonly file: string;
  readonly text: string;
  readonly effect: 'permit' | 'forbid';
  /** The requests its scope can match (target, actions, principal types). */
  readonly scope: PolicyScope;
  /** cedar's JSON form, read to find what the policy can see of a request (usage.ts). */
  readonly json: PolicyJson;
}

/** A policy directory as read: schema text, policies in file order, and a hash over both. */
export interface PolicySetSource {
  readonly schema: string;
  readonly policies: readonly PolicySource[];
  /** SHA-256 (hex) of the schema and every policy's id and text. */
  readonly hash: string;
}

export const SCHEMA_FILE = 'schema.cedarschema';

function invalid(message: string): EscrowError {
  return new EscrowError('config_invalid', message, { reason: 'policy_invalid' });
}

async function listPolicyFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.cedar'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

function parseFile(file: string, text: string): PolicySource[] {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure') throw invalid(`${file}: ${describeErrors(parts.errors)}`);
  if (parts.policy_templates.length > 0) throw invalid(`${file}: policy templates are not supported`);
  return parts.policies.map((policyText) => {
    const json = cedar.policyToJson(policyText);
    if (json.type === 'failure') throw invalid(`${file}: ${describeErrors(json.errors)}`);
    const id = json.json.annotations?.id;
    if (id === undefined || id === '') throw invalid(`${file}: every policy needs an @id("...") annotation`);
    return { id, file, text: policyText, effect: json.json.effect, scope: scopeOf(json.json), json: json.json };
  });
}

function hashOf(schema: string, policies: readonly PolicySource[]): string {
  const hash = createHash('sha256').update(schema).update('\0');
  for (const p of [...policies].sort((a, b) => (a.id < b.id ? -1 : 1)))
    hash.update(p.id).update('\0').update(p.text).update('\0');
  return hash.digest('hex');
}

/**
 * Build a policy set from texts: `files` maps a file name to its Cedar text. Throws `config_invalid` naming the file
 * or policy id when a file does not parse, a policy lacks `@id`, or two policies share an id. Does not validate.
 */
export function parsePolicySet(schema: string, files: ReadonlyMap<string, string>): PolicySetSource {
  const policies: PolicySource[] = [];
  const seen = new Map<string, string>();
  for (const [file, text] of files) {
    for (const policy of parseFile(file, text)) {
      const other = seen.get(policy.id);
      if (other !== undefined) throw invalid(`${file}: policy id "${policy.id}" is already used in ${other}`);
      seen.set(policy.id, file);
      policies.push(policy);
    }
  }
  return { schema, policies, hash: hashOf(schema, policies) };
}

/** Read `<dir>/schema.cedarschema` and every `<dir>/**\/*.cedar` (in path order) into a policy set; see parsePolicySet. */
export async function readPolicyDir(dir: string): Promise<PolicySetSource> {
  const schema = await readFile(join(dir, SCHEMA_FILE), 'utf8').catch((cause: unknown) => {
    throw new EscrowError('config_invalid', `${SCHEMA_FILE}: cannot be read in ${dir}`, {
      cause,
      reason: 'policy_invalid',
    });
  });
  const files = new Map<string, string>();
  for (const path of await listPolicyFiles(dir)) files.set(relative(dir, path), await readFile(path, 'utf8'));
  return parsePolicySet(schema, files);
}

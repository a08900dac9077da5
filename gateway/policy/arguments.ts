import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import { EscrowError } from '../errors.js';
import { isObject } from '../json.js';
import { cedar, describeErrors } from './cedar.js';

/** A Cedar type an MCP argument can be declared with in the schema (entity types cannot: arguments are data). */
export type ArgumentType =
  | { readonly kind: 'String' | 'Long' | 'Bool' }
  | { readonly kind: 'extension'; readonly name: string }
  | { readonly kind: 'Set'; readonly element: ArgumentType }
  | RecordType;

export interface RecordType {
  readonly kind: 'Record';
  readonly attributes: ReadonlyMap<string, { readonly type: ArgumentType; readonly required: boolean }>;
}

/** What the schema declares policies may read of tool and prompt arguments (`McpArguments`, `McpPromptArguments`). */
export interface DeclaredArguments {
  readonly tool: RecordType;
  readonly prompt: RecordType;
}

const EMPTY: RecordType = { kind: 'Record', attributes: new Map() };
export const NO_ARGUMENTS: DeclaredArguments = { tool: EMPTY, prompt: EMPTY };
const EXTENSIONS = new Set(['decimal', 'ipaddr', 'datetime', 'duration']);

interface SchemaNode {
  type?: string;
  name?: string;
  element?: SchemaNode;
  attributes?: Record<string, SchemaNode>;
  required?: boolean;
}

function invalid(message: string): EscrowError {
  return new EscrowError('config_invalid', `schema.cedarschema: ${message}`, { reason: 'policy_invalid' });
}

function resolve(node: SchemaNode, common: Record<string, SchemaNode>, path: string, depth: number): ArgumentType {
  if (depth > 32) throw invalid(`${path}: the type nests too deep`);
  const raw = node.type === 'EntityOrCommon' ? (node.name ?? '') : (node.type ?? '');
  const type = raw.replace(/^__cedar::/, '');
  if (type === 'String' || type === 'Long') return { kind: type };
  if (type === 'Bool' || type === 'Boolean') return { kind: 'Bool' };
  if (EXTENSIONS.has(type)) return { kind: 'extension', name: type };
  if (type === 'Set') return { kind: 'Set', element: resolve(node.element ?? {}, common, `${path}[]`, depth + 1) };
  if (type === 'Record') {
    const attributes = new Map<string, { type: ArgumentType; required: boolean }>();
    for (const [name, child] of Object.entries(node.attributes ?? {})) {
      attributes.set(name, {
        type: resolve(child, common, `${path}.${name}`, depth + 1),
        required: child.required !== false,
      });
    }
    return { kind: 'Record', attributes };
  }
  const named = common[type.replace(/^Escrow::/, '')];
  if (type !== 'Entity' && named !== undefined) return resolve(named, common, path, depth + 1);
  throw invalid(`${path}: arguments can be String, Long, Bool, decimal, ipaddr, datetime, duration, sets and records`);
}

function recordOf(common: Record<string, SchemaNode>, name: string): RecordType {
  const node = common[name];
  if (node === undefined) return EMPTY;
  const type = resolve(node, common, name, 0);
  if (type.kind !== 'Record') throw invalid(`${name} must be a record type`);
  return type;
}

/**
 * Read the declared argument types from the schema text. A schema without them declares none (policies then see
 * no argument values). Throws `config_invalid` for a type arguments cannot have.
 */
export function declaredArguments(schema: string): DeclaredArguments {
  const answer = cedar.schemaToJsonWithResolvedTypes(schema);
  if (answer.type === 'failure') throw invalid(describeErrors(answer.errors));
  const namespace = (answer.json as Record<string, { commonTypes?: Record<string, SchemaNode> }>).Escrow;
  const common = namespace?.commonTypes ?? {};
  return { tool: recordOf(common, 'McpArguments'), prompt: recordOf(common, 'McpPromptArguments') };
}

function mismatch(path: string, expected: string): RangeError {
  return new RangeError(`argument ${path} is not a ${expected}`);
}

/**
 * One JSON value as the Cedar value of its declared type. Nothing is coerced: a string is not a Long, a float is not
 * a Long, an integer beyond 2^53 is refused (JSON readers disagree on it). Throws a RangeError naming the path (no
 * value), which denies the call.
 */
export function toCedarValue(value: unknown, type: ArgumentType, path: string): CedarValueJson {
  switch (type.kind) {
    case 'String':
      if (typeof value !== 'string') throw mismatch(path, 'String');
      return value;
    case 'Long':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw mismatch(path, 'Long');
      return value;
    case 'Bool':
      if (typeof value !== 'boolean') throw mismatch(path, 'Bool');
      return value;
    case 'extension':
      // Cedar checks the text itself (`decimal("1.5")`): a malformed one fails the evaluation, which denies.
      if (typeof value !== 'string') throw mismatch(path, type.name);
      return { __extn: { fn: type.name === 'ipaddr' ? 'ip' : type.name, arg: value } };
    case 'Set':
      if (!Array.isArray(value)) throw mismatch(path, 'Set');
      return value.map((item, i) => toCedarValue(item, type.element, `${path}[${i}]`));
    case 'Record':
      return toCedarRecord(value, type, path);
    default: {
      const never: never = type;
      throw new RangeError(`unknown argument type ${JSON.stringify(never)}`);
    }
  }
}

/** The declared members of a JSON object; a JSON `null` counts as absent. Undeclared members are left out. */
export function toCedarRecord(value: unknown, type: RecordType, path: string): Record<string, CedarValueJson> {
  if (!isObject(value)) throw mismatch(path, 'record');
  const out: Record<string, CedarValueJson> = {};
  for (const [name, { type: member, required }] of type.attributes) {
    const item = Object.hasOwn(value, name) ? value[name] : undefined;
    if (item === undefined || item === null) {
      if (required) throw new RangeError(`argument ${path === '' ? name : `${path}.${name}`} is required`);
      continue;
    }
    out[name] = toCedarValue(item, member, path === '' ? name : `${path}.${name}`);
  }
  return out;
}

/**
 * Renders the key reference of docs/configuration.md from the config schema alone, so it cannot drift from the code:
 *
 *   npm run docs:config
 *
 * Every row comes from `z.toJSONSchema(configSchema)`: the key's path, its type and allowed values, its default or
 * "required", and its description, which is the key's `.describe()` text in gateway/config/ (or in the schema
 * module a key comes from: gateway/mcp/config.ts, gateway/postgres/config.ts). Nothing in the reference is written
 * by hand; the prose around it is, outside the BEGIN/END markers. test/docs/config-reference.test.ts fails when the
 * committed page differs from what this renders, and when a key has no description.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { configSchema } from '../gateway/config/schema.js';

/** The page the reference lives in, and the markers around the generated part. */
export const PAGE = resolve(import.meta.dirname, '../docs/configuration.md');
export const BEGIN =
  '<!-- BEGIN config-reference: generated from the config schema by `npm run docs:config`; do not edit by hand -->';
export const END = '<!-- END config-reference -->';

/** The part of a JSON Schema (draft 2020-12) this page reads. */
export interface Json {
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
}

/** One key of the reference. */
export interface Row {
  readonly path: string;
  readonly type: string;
  readonly fallback: string;
  readonly description: string;
  /** No keys below it: a scalar, a list of scalars, or a map. */
  readonly leaf: boolean;
}

/** The config schema as JSON Schema, as a config file is written (defaults make a key optional). */
export function configJsonSchema(): Json {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Json;
}

const code = (value: unknown) => `\`${JSON.stringify(value)}\``;

/** The pattern of a secret reference and of a listen address, as the schema states them. */
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
export function rows(schema: Json, path = '', required = false): Row[] {
  const out: Row[] = [];
  const object = schema.items?.properties ? schema.items : schema;
  const keys = Object.entries(object.properties ?? {});
  if (path) {
    out.push({
      path,
      type: typeOf(schema),
      fallback: fallback(schema, required),
      description: schema.description ?? '',
      leaf: keys.length === 0,
    });
  }
  const prefix = object === schema.items ? `${path}[]` : path;
  for (const [key, child] of keys) {
    out.push(...rows(child, prefix ? `${prefix}.${key}` : key, object.required?.includes(key) ?? false));
  }
  return out;
}

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

function table(list: readonly Row[]): string {
  const lines = ['| key | type | default | description |', '|---|---|---|---|'];
  for (const r of list) lines.push(`| \`${r.path}\` | ${r.type} | ${r.fallback} | ${cell(r.description)} |`);
  return lines.join('\n');
}

/** The generated reference: top-level scalars first, then one section per top-level object or list. */
export function renderReference(schema: Json = configJsonSchema()): string {
  const all = rows(schema);
  const top = Object.keys(schema.properties ?? {});
  const isSection = (key: string) => {
    const s = schema.properties?.[key];
    return Boolean(s?.properties || s?.items?.properties);
  };
  const parts = ['## Top-level keys', '', table(all.filter((r) => top.includes(r.path) && !isSection(r.path)))];
  for (const key of top.filter(isSection)) {
    const section = all.filter((r) => r.path === key || r.path.startsWith(`${key}.`) || r.path.startsWith(`${key}[]`));
    parts.push('', `## \`${key}\``, '', table(section));
  }
  return parts.join('\n');
}

/** `page` with the text between its markers replaced by the reference rendered now. */
export function renderPage(page: string): string {
  const begin = page.indexOf(BEGIN);
  const end = page.indexOf(END);
  if (begin === -1 || end < begin) throw new Error(`docs/configuration.md: the markers ${BEGIN} … ${END} are missing`);
  return `${page.slice(0, begin + BEGIN.length)}\n\n${renderReference()}\n\n${page.slice(end)}`;
}

/** Keys without a `.describe()` text (the test fails on these). */
export function undescribedKeys(schema: Json = configJsonSchema()): string[] {
  return rows(schema)
    .filter((r) => r.description.trim() === '')
    .map((r) => r.path);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const before = readFileSync(PAGE, 'utf8');
  const after = renderPage(before);
  if (after !== before) writeFileSync(PAGE, after);
  process.stdout.write(`docs/configuration.md: reference ${after === before ? 'unchanged' : 'updated'}\n`);
}

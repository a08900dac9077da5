import type { Json } from './canonical.js';

/** One audit event as read back from a sink. */
export type AuditRecord = { readonly [key: string]: Json };

/** The event on one line, or undefined when the line is not a JSON object. */
export function parseLine(line: string): AuditRecord | undefined {
  try {
    const value: unknown = JSON.parse(line);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as AuditRecord;
  } catch {
    // Not JSON.
  }
  return undefined;
}

export function stringField(record: AuditRecord, key: string): string | undefined {
  const value = record[key];
  return typeof value === 'string' ? value : undefined;
}

export function objectField(record: AuditRecord, key: string): AuditRecord | undefined {
  const value = record[key];
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as AuditRecord) : undefined;
}

export function stringsField(record: AuditRecord, key: string): readonly string[] | undefined {
  const value = record[key];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : undefined;
}

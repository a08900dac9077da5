import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import type { RecordedRequest } from '../support/upstream.js';

const EXAMPLE_CONFIG = resolve(import.meta.dirname, '../../examples/agents/escrow.yaml');

/** A target entry exactly as examples/agents/escrow.yaml documents it, with `upstream` pointed at a local server. */
export function exampleTarget(name: string, upstream: string): Record<string, unknown> {
  const config = parse(readFileSync(EXAMPLE_CONFIG, 'utf8')) as { targets: Record<string, unknown>[] };
  const target = config.targets.find((t) => t.name === name);
  if (!target) throw new Error(`examples/agents/escrow.yaml has no target ${name}`);
  return { ...target, upstream };
}

/** Everything an upstream received, as one string: headers (raw, so nothing is folded away), URL and body. */
export function seenBytes(req: RecordedRequest): string {
  return `${req.method} ${req.url}\n${req.rawHeaders.join('\n')}\n${req.body.toString()}`;
}

import { Counter, type Registry } from 'prom-client';
import type { DecisionEffect } from '../domain.js';
import { KNOWN_METHODS } from './calls.js';

/**
 * MCP's metrics (docs/mcp.md, "Metrics"), on the gateway's registry. Every label is bounded: `target` from config,
 * `method` from the protocol's method list (else `other`), `tool` from the target's `mcp.toolLabels` (else `other`),
 * `reason` and `list` from code. A tool name the agent sends never becomes a label by itself.
 */
export interface McpMetrics {
  call(target: string, method: string, tool: string, decision: DecisionEffect): void;
  refused(target: string, reason: McpRefusal): void;
  hidden(target: string, list: string, count: number): void;
}

export const MCP_REFUSALS = [
  'parse_error',
  'invalid_request',
  'too_deep',
  'duplicate_member',
  'batch_not_allowed',
  'batch_too_large',
  'unknown_method',
  'invalid_params',
  'header_mismatch',
  'unsupported_version',
  'session_unknown',
  'session_foreign',
  'session_conflict',
  'list_unreadable',
] as const;
export type McpRefusal = (typeof MCP_REFUSALS)[number];

/** The `method` label: a known method, `response` (an answer to the server), `GET`/`DELETE`, or `other`. */
export function methodLabel(method: string): string {
  if (method === '') return 'response';
  return KNOWN_METHODS.has(method) || method === 'GET' || method === 'DELETE' ? method : 'other';
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

/** The MCP metrics on `registry`; the series of `targets` (MCP target names) start at 0 (see metrics.ts). */
export function createMcpMetrics(registry: Registry, targets: readonly string[] = []): McpMetrics {
  const calls = counter(registry, 'escrow_mcp_calls_total', 'MCP JSON-RPC calls by target, method, tool and decision', [
    'target',
    'method',
    'tool',
    'decision',
  ]);
  const refused = counter(registry, 'escrow_mcp_refused_total', 'MCP requests refused before any decision', [
    'target',
    'reason',
  ]);
  const hidden = counter(registry, 'escrow_mcp_list_items_hidden_total', 'Items filtered out of MCP list answers', [
    'target',
    'list',
  ]);
  for (const target of targets) for (const reason of MCP_REFUSALS) refused.inc({ target, reason }, 0);
  return {
    call: (target, method, tool, decision) => calls.inc({ target, method: methodLabel(method), tool, decision }),
    refused: (target, reason) => refused.inc({ target, reason }),
    hidden: (target, list, count) => {
      if (count > 0) hidden.inc({ target, list }, count);
    },
  };
}

import { z } from 'zod';

/** The MCP protocol revisions Escrow reads: the current one (stateless) and the session-era ones before it. */
export const MODERN_VERSIONS = ['2026-07-28'] as const;
export const LEGACY_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26'] as const;
export const SUPPORTED_VERSIONS: readonly string[] = [...MODERN_VERSIONS, ...LEGACY_VERSIONS];

/**
 * `targets[].mcp`: how Escrow reads the JSON-RPC of an MCP target (`protocol: mcp`). Every bound is checked before
 * anything is sent upstream; see docs/mcp.md.
 */
export const mcpTargetSchema = z.strictObject({
  maxBodyBytes: z
    .number()
    .int()
    .positive()
    .max(64 * 1024 * 1024)
    .default(1024 * 1024)
    .describe('Largest JSON-RPC request body read (and authorized) before forwarding.'),
  maxBatch: z
    .number()
    .int()
    .positive()
    .max(1_000)
    .default(32)
    .describe('Most calls in one JSON-RPC batch (only protocol 2025-03-26 has batches).'),
  maxDepth: z
    .number()
    .int()
    .min(4)
    .max(256)
    .default(32)
    .describe('Deepest nesting of arrays and objects in a request body (tool arguments included).'),
  maxListBytes: z
    .number()
    .int()
    .positive()
    .max(64 * 1024 * 1024)
    .default(4 * 1024 * 1024)
    .describe(
      'Largest list answer (tools/list, …) held to be filtered, and largest SSE event read on a filtered stream.',
    ),
  auditArguments: z
    .boolean()
    .default(false)
    .describe('Put argument values in `mcp.call` audit events (names are always there).'),
  toolLabels: z
    .array(z.string().min(1).max(128))
    .max(200)
    .default([])
    .describe(
      'Tool names that get their own `tool` label in `escrow_mcp_calls_total`; every other tool counts as `other`.',
    ),
  protocolVersions: z
    .array(z.enum([...MODERN_VERSIONS, ...LEGACY_VERSIONS]))
    .min(1)
    .default([...SUPPORTED_VERSIONS] as ('2026-07-28' | '2025-11-25' | '2025-06-18' | '2025-03-26')[])
    .describe('Protocol revisions accepted in `MCP-Protocol-Version` (a request without the header is 2025-03-26).'),
});

export type McpTargetConfig = z.output<typeof mcpTargetSchema>;

/** The `mcp` block a target gets when its config has none. */
export const DEFAULT_MCP: McpTargetConfig = mcpTargetSchema.parse({});

/** Cross-field rules of a target with `protocol: mcp`, as zod issues that name the path. */
export function checkMcpTarget(
  target: { protocol: string; mcp?: unknown; websocket: boolean },
  ctx: { addIssue(issue: { code: 'custom'; path: string[]; message: string }): void },
): void {
  if (target.mcp !== undefined && target.protocol !== 'mcp') {
    ctx.addIssue({ code: 'custom', path: ['mcp'], message: 'needs protocol: mcp' });
  }
  if (target.protocol === 'mcp' && target.websocket) {
    ctx.addIssue({ code: 'custom', path: ['websocket'], message: 'an MCP target takes no protocol upgrades' });
  }
}

import type { CedarValueJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { Action } from '../domain.js';
import { type DeclaredArguments, type RecordType, toCedarRecord } from './arguments.js';
import type { McpFacts } from './types.js';

function argumentsOf(facts: McpFacts, declared: RecordType): Record<string, CedarValueJson> {
  const names = Object.keys(facts.arguments ?? {}).sort();
  return {
    arguments: toCedarRecord(facts.arguments ?? {}, declared, ''),
    argumentNames: names,
  };
}

/**
 * `context.mcp` for one MCP call, shaped as the schema declares it for `action`: every action has method, kind and
 * protocolVersion; `callTool` adds the tool and its arguments, `getPrompt` the prompt and its arguments,
 * `readResource` the URI. Throws a RangeError when a declared argument does not have its type (the call is denied).
 */
export function mcpContext(action: Action, facts: McpFacts, declared: DeclaredArguments): CedarValueJson {
  const base: Record<string, CedarValueJson> = {
    method: facts.method,
    kind: facts.kind,
    protocolVersion: facts.protocolVersion,
  };
  const name = facts.name ?? '';
  switch (action) {
    case 'callTool':
      return { ...base, tool: name, ...argumentsOf(facts, declared.tool) };
    case 'getPrompt':
      return { ...base, prompt: name, ...argumentsOf(facts, declared.prompt) };
    case 'readResource':
      return { ...base, resource: name };
    default:
      return base;
  }
}

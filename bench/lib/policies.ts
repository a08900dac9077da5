import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** How the generated set is made up (written into RESULTS.md beside the numbers). */
export const GENERATED_MIX =
  '200 generated + the 10 examples: 150 scoped to 30 other targets (`resource == Escrow::Target::"svc-N"`), ' +
  "25 scoped to the bench target, 25 unscoped (every target's slice holds them); the bench target's slice " +
  'evaluates 60 policies';

function otherTarget(i: number): string {
  const t = `svc-${i % 30}`;
  return i % 2 === 0
    ? `@id("gen-${i}")\npermit (principal is Escrow::Agent, action == Escrow::Action::"read", resource == Escrow::Target::"${t}")\nwhen { context has task && context.task.targets.contains("${t}") && context.request.path like "/v${i}/*" };\n`
    : `@id("gen-${i}")\nforbid (principal, action in [Escrow::Action::"write", Escrow::Action::"delete"], resource == Escrow::Target::"${t}")\nwhen { context.time.hourUtc == ${i % 24} && context.request.path like "/batch-${i}/*" };\n`;
}

function benchTarget(i: number): string {
  return i % 2 === 0
    ? `@id("gen-${i}")\nforbid (principal, action, resource == Escrow::Target::"bench")\nwhen { context.request.path like "/admin-${i}/*" };\n`
    : `@id("gen-${i}")\nforbid (principal is Escrow::Agent, action == Escrow::Action::"write", resource == Escrow::Target::"bench")\nwhen { context has task && context.task.intent like "*forbidden-${i}*" };\n`;
}

function anyTarget(i: number): string {
  return i % 2 === 0
    ? `@id("gen-${i}")\nforbid (principal, action, resource is Escrow::Target)\nwhen { context.request.path like "/internal-${i}/*" };\n`
    : `@id("gen-${i}")\nforbid (principal is Escrow::Agent, action, resource is Escrow::Target)\nwhen { principal has trustDomain && principal.trustDomain == "blocked-${i}.example" };\n`;
}

/** The text of 200 generated policies, one file per ten. */
export function generatedPolicies(): Record<string, string> {
  const texts: string[] = [];
  for (let i = 0; i < 150; i += 1) texts.push(otherTarget(i));
  for (let i = 150; i < 175; i += 1) texts.push(benchTarget(i));
  for (let i = 175; i < 200; i += 1) texts.push(anyTarget(i));
  const files: Record<string, string> = {};
  for (let f = 0; f < texts.length / 10; f += 1) {
    files[`generated-${String(f).padStart(2, '0')}.cedar`] = texts.slice(f * 10, f * 10 + 10).join('\n');
  }
  return files;
}

/** A policy directory: the repository's schema and example policies, plus `extra` files. */
export function writePolicyDir(dir: string, repoPolicies: string, extra: Record<string, string> = {}): void {
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(repoPolicies)) {
    if (name.endsWith('.cedar') || name.endsWith('.cedarschema'))
      copyFileSync(join(repoPolicies, name), join(dir, name));
  }
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(dir, name), text);
}

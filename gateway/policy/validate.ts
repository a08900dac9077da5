import { approvalRule } from '../approvals/annotations.js';
import { cedar, describeErrors } from './cedar.js';
import { type PolicySetSource, SCHEMA_FILE } from './load.js';

/** The policies as cedar-wasm wants them: a record keyed by id, so decisions name policies by their `@id`. */
export function policyRecord(policies: PolicySetSource['policies']): Record<string, string> {
  const record: Record<string, string> = {};
  for (const p of policies) record[p.id] = p.text;
  return record;
}

/**
 * Strict validation against the schema. Returns one message per problem, each naming the file and policy id; empty
 * when the set is valid. cedar-wasm answers `success` even when it found errors, so the list is what counts.
 */
export function validatePolicySet(source: PolicySetSource): string[] {
  const schemaCheck = cedar.checkParseSchema(source.schema);
  if (schemaCheck.type === 'failure') return [`${SCHEMA_FILE}: ${describeErrors(schemaCheck.errors)}`];
  const answer = cedar.validate({
    schema: source.schema,
    policies: { staticPolicies: policyRecord(source.policies) },
    validationSettings: { mode: 'strict' },
  });
  if (answer.type === 'failure') return answer.errors.map((e) => e.message);
  const fileOf = new Map(source.policies.map((p) => [p.id, p.file]));
  return [
    ...answer.validationErrors.map((e) => `${fileOf.get(e.policyId) ?? '?'} (${e.policyId}): ${e.error.message}`),
    ...annotationErrors(source),
  ];
}

/** `@approval…` annotations that mean nothing (gateway/approvals/annotations.ts): refused like any policy error. */
function annotationErrors(source: PolicySetSource): string[] {
  return source.policies.flatMap((p) =>
    approvalRule({ id: p.id, effect: p.effect, annotations: p.json.annotations ?? {} }).problems.map(
      (problem) => `${p.file} (${p.id}): ${problem}`,
    ),
  );
}

/**
 * The one import of cedar-wasm. The package root fails under Node (LIBRARY-FACTS.md), so every policy module goes
 * through here.
 */

export type {
  AuthorizationAnswer,
  DetailedError,
  EntityJson,
  PolicyJson,
  StatefulAuthorizationCall,
} from '@cedar-policy/cedar-wasm/nodejs';
export * as cedar from '@cedar-policy/cedar-wasm/nodejs';

/** A cedar-wasm error list as one line of text (messages only: cedar never sees a secret). */
export function describeErrors(errors: readonly { message: string }[]): string {
  return errors.map((e) => e.message).join('; ');
}

/**
 * The one import of cedar-wasm. The package root fails under Node (LIBRARY-FACTS.md), so every policy module goes
 * through here.
 */
import { setFlagsFromString } from 'node:v8';

// Node 20's V8 crashes the whole process ("Fatal error … unreachable code" in Deoptimizer::
// DoComputeBuiltinContinuation) when an optimised function with an inlined JS→Wasm call is lazily deoptimised while
// cedar-wasm calls back into JSON.parse. Measured here: a property test over generated policies hit it within ~6,000
// calls. Turning that inlining off before any caller is optimised removes the crash (test/policy/v8-wasm-deopt.test.ts).
setFlagsFromString('--no-turbo-inline-js-wasm-calls');

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

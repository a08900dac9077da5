import fc from 'fast-check';
// Loading undici installs its Agent as the global dispatcher that `fetch` uses, unless one is installed already.
// Load it first in every worker, so that `fetch` behaves the same whichever test file a shared worker ran before
// (Node's bundled undici refuses a `connection: x-api-key` header that undici 7 drops).
import 'undici';

// In CI, property tests run with a fixed seed so that a run is reproducible (a failure prints its
// counterexample and fails every time). Locally each run draws a new seed and explores further.
if (process.env.CI) fc.configureGlobal({ seed: 20261129 });

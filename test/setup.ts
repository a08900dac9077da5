import fc from 'fast-check';

// In CI, property tests run with a fixed seed so that a run is reproducible (a failure prints its
// counterexample and fails every time). Locally each run draws a new seed and explores further.
if (process.env.CI) fc.configureGlobal({ seed: 20261129 });

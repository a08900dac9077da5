import { defineConfig } from 'vitest/config';

const ALL = ['test/**/*.test.ts', 'adapters/**/*.test.ts', 'gateway/**/*.test.ts'];

/**
 * Test files kept out of the `fast` project (`npm run test:fast`, the edit loop) and run only by the full suite
 * (`npm test`, which CI runs through .ci/run): multi-process, soak, crash-replay, outage, deploy and docs tests,
 * PostgreSQL clusters, and every file that took more than ~5 s on two cores. A new file lands in `fast` unless it
 * matches here, except in test/reliability, where only the listed in-process files are fast.
 */
const SLOW = [
  // Reliability: processes killed and restarted, Redis/Sentinel/JWKS outages, soak, floods, signals.
  'test/reliability/!(circuit-breaker|pool-queue).test.ts',
  'test/replicas/**/*.test.ts',
  'test/cluster/**/*.test.ts',
  'test/performance/**/*.test.ts',
  'test/deploy/**/*.test.ts',
  'test/docs/**/*.test.ts',
  'test/postgres/scram-cluster.test.ts',
  'test/postgres/replicas.test.ts',
  // Single files measured at 5–20 s each (spawned CLIs, wall-clock lease expiry, statistical timing, V8 replay).
  'test/approvals/processes.test.ts',
  'test/approvals/deciders.test.ts',
  'test/approvals/policy.test.ts',
  'test/audit/trace-source.test.ts',
  'test/identity/check-fetches-keys.test.ts',
  'test/leases/mass-expiry.test.ts',
  'test/leases/renewal.test.ts',
  'test/policy/v8-wasm-deopt.test.ts',
  'test/security/admin-access.test.ts',
  'test/unit/policy/slicing.test.ts',
  'test/unit/proxy/oracle.test.ts',
  'test/unit/v8-memory.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    setupFiles: ['test/setup.ts'],
    reporters: ['default', 'json'],
    outputFile: { json: 'dist/test-results.json' },
    // `vitest run` runs both projects (the full suite); `vitest run --project fast` runs the edit loop alone.
    projects: [
      // The fast files share a worker's module cache (isolate: false): loading the gateway, cedar-wasm and undici
      // once per worker instead of once per file cut the CPU time of these files by about 70%. They start their
      // own servers on port 0 and keep no global state; vi.useFakeTimers is undone in an afterEach.
      { extends: true, test: { name: 'fast', include: ALL, exclude: SLOW, isolate: false } },
      { extends: true, test: { name: 'slow', include: SLOW } },
    ],
  },
});

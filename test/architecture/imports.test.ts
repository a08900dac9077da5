import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findCycles, importGraph, importsOutside, sourceFiles } from './import-graph.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Shared leaf modules: everything may import them, they import nothing of Escrow's but each other. A leaf that
 * reached up (errors.ts importing the pipeline, say) would tie every module to everything above it.
 */
const LEAVES = [
  'gateway/domain.ts',
  'gateway/errors.ts',
  'gateway/ids.ts',
  'gateway/log.ts',
  'gateway/metric-labels.ts',
  'gateway/secret.ts',
];

/**
 * Metrics read their bounded label sets from the leaf `metric-labels.ts`; the modules that count import
 * `metrics.ts`, never the reverse (it once imported the revoker, the limits and the forwarder for their labels).
 */
const METRICS = 'gateway/metrics.ts';

const files = sourceFiles(root, ['gateway', 'adapters']);
const graph = importGraph(root, files);

describe('the import graph of gateway/ and adapters/', () => {
  it('has no cycle, type-only imports and re-exports included', () => {
    const cycles = findCycles(graph).map((cycle) => cycle.join(' → '));
    expect(cycles, `import cycles:\n${cycles.join('\n')}`).toEqual([]);
  });

  it('keeps the shared leaf modules leaves', () => {
    for (const leaf of LEAVES) expect(files, `${leaf} is listed as a leaf but does not exist`).toContain(leaf);
    const upward = importsOutside(graph, LEAVES, new Set(LEAVES)).map(([from, to]) => `${from} imports ${to}`);
    expect(upward, upward.join('\n')).toEqual([]);
  });

  it('has metrics import only leaves', () => {
    const upward = importsOutside(graph, [METRICS], new Set(LEAVES)).map(([from, to]) => `${from} imports ${to}`);
    expect(upward, upward.join('\n')).toEqual([]);
  });
});

describe('the import graph check', () => {
  const fake = (sources: Record<string, string>) =>
    importGraph('', Object.keys(sources), (file) => sources[file] ?? '');

  it('finds a cycle made only of type imports and re-exports, and names it', () => {
    const graph = fake({
      'a.ts': "import type { B } from './b.js';",
      'b.ts': "export { c } from './c.js';",
      'c.ts': "import { type A } from './a.js';",
      'd.ts': "import './a.js';",
    });
    expect(findCycles(graph)).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
  });

  it('finds an import that leaves the leaves', () => {
    const graph = fake({ 'leaf.ts': "import type { X } from './dir/index.js';", 'dir/index.ts': '' });
    expect(importsOutside(graph, ['leaf.ts'], new Set(['leaf.ts']))).toEqual([['leaf.ts', 'dir/index.ts']]);
  });

  it('refuses an import it cannot resolve instead of leaving it out', () => {
    expect(() => fake({ 'a.ts': "import './missing.js';" })).toThrow(/cannot resolve/);
  });
});

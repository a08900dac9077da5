import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import ts from 'typescript';

/** Module → the modules it imports, as paths relative to the repository root (`gateway/errors.ts`). */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

/** Every `.ts` source file below `dirs` (tests and declaration files left out), relative to `root`. */
export function sourceFiles(root: string, dirs: readonly string[]): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return walk(path);
      const source = entry.name.endsWith('.ts') && !/\.(test|d)\.ts$/.test(entry.name);
      return source ? [path] : [];
    });
  return dirs.flatMap(walk).sort();
}

/**
 * The import graph of `files`, read with TypeScript's own pre-processor: `import`, `import type`,
 * `export … from` and `import()` all count, because a type-only cycle still ties two modules together.
 * Only relative specifiers are followed; packages and `node:` modules are outside the graph.
 */
export function importGraph(root: string, files: readonly string[], read = defaultReader(root)): ImportGraph {
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(read(file), true, true);
    const targets = importedFiles
      .map((ref) => ref.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => resolve(file, spec, known));
    graph.set(file, [...new Set(targets)].sort());
  }
  return graph;
}

function defaultReader(root: string): (file: string) => string {
  return (file) => readFileSync(join(root, file), 'utf8');
}

/** NodeNext specifiers name the emitted `.js`; the source is the `.ts` beside it. */
function resolve(from: string, spec: string, known: ReadonlySet<string>): string {
  const base = normalize(join(dirname(from), spec)).replace(/\.js$/, '');
  const found = [`${base}.ts`, join(base, 'index.ts')].find((candidate) => known.has(candidate));
  if (found === undefined) throw new Error(`${from}: cannot resolve import '${spec}'`);
  return found;
}

/**
 * One cycle per strongly connected component of the graph (Tarjan), each written as the path that closes it:
 * `[a, b, c, a]`. An empty list means the graph is acyclic.
 */
export function findCycles(graph: ImportGraph): string[][] {
  return stronglyConnected(graph)
    .filter((component) => component.length > 1 || (graph.get(component[0] ?? '') ?? []).includes(component[0] ?? ''))
    .map((component) => cycleWithin(graph, new Set(component)));
}

function stronglyConnected(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node) ?? 0);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) visit(next);
      if (onStack.has(next)) low.set(node, Math.min(low.get(node) ?? 0, low.get(next) ?? 0));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
      onStack.delete(top);
      component.push(top);
      if (top === node) break;
    }
    components.push(component.sort());
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return components;
}

/** The shortest path from the component's first module back to itself, staying inside the component. */
function cycleWithin(graph: ImportGraph, component: ReadonlySet<string>): string[] {
  const [start] = [...component].sort();
  if (start === undefined) return [];
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let node = queue.shift(); node !== undefined; node = queue.shift()) {
    for (const next of graph.get(node) ?? []) {
      if (!component.has(next)) continue;
      if (next === start) return [...pathTo(node, cameFrom, start), start];
      if (cameFrom.has(next)) continue;
      cameFrom.set(next, node);
      queue.push(next);
    }
  }
  return [start];
}

function pathTo(node: string, cameFrom: ReadonlyMap<string, string>, start: string): string[] {
  const path = [node];
  for (let at = node; at !== start; ) {
    at = cameFrom.get(at) ?? start;
    path.unshift(at);
  }
  return path;
}

/** `[from, to]` for every import of a module in `modules` that leaves `allowed`. */
export function importsOutside(
  graph: ImportGraph,
  modules: readonly string[],
  allowed: ReadonlySet<string>,
): [string, string][] {
  return modules.flatMap((from) =>
    (graph.get(from) ?? []).filter((to) => !allowed.has(to)).map((to): [string, string] => [from, to]),
  );
}

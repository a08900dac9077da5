/**
 * Objects alive in a V8 heap snapshot, counted by constructor (or type): what a running Escrow holds at one moment,
 * e.g. how many exchanges outlive their request. Run: npx tsx bench/lib/snapshot-counts.ts <file.heapsnapshot> [top]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

const [file, top] = process.argv.slice(2);
if (!file) throw new Error('usage: snapshot-counts.ts <file.heapsnapshot> [top]');
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
const counts = new Map<string, { n: number; bytes: number }>();
for (let i = 0; i < snap.nodes.length; i += fields.length) {
  const type = types[snap.nodes[i + typeAt!]!]!;
  const name = type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + nameAt!]!]! : `(${type})`;
  const key = type === 'closure' ? `closure ${name}` : name;
  const seen = counts.get(key) ?? { n: 0, bytes: 0 };
  seen.n += 1;
  seen.bytes += snap.nodes[i + sizeAt!]!;
  counts.set(key, seen);
}
for (const [name, { n, bytes }] of [...counts].sort((a, b) => b[1].n - a[1].n).slice(0, Number(top ?? 60))) {
  process.stdout.write(`${String(n).padStart(8)} ${String(bytes).padStart(10)}  ${name}\n`);
}

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../gateway/config/load.js';
import { storeTopology } from '../../gateway/store/topology.js';

const root = resolve(import.meta.dirname, '../..');

// biome-ignore lint/suspicious/noExplicitAny: rendered YAML, inspected by path in this file only
type Doc = Record<string, any>;

/** `kubectl kustomize DIR`, or undefined where kubectl is not installed. */
function render(dir: string): Doc[] | undefined {
  const out = spawnSync('kubectl', ['kustomize', resolve(root, dir)], { encoding: 'utf8', timeout: 60_000 });
  if (out.error) return undefined;
  if (out.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${out.stderr}`);
  return parseAllDocuments(out.stdout).map((d) => d.toJS() as Doc);
}

/**
 * Wrap `value` so that reading it records which keys were read. The kubernetes-models validators are the
 * Kubernetes OpenAPI schemas compiled: they read every property the schema knows and enumerate only maps
 * (labels, data). A key never read is one the schema does not know — a typo Kubernetes would drop or refuse.
 */
function tracked(value: unknown, path: string, seen: Map<string, { value: Doc; read: Set<string>; map: boolean }>) {
  if (value === null || typeof value !== 'object') return value;
  const entry = { value: value as Doc, read: new Set<string>(), map: false };
  seen.set(path, entry);
  const children = new Map<string, unknown>();
  return new Proxy(value as Doc, {
    get(target, key, receiver) {
      const child = Reflect.get(target, key, receiver);
      if (typeof key !== 'string') return child;
      entry.read.add(key);
      if (child === null || typeof child !== 'object') return child;
      if (!children.has(key)) children.set(key, tracked(child, `${path}.${key}`, seen));
      return children.get(key);
    },
    has(target, key) {
      entry.read.add(String(key));
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      entry.map = true;
      return Reflect.ownKeys(target);
    },
  });
}

/** Schema errors and unknown fields of one rendered object, by the Kubernetes schemas of kubernetes-models. */
async function problems(doc: Doc): Promise<string[]> {
  const group = doc.apiVersion as string; // `v1` or `apps/v1`: the package's paths follow it
  const mod = (await import(`kubernetes-models/${group}/${doc.kind}`)) as Record<string, { prototype: object }>;
  const Model = mod[doc.kind as string] as { prototype: { validate(this: unknown): void } } | undefined;
  if (Model === undefined) return [`no schema for ${group} ${doc.kind}`];
  const seen = new Map<string, { value: Doc; read: Set<string>; map: boolean }>();
  const out: string[] = [];
  try {
    Model.prototype.validate.call(tracked(doc, '', seen));
  } catch (error) {
    out.push((error as Error).message);
  }
  for (const [path, { value, read, map }] of seen) {
    if (Array.isArray(value) || map) continue;
    for (const key of Object.keys(value)) if (!read.has(key)) out.push(`${path}.${key}: unknown field`);
  }
  return out.map((p) => `${doc.kind}/${doc.metadata?.name}: ${p}`);
}

const renders = {
  'deploy/k8s': render('deploy/k8s'),
  'deploy/k8s-redis-sentinel': render('deploy/k8s-redis-sentinel'),
};
const kubectl = renders['deploy/k8s'] !== undefined;

/** The Secrets docs/operations.md tells an operator to create before `kubectl apply -k`. */
const documentedSecrets = new Set(
  [...readFileSync(resolve(root, 'docs/operations.md'), 'utf8').matchAll(/create secret generic (\S+)/g)].map(
    (m) => m[1],
  ),
);

function podSpecs(docs: Doc[]): Doc[] {
  return docs.filter((d) => d.spec?.template?.spec).map((d) => d.spec.template);
}

describe.each(Object.keys(renders))('kubectl kustomize %s renders valid objects that can become Ready', (dir) => {
  const docs = renders[dir as keyof typeof renders];
  const skip = !kubectl && !process.env.CI;
  const find = (kind: string, name: string) => docs?.find((d) => d.kind === kind && d.metadata.name === name);

  it.skipIf(skip)('renders (kubectl is installed: .ci/run needs it)', () => {
    expect(docs, 'kubectl not found').toBeDefined();
  });

  it.skipIf(skip)('every object passes the Kubernetes schema, with no unknown field', async () => {
    const found = (await Promise.all(docs!.map(problems))).flat();
    expect(found).toEqual([]);
  });

  it.skipIf(skip)('Escrow’s store is deployed: every Redis host the config names is a Service of the render', () => {
    const config = parseConfig(find('ConfigMap', 'escrow-config')!.data['escrow.yaml'], dir);
    const topology = storeTopology(config.store, {});
    const hosts: { host: string; port: number }[] =
      topology.kind === 'standalone'
        ? [{ host: new URL(topology.url).hostname, port: Number(new URL(topology.url).port || 6379) }]
        : topology.kind === 'sentinel'
          ? ((topology.options.sentinels ?? []) as { host: string; port: number }[])
          : [...topology.nodes];
    expect(hosts.length).toBeGreaterThan(0);
    for (const { host, port } of hosts) {
      // `name` is a Service; `pod.name` is a StatefulSet pod behind its headless Service.
      const [first, second] = host.split('.');
      const service = find('Service', second ?? first!);
      expect(service, host).toBeDefined();
      expect(
        service!.spec.ports.map((p: Doc) => p.port),
        host,
      ).toContain(port);
      if (second !== undefined) {
        const set = docs!.find((d) => d.kind === 'StatefulSet' && d.spec.serviceName === second);
        const ordinal = Number(first!.slice(set?.metadata.name.length + 1));
        expect(set && first!.startsWith(`${set.metadata.name}-`) && ordinal < set.spec.replicas, host).toBe(true);
        expect(service!.spec.clusterIP).toBe('None');
      }
    }
  });

  it.skipIf(skip)('every Service selects pods of the render, on a port they name', () => {
    const pods = podSpecs(docs!);
    for (const service of docs!.filter((d) => d.kind === 'Service')) {
      const selected = pods.filter((p) =>
        Object.entries(service.spec.selector as Record<string, string>).every(([k, v]) => p.metadata.labels?.[k] === v),
      );
      expect(selected.length, service.metadata.name).toBeGreaterThan(0);
      const named = new Set(
        selected.flatMap((p) => p.spec.containers.flatMap((c: Doc) => (c.ports ?? []).map((x: Doc) => x.name))),
      );
      for (const port of service.spec.ports)
        expect(named, `${service.metadata.name} → ${port.targetPort}`).toContain(port.targetPort);
    }
  });

  it.skipIf(skip)(
    'every container has a readiness probe, and every Secret it reads is one the docs say to create',
    () => {
      for (const pod of podSpecs(docs!)) {
        for (const container of pod.spec.containers) expect(container.readinessProbe, container.name).toBeDefined();
        const refs = [
          ...[...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])].flatMap((c: Doc) =>
            (c.env ?? []).flatMap((e: Doc) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.name] : [])),
          ),
          ...(pod.spec.volumes ?? []).flatMap((v: Doc) => (v.secret ? [v.secret.secretName] : [])),
        ];
        for (const name of refs) expect(documentedSecrets, `Secret ${name}`).toContain(name);
      }
    },
  );

  it.skipIf(skip)('lets only Escrow’s pods (and Redis’s own) reach Redis', () => {
    const policies = docs!.filter(
      (d) => d.kind === 'NetworkPolicy' && d.spec.podSelector.matchLabels['app.kubernetes.io/name'] === 'escrow-redis',
    );
    expect(policies).toHaveLength(1);
    const from = policies[0]!.spec.ingress.flatMap((r: Doc) =>
      r.from.map((f: Doc) => f.podSelector?.matchLabels['app.kubernetes.io/name']),
    );
    expect(from).toContain('escrow');
    expect(from.every((name: string) => name === 'escrow' || name === 'escrow-redis')).toBe(true);
  });
});

describe.skipIf(!kubectl && !process.env.CI)('the Sentinel overlay changes only the store', () => {
  it('ships the same escrow.yaml as deploy/k8s but for `store`', () => {
    const config = (dir: keyof typeof renders) => {
      const cm = renders[dir]!.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'escrow-config')!;
      return parseConfig(cm.data['escrow.yaml'], dir);
    };
    const { store: standalone, ...base } = config('deploy/k8s');
    const { store: sentinel, ...ha } = config('deploy/k8s-redis-sentinel');
    expect(ha).toEqual(base);
    expect(standalone).toBe('redis://escrow-redis:6379/0');
    expect(sentinel).toMatch(/^redis\+sentinel:\/\//);
  });
});

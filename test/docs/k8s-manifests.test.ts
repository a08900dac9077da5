import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseListen } from '../../gateway/config/listen.js';
import { parseConfig } from '../../gateway/config/load.js';

const DIR = resolve(import.meta.dirname, '../../deploy/k8s');

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML, inspected by path in this file only
type Doc = Record<string, any>;

function manifests(): Doc[] {
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .flatMap((f) => parseAllDocuments(readFileSync(join(DIR, f), 'utf8')).map((d) => d.toJS() as Doc));
}

const all = manifests();
const one = (kind: string, name?: string) => {
  const found = all.filter((d) => d.kind === kind && (name === undefined || d.metadata?.name === name));
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
};
const deployment = one('Deployment');
const pod = deployment.spec.template.spec;
const container = pod.containers[0];
const config = parseConfig(one('ConfigMap', 'escrow-config').data['escrow.yaml'], 'configmap escrow-config');
const portNamed = (name: string) => container.ports.find((p: Doc) => p.name === name)?.containerPort as number;

describe('the Kubernetes manifests probe the admin listener and agree with the config they ship', () => {
  it('parses every file as YAML and lists each one in kustomization.yaml', () => {
    const kustomization = parseAllDocuments(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as Doc;
    const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
  });

  it('points readiness at /readyz and liveness at /healthz on the admin port of escrow.yaml', () => {
    const admin = parseListen(config.admin.listen).port;
    expect(portNamed('admin')).toBe(admin);
    expect(portNamed('proxy')).toBe(parseListen(config.proxy.listen).port);
    const port = (probe: Doc) =>
      typeof probe.httpGet.port === 'string' ? portNamed(probe.httpGet.port) : probe.httpGet.port;
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(port(container.readinessProbe)).toBe(admin);
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(port(container.livenessProbe)).toBe(admin);
    expect(port(container.startupProbe)).toBe(admin);
  });

  it('listens on all pod interfaces, so probes and Services reach both listeners', () => {
    expect(parseListen(config.proxy.listen).host).toBe('0.0.0.0');
    expect(parseListen(config.admin.listen).host).toBe('0.0.0.0');
  });

  it('ships a config that validates, with a shared Redis store and every secret reference backed by a Secret', () => {
    expect(config.store).toMatch(/^rediss?:\/\//);
    const refs = [...JSON.stringify(config).matchAll(/"env:([A-Za-z_][A-Za-z0-9_]*)"/g)].map((m) => m[1]);
    const fromSecrets = new Set(
      container.env.filter((e: Doc) => e.valueFrom?.secretKeyRef).map((e: Doc) => e.name as string),
    );
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(fromSecrets, ref).toContain(ref);
    const secretVolumes = new Set(pod.volumes.filter((v: Doc) => v.secret).map((v: Doc) => v.name as string));
    const secretMounts = container.volumeMounts
      .filter((m: Doc) => secretVolumes.has(m.name))
      .map((m: Doc) => `${m.mountPath}/`);
    const files = [...JSON.stringify(config).matchAll(/"file:([^"]+)"/g)].map((m) => m[1]!);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files)
      expect(
        secretMounts.some((dir: string) => file.startsWith(dir)),
        file,
      ).toBe(true);
    expect(container.args).toEqual(['start', '--config', '/etc/escrow/escrow.yaml']);
  });

  it('keeps the proxy Service and the admin Service apart, and selects the Deployment’s pods everywhere', () => {
    const labels = deployment.spec.template.metadata.labels;
    const proxy = one('Service', 'escrow');
    const admin = one('Service', 'escrow-admin');
    expect(proxy.spec.ports.map((p: Doc) => p.targetPort)).toEqual(['proxy']);
    expect(admin.spec.ports.map((p: Doc) => p.targetPort)).toEqual(['admin']);
    for (const selector of [
      proxy.spec.selector,
      admin.spec.selector,
      one('PodDisruptionBudget').spec.selector.matchLabels,
    ]) {
      expect(labels).toMatchObject(selector);
    }
    expect(one('HorizontalPodAutoscaler').spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'escrow' });
  });

  it('lets only the monitoring namespace reach the admin port', () => {
    const rules = one('NetworkPolicy').spec.ingress as Doc[];
    const adminRules = rules.filter((r) => r.ports.some((p: Doc) => p.port === portNamed('admin')));
    expect(adminRules).toHaveLength(1);
    expect(adminRules[0]!.ports).toHaveLength(1);
    expect(adminRules[0]!.from).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
    ]);
  });

  it('drains before the kill: preStop pause and drain fit in the grace period, and no replica is lost in a rollout', () => {
    expect(container.lifecycle.preStop.exec.command).toEqual(['sleep', '5']);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(5 + config.proxy.drainTimeoutMs / 1000 + 5);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
  });
});

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../gateway/config/load.js';

const root = resolve(import.meta.dirname, '../..');

interface Service {
  image?: string;
  build?: string;
  volumes?: string[];
  depends_on?: Record<string, unknown> | string[];
  ports?: string[];
}

// No Docker engine (nor the compose plugin) runs here, so the compose file is checked structurally. The
// Prometheus files it mounts do run, with the real binaries: test/deploy/prometheus.test.ts.
describe('docker-compose.yml is a valid, self-consistent stack', () => {
  const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, Service>;
    volumes?: Record<string, unknown>;
  };

  it('has redis, escrow, prometheus and grafana, each with an image or a build', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['escrow', 'grafana', 'prometheus', 'redis']);
    for (const service of Object.values(compose.services)) expect(service.image ?? service.build).toBeTruthy();
    expect(existsSync(join(root, 'Dockerfile'))).toBe(true);
  });

  it('mounts only files that exist and named volumes that are declared', () => {
    for (const service of Object.values(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const [source] = volume.split(':');
        if (source!.startsWith('.')) expect(existsSync(join(root, source!)), source).toBe(true);
        else expect(compose.volumes ?? {}, source).toHaveProperty(source!);
      }
      const deps = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
      for (const dep of deps) expect(compose.services).toHaveProperty(dep);
    }
  });

  it('runs Escrow with a config that passes validation', () => {
    const text = readFileSync(join(root, 'examples/compose/escrow.yaml'), 'utf8');
    const config = parseConfig(text, 'examples/compose/escrow.yaml');
    expect(config.store).toBe('redis://redis:6379/0');
    expect(config.admin.listen).toBe('0.0.0.0:9090');
  });

  it('has Prometheus scrape Escrow’s admin port', () => {
    const prom = readFileSync(join(root, 'deploy/prometheus/prometheus.yml'), 'utf8');
    expect(prom).toContain('escrow:9090');
  });
});

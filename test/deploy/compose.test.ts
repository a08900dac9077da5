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

  it('publishes every port on the host’s loopback only: the admin port above all', () => {
    const published = Object.values(compose.services).flatMap((service) => service.ports ?? []);
    expect(published.length).toBeGreaterThan(0);
    for (const port of published) expect(port, port).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    expect(compose.services.escrow!.ports).toContain('127.0.0.1:9090:9090');
  });

  it('gives the image’s node user a /data it can write: the named volume takes the ownership of the image’s directory', () => {
    const escrow = compose.services.escrow! as Service & { environment?: Record<string, string> };
    expect(escrow.environment?.ESCROW_DEV_MATERIAL).toBe('/data');
    const volume = (escrow.volumes ?? []).find((v) => v.split(':')[1] === '/data');
    expect(volume, 'a named volume at /data').toMatch(/^[a-z][\w-]*:\/data$/);
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    const chown = runtime.search(/^RUN .*mkdir -p \/data && chown node:node \/data/m);
    const user = runtime.search(/^USER node$/m);
    expect(chown, 'RUN mkdir -p /data && chown node:node /data in the runtime stage').toBeGreaterThan(-1);
    expect(user).toBeGreaterThan(chown);
    const config = readFileSync(join(root, 'examples/compose/escrow.yaml'), 'utf8');
    for (const [, path] of config.matchAll(/file:(\S+)/g)) expect(path!.startsWith('/data/'), path).toBe(true);
  });

  it('has Prometheus scrape Escrow’s admin port', () => {
    const prom = readFileSync(join(root, 'deploy/prometheus/prometheus.yml'), 'utf8');
    expect(prom).toContain('escrow:9090');
  });
});

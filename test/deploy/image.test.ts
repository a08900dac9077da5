import { execFileSync, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const TAG = 'escrow:test-image';

/** Whether a container builder answers here: the Docker CLI with a reachable daemon. */
function dockerDaemon(): string | undefined {
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 10_000 });
  if (info.error || info.status !== 0) return undefined;
  return info.stdout.trim() || undefined;
}

const daemon = dockerDaemon();

/**
 * The image builds and runs as documented, where a builder works. Where none does (these machines have the
 * Docker CLI but no daemon, and no registry to pull node:20-bookworm-slim from), each test says so and is
 * skipped; test/deploy/compose.test.ts checks the Dockerfile and compose file structurally either way.
 */
describe('the container image builds, runs as node, and lets node write /data', () => {
  const docker = (...args: string[]) => execFileSync('docker', args, { cwd: root, encoding: 'utf8', timeout: 600_000 });
  const noBuilder = 'no container builder here (docker info found no daemon): the image is not built in this run';

  it('builds from the Dockerfile', { timeout: 600_000 }, (ctx) => {
    ctx.skip(daemon === undefined, noBuilder);
    docker('build', '-t', TAG, '.');
  });

  it('runs the CLI as its entrypoint, as the node user, with a /data that user owns', (ctx) => {
    ctx.skip(daemon === undefined, noBuilder);
    expect(docker('run', '--rm', TAG, '--help')).toContain('Usage: escrow <command>');
    expect(docker('run', '--rm', '--entrypoint', 'id', TAG, '-un').trim()).toBe('node');
    docker('run', '--rm', '-v', 'escrow-test-data:/data', '--entrypoint', 'sh', TAG, '-c', 'touch /data/written');
    docker('volume', 'rm', '-f', 'escrow-test-data');
  });
});

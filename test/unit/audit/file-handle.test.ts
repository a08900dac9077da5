import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileSink, ROTATION_CHECK_MS } from '../../../gateway/audit/file-sink.js';

const dirs: string[] = [];
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'escrow-file-sink-'));
  dirs.push(dir);
  return join(dir, 'audit.jsonl');
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean);
const openFds = () => readdirSync('/proc/self/fd').length;

describe('the file sink keeps its handle open between batches and follows a rotation without a signal', () => {
  it('appends batch after batch to one handle; a rename (logrotate create) is followed within a second', async () => {
    const path = tempFile();
    let now = 0;
    const sink = createFileSink({ path, sync: 'none' }, () => now);
    await sink.write(['{"seq":0}', '{"seq":1}'], 0);
    const fds = openFds();
    await sink.write(['{"seq":2}'], 2);
    expect(openFds()).toBe(fds); // no handle opened per batch
    renameSync(path, `${path}.1`);
    now += 10;
    await sink.write(['{"seq":3}'], 3); // within the second: still the rotated file, in order
    now += ROTATION_CHECK_MS;
    await sink.write(['{"seq":4}'], 4); // the path names no file now: opened again
    expect(lines(`${path}.1`)).toEqual(['{"seq":0}', '{"seq":1}', '{"seq":2}', '{"seq":3}']);
    expect(lines(path)).toEqual(['{"seq":4}']);
    await sink.close?.();
    expect(openFds()).toBe(fds - 1);
  });

  it('a file put in its place (copy, restore) is written from then on; a torn last line is ended first', async () => {
    const path = tempFile();
    let now = 0;
    const sink = createFileSink({ path, sync: 'batch' }, () => now);
    await sink.write(['{"seq":0}'], 0);
    rmSync(path);
    writeFileSync(path, '{"seq":0}\n{"se'); // another writer's torn line
    now += ROTATION_CHECK_MS;
    await sink.write(['{"seq":1}'], 1);
    expect(readFileSync(path, 'utf8')).toBe('{"seq":0}\n{"se\n{"seq":1}\n');
    await sink.close?.();
  });

  it('once the handle is let go (a failed write, close), the next write opens the path again and ends a torn line', async () => {
    const path = tempFile();
    const sink = createFileSink({ path, sync: 'none' }, () => 0);
    await sink.write(['{"seq":0}'], 0);
    rmSync(path);
    writeFileSync(path, 'partial');
    await sink.close?.();
    await sink.write(['{"seq":1}'], 1);
    expect(readFileSync(path, 'utf8')).toBe('partial\n{"seq":1}\n');
    await sink.close?.();
  });
});

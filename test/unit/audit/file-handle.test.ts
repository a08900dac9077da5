import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileSink } from '../../../gateway/audit/file-sink.js';

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

// `none` writes with direct system calls, `batch` through the thread pool (fdatasync): both follow the same rules.
describe.each(['none', 'batch'] as const)(
  'the file sink (fileSync %s) keeps its handle open between batches and follows a rotation without a signal',
  (sync) => {
    it('appends batch after batch to one handle; after a rename (logrotate create) the next batch goes to the name', async () => {
      const path = tempFile();
      const sink = createFileSink({ path, sync });
      await sink.write(['{"seq":0}', '{"seq":1}'], 0);
      const fds = openFds();
      await sink.write(['{"seq":2}'], 2);
      expect(openFds()).toBe(fds); // no handle opened per batch
      renameSync(path, `${path}.1`);
      await sink.write(['{"seq":3}'], 3);
      expect(lines(`${path}.1`)).toEqual(['{"seq":0}', '{"seq":1}', '{"seq":2}']);
      expect(lines(path)).toEqual(['{"seq":3}']);
      await sink.close?.();
      expect(openFds()).toBe(fds - 1);
    });

    it('a deleted file is not written to: the next batch opens the name again, ending a torn line put there', async () => {
      const path = tempFile();
      const sink = createFileSink({ path, sync });
      await sink.write(['{"seq":0}'], 0);
      rmSync(path);
      writeFileSync(path, '{"seq":0}\n{"se'); // another writer's torn line
      await sink.write(['{"seq":1}'], 1);
      expect(readFileSync(path, 'utf8')).toBe('{"seq":0}\n{"se\n{"seq":1}\n');
      await sink.close?.();
    });

    it('fails while the name cannot be opened, and writes again once it can', async () => {
      const path = tempFile();
      const sink = createFileSink({ path, sync });
      await sink.write(['{"seq":0}'], 0);
      rmSync(path);
      // A directory in its place: appending fails (the sink is down), nothing goes to the deleted file.
      mkdirSync(path);
      await expect(sink.write(['{"seq":1}'], 1)).rejects.toThrow();
      rmSync(path, { recursive: true });
      await sink.write(['{"seq":1}'], 1);
      expect(lines(path)).toEqual(['{"seq":1}']);
      await sink.close?.();
    });
  },
);

describe('the file sink on a named pipe (a log shipper reading it)', () => {
  it.each(['none', 'batch'] as const)('hands every event to the pipe reader (fileSync %s)', async (sync) => {
    const dir = mkdtempSync(join(tmpdir(), 'escrow-file-sink-fifo-'));
    dirs.push(dir);
    const fifo = join(dir, 'audit.pipe');
    execFileSync('mkfifo', [fifo]);
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
    let read = '';
    reader.stdout.on('data', (c: Buffer) => {
      read += c.toString();
    });
    const exited = new Promise((resolve) => reader.once('exit', resolve));
    // The reader must be waiting in open() for a writer before the sink starts (Linux names that wait in wchan).
    while (readFileSync(`/proc/${reader.pid}/wchan`, 'utf8') !== 'wait_for_partner') await sleep(5);
    const sink = createFileSink({ path: fifo, sync });
    for (let i = 0; i < 3; i++) await sink.write([`{"seq":${i}}`], i);
    await sink.close?.(); // the last writer goes: the reader sees the end and exits
    await exited;
    // Looking at a pipe must not open and close it: its reader would take that for the end and leave.
    expect(read).toBe('{"seq":0}\n{"seq":1}\n{"seq":2}\n');
  });
});

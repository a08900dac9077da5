import { type FileHandle, mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditSink } from './types.js';

/** `batch`: fdatasync before a batch counts as written (survives a power loss); `none`: the page cache is enough. */
export type FileSync = 'batch' | 'none';

export interface FileSinkOptions {
  readonly path: string;
  readonly sync: FileSync;
}

const NEWLINE = 0x0a;

/** True when the file is empty or its last byte ends a line. */
async function endsCleanly(handle: FileHandle): Promise<boolean> {
  const { size } = await handle.stat();
  if (size === 0) return true;
  const last = Buffer.alloc(1);
  await handle.read(last, 0, 1, size - 1);
  return last[0] === NEWLINE;
}

/** fdatasync, where the file supports it (a pipe or a terminal given as `file:` has nothing to flush to disk). */
async function datasync(handle: FileHandle): Promise<void> {
  try {
    await handle.datasync();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
  }
}

/** Writes all of `data` (a regular file may take it in several writes); returns how much got in before a failure. */
async function writeAll(handle: FileHandle, data: Buffer): Promise<{ written: number; error?: unknown }> {
  let written = 0;
  try {
    while (written < data.length) {
      const { bytesWritten } = await handle.write(data, written, data.length - written);
      written += bytesWritten;
    }
    return { written };
  } catch (error) {
    return { written, error };
  }
}

/**
 * The `file:` sink: one append of the whole batch per write, to a handle kept open between batches. Before each
 * batch the path is looked at (one `stat`): if it names another file now (`logrotate` renamed this one and created
 * a new one), or none (deleted, or something else put there), the handle is closed and the path opened again, so
 * rotation needs no signal and no event goes to a file that is no longer under the name. A write that fails
 * part-way (ENOSPC, EFBIG) leaves a partial line at the end; the next write, by this process or the next one, first
 * ends that line, so the fragment stays a line of its own (`escrow audit verify` reports it as a torn write, never
 * as an event) and the batch is written again whole. Nothing is truncated, so several processes may append to one
 * file (`--workers`).
 */
export function createFileSink(options: FileSinkOptions): AuditSink {
  let dirReady = false;
  // Whether the end of the file must be looked at first: at every (re)open, and after a failure.
  let unsure = true;
  let handle: FileHandle | undefined;
  let identity: { dev: number; ino: number } | undefined;

  const drop = async (): Promise<void> => {
    const h = handle;
    handle = undefined;
    identity = undefined;
    unsure = true;
    await h?.close().catch(() => {});
  };

  /** The open handle, reopened when the path names another file than the one held (or none). */
  const current = async (): Promise<FileHandle> => {
    if (handle) {
      const seen = await stat(options.path).catch(() => undefined);
      if (!seen || seen.ino !== identity?.ino || seen.dev !== identity?.dev) await drop();
    }
    if (handle) return handle;
    if (!dirReady) {
      await mkdir(dirname(options.path), { recursive: true });
      dirReady = true;
    }
    const opened = await open(options.path, 'a+', 0o600);
    const { dev, ino } = await opened.stat();
    handle = opened;
    identity = { dev, ino };
    unsure = true;
    return opened;
  };

  return {
    name: 'file',
    async write(lines) {
      try {
        const h = await current();
        const lead = unsure && !(await endsCleanly(h)) ? '\n' : '';
        const data = Buffer.from(`${lead}${lines.join('\n')}\n`);
        unsure = true;
        const { written, error } = await writeAll(h, data);
        if (error !== undefined) throw error;
        if (written !== data.length) throw new Error('short write to the audit file');
        if (options.sync === 'batch') await datasync(h);
        unsure = false;
      } catch (error) {
        await drop(); // the next write opens the path again and looks at its end first
        throw error;
      }
    },
    close: drop,
  };
}

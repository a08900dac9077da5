import { closeSync, fstatSync, mkdirSync, openSync, readSync, statSync, writeSync } from 'node:fs';
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

/** True when the file behind `fd` is empty or its last byte ends a line. */
function endsCleanlySync(fd: number): boolean {
  const { size } = fstatSync(fd);
  if (size === 0) return true;
  const last = Buffer.alloc(1);
  readSync(fd, last, 0, 1, size - 1);
  return last[0] === NEWLINE;
}

/**
 * The sink with synchronous system calls, for a regular file that is not fdatasync'ed: Node itself writes
 * `process.stdout` to a file this way. A page-cache append and a `stat` are two short system calls on the event
 * loop's thread; through the thread pool each is a hand-off to a worker thread and a wake-up back, which cost far
 * more than the call itself (docs/audit.md, "What it costs"). Same rules as the threaded form: the path is looked at
 * before each batch, a torn line is ended first, a failure drops the descriptor. Anything but a regular file (a pipe,
 * a terminal, which can block) is handed to the threaded form.
 */
function createDirectFileSink(path: string, threaded: AuditSink): AuditSink {
  let dirReady = false;
  let fd: number | undefined;
  let identity: { dev: number; ino: number } | undefined;
  let unsure = true;
  let notAFile = false;
  const drop = (): void => {
    const held = fd;
    fd = undefined;
    identity = undefined;
    unsure = true;
    if (held !== undefined) {
      try {
        closeSync(held);
      } catch {
        // already closed
      }
    }
  };
  /** The open descriptor, reopened when the path names another file than the one held (or none). */
  const current = (): number | undefined => {
    if (fd !== undefined) {
      const seen = statSync(path, { throwIfNoEntry: false });
      if (!seen || seen.ino !== identity?.ino || seen.dev !== identity?.dev) drop();
    }
    if (fd !== undefined) return fd;
    if (!dirReady) {
      mkdirSync(dirname(path), { recursive: true });
      dirReady = true;
    }
    // Looked at before it is opened: opening and closing a pipe would hand its reader an end of file.
    const existing = statSync(path, { throwIfNoEntry: false });
    if (existing !== undefined && !existing.isFile()) {
      notAFile = true;
      return undefined;
    }
    const opened = openSync(path, 'a+', 0o600);
    let stats: ReturnType<typeof fstatSync>;
    try {
      stats = fstatSync(opened);
    } catch (error) {
      closeSync(opened);
      throw error;
    }
    if (!stats.isFile()) {
      // Replaced by something else between the two looks: the threaded form opens it again from now on.
      closeSync(opened);
      notAFile = true;
      return undefined;
    }
    fd = opened;
    identity = { dev: stats.dev, ino: stats.ino };
    unsure = true;
    return opened;
  };
  return {
    name: 'file',
    write(lines, firstSeq) {
      if (notAFile) return threaded.write(lines, firstSeq);
      try {
        const out = current();
        if (out === undefined) return threaded.write(lines, firstSeq);
        const lead = unsure && !endsCleanlySync(out) ? '\n' : '';
        const data = Buffer.from(`${lead}${lines.join('\n')}\n`);
        unsure = true;
        for (let written = 0; written < data.length; ) written += writeSync(out, data, written);
        unsure = false;
        return Promise.resolve();
      } catch (error) {
        drop(); // the next write opens the path again and looks at its end first
        return Promise.reject(error);
      }
    },
    close: async () => {
      drop();
      await threaded.close?.();
    },
  };
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
  const threaded = createThreadedFileSink(options);
  return options.sync === 'none' ? createDirectFileSink(options.path, threaded) : threaded;
}

/** The sink through libuv's thread pool (`fs/promises`): with `fdatasync`, and for what is not a regular file. */
function createThreadedFileSink(options: FileSinkOptions): AuditSink {
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

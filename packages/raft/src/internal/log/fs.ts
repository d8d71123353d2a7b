// The file system as log storage sees it. Production passes NodeFs; tests may wrap it
// to inject faults. Only what the log needs is here.
import * as fsp from 'node:fs/promises';
import * as fss from 'node:fs';
import { LogIoError } from './errors.js';

export interface LogFileHandle {
  /** Writes all of `bytes` at `position`. */
  writeAt(bytes: Uint8Array, position: number): Promise<void>;
  /** Reads up to `length` bytes at `position`; short only at end of file. */
  readAt(length: number, position: number): Promise<Buffer>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export type OpenMode = 'read' | 'write' | 'create';

export interface LogFs {
  /** `create` fails if the file exists; `write` opens an existing file for update. */
  open(path: string, mode: OpenMode, options?: { oSync?: boolean }): Promise<LogFileHandle>;
  readFile(path: string): Promise<Buffer>;
  /** Writes a whole file durably: temp file, sync, rename, sync directory. */
  writeFileAtomic(path: string, bytes: Uint8Array): Promise<void>;
  readdir(path: string): Promise<string[]>;
  mkdirp(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  rmrf(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  syncDir(path: string): Promise<void>;
  /** Synchronous positional read, for the synchronous LogReader contract. */
  readSync(path: string, position: number, length: number): Buffer;
}

function wrap<T>(file: string, p: Promise<T>): Promise<T> {
  return p.catch((err: unknown) => {
    throw new LogIoError(file, err);
  });
}

class NodeFileHandle implements LogFileHandle {
  constructor(
    private readonly path: string,
    private readonly fh: fsp.FileHandle,
  ) {}

  async writeAt(bytes: Uint8Array, position: number): Promise<void> {
    let done = 0;
    // Bounded: each round writes at least one byte or throws.
    while (done < bytes.byteLength) {
      const { bytesWritten } = await wrap(
        this.path,
        this.fh.write(bytes, done, bytes.byteLength - done, position + done),
      );
      if (bytesWritten <= 0) throw new LogIoError(this.path, new Error('write made no progress'));
      done += bytesWritten;
    }
  }

  async readAt(length: number, position: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await wrap(this.path, this.fh.read(buf, done, length - done, position + done));
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === length ? buf : buf.subarray(0, done);
  }

  datasync(): Promise<void> {
    return wrap(this.path, this.fh.datasync());
  }
  sync(): Promise<void> {
    return wrap(this.path, this.fh.sync());
  }
  truncate(length: number): Promise<void> {
    return wrap(this.path, this.fh.truncate(length));
  }
  async size(): Promise<number> {
    return (await wrap(this.path, this.fh.stat())).size;
  }
  close(): Promise<void> {
    return wrap(this.path, this.fh.close());
  }
}

export class NodeFs implements LogFs {
  async open(path: string, mode: OpenMode, options?: { oSync?: boolean }): Promise<LogFileHandle> {
    const c = fss.constants;
    let flags = mode === 'read' ? c.O_RDONLY : mode === 'write' ? c.O_RDWR : c.O_RDWR | c.O_CREAT | c.O_EXCL;
    if (options?.oSync) flags |= c.O_DSYNC;
    return new NodeFileHandle(path, await wrap(path, fsp.open(path, flags, 0o644)));
  }
  readFile(path: string): Promise<Buffer> {
    return wrap(path, fsp.readFile(path));
  }
  writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
    return writeFileAtomicOn(this, path, bytes);
  }
  readdir(path: string): Promise<string[]> {
    return wrap(path, fsp.readdir(path));
  }
  async mkdirp(path: string): Promise<void> {
    await wrap(path, fsp.mkdir(path, { recursive: true }));
  }
  rename(from: string, to: string): Promise<void> {
    return wrap(from, fsp.rename(from, to));
  }
  unlink(path: string): Promise<void> {
    return wrap(path, fsp.unlink(path));
  }
  rmrf(path: string): Promise<void> {
    return wrap(path, fsp.rm(path, { recursive: true, force: true }));
  }
  async exists(path: string): Promise<boolean> {
    try {
      await fsp.access(path);
      return true;
    } catch {
      return false;
    }
  }
  async syncDir(path: string): Promise<void> {
    // Makes creates, renames and unlinks in the directory durable.
    const fh = await wrap(path, fsp.open(path, fss.constants.O_RDONLY));
    try {
      await wrap(path, fh.sync());
    } finally {
      await fh.close();
    }
  }
  readSync(path: string, position: number, length: number): Buffer {
    try {
      const fd = fss.openSync(path, 'r');
      try {
        const buf = Buffer.allocUnsafe(length);
        let done = 0;
        while (done < length) {
          const n = fss.readSync(fd, buf, done, length - done, position + done);
          if (n === 0) break;
          done += n;
        }
        return done === length ? buf : buf.subarray(0, done);
      } finally {
        fss.closeSync(fd);
      }
    } catch (err) {
      throw new LogIoError(path, err);
    }
  }
}

/**
 * Replaces `path` with `bytes` so that a crash leaves the old file or the new one: a
 * synced temporary file renamed over it, then the directory synced. For any LogFs.
 */
export async function writeFileAtomicOn(fs: Pick<LogFs, 'rmrf' | 'open' | 'rename' | 'syncDir'>, path: string, bytes: Uint8Array | readonly Uint8Array[]): Promise<void> {
  const tmp = `${path}.tmp`;
  await fs.rmrf(tmp);
  const fh = await fs.open(tmp, 'create');
  try {
    // Parts are written one after the other: a large body needs no copy behind its header.
    let at = 0;
    for (const part of bytes instanceof Uint8Array ? [bytes] : bytes) {
      await fh.writeAt(part, at);
      at += part.byteLength;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, path);
  await fs.syncDir(dirname(path));
}

export function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function joinPath(...parts: string[]): string {
  return parts.join('/').replace(/\/+/g, '/');
}

/** File-system-safe name for a server uid: keeps [A-Za-z0-9_-], escapes the rest. */
export function safeFileName(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, (ch) => {
    const bytes = Buffer.from(ch, 'utf8');
    return Array.from(bytes, (b) => `.${b.toString(16).padStart(2, '0')}`).join('');
  });
}

export function unsafeFileName(name: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const ch = name[i] as string;
    if (ch === '.' && /^[0-9a-f]{2}$/.test(name.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(name.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(ch, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

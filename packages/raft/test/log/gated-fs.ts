// A file system for storage-actor tests: real files whose WAL syncs can be held at a
// gate the test opens, or made to fail once.
import { LogIoError } from '../../src/internal/log/errors.js';
import { type LogFileHandle, NodeFs, type OpenMode } from '../../src/internal/log/fs.js';

export class GatedWalFs extends NodeFs {
  private gate: Promise<void> | undefined;
  private release: () => void = () => undefined;
  private syncWaiting: () => void = () => undefined;
  private failure: Error | undefined;
  /** Resolves when a WAL sync is held at the closed gate. */
  syncHeld: Promise<void> = Promise.resolve();

  closeGate(): void {
    this.gate = new Promise((resolve) => (this.release = resolve));
    this.syncHeld = new Promise((resolve) => (this.syncWaiting = resolve));
  }

  openGate(): void {
    this.gate = undefined;
    this.release();
  }

  /** The next WAL sync (after the gate) fails with this cause, as NodeFs reports it. */
  failNextSync(err: Error): void {
    this.failure = err;
  }

  override async open(path: string, mode: OpenMode, options?: { oSync?: boolean }): Promise<LogFileHandle> {
    const handle = await super.open(path, mode, options);
    if (!path.endsWith('.wal')) return handle;
    const datasync = handle.datasync.bind(handle);
    handle.datasync = async () => {
      const gate = this.gate;
      if (gate !== undefined) {
        this.syncWaiting();
        await gate;
      }
      const failure = this.failure;
      this.failure = undefined;
      if (failure !== undefined) throw new LogIoError(path, failure);
      await datasync();
    };
    return handle;
  }
}

// The node's table of registered names, held by scheduler 0: the one place where a
// registration is decided, so two threads cannot both win a name.

import { AlreadyRegisteredError, NameTakenError, NoProcError } from '../errors.js';
import { formatPid, pidEquals, pidKey, type Pid } from '../pid.js';

export class NameTable {
  private readonly byName = new Map<string, Pid>();
  /** pidKey -> name: an actor has at most one name. */
  private readonly byPid = new Map<string, string>();

  get(name: string): Pid | undefined {
    return this.byName.get(name);
  }

  entries(): [string, Pid][] {
    return [...this.byName];
  }

  /**
   * Registers `name` for `pid` or throws why not. `alive` answers for actors of scheduler 0
   * (undefined for other threads, whose own copy frees a name registered for a dead actor).
   */
  add(name: string, pid: Pid, alive: boolean | undefined): void {
    if (this.byName.has(name)) throw new NameTakenError(name);
    const held = this.byPid.get(pidKey(pid));
    if (held !== undefined) throw new AlreadyRegisteredError(formatPid(pid), held);
    if (alive === false) throw new NoProcError(formatPid(pid));
    this.byName.set(name, pid);
    this.byPid.set(pidKey(pid), name);
  }

  /** Removes `name` if `pid` holds it; false otherwise (a stale request). */
  remove(name: string, pid: Pid): boolean {
    const holder = this.byName.get(name);
    if (holder === undefined || !pidEquals(holder, pid)) return false;
    this.byName.delete(name);
    this.byPid.delete(pidKey(pid));
    return true;
  }
}

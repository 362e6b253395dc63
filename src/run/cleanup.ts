/**
 * Cleanup is a stack: each step that needs undoing pushes its undo, and they
 * run in reverse, whatever ends the run.  An undo that fails is reported and
 * the rest still run.
 */
import { debug, info } from './log.js';

interface Undo {
  readonly why: string;
  readonly fn: () => void | Promise<void>;
}

export class CleanupStack {
  private readonly undos: Undo[] = [];

  push(why: string, fn: () => void | Promise<void>): void {
    this.undos.push({ why, fn });
  }

  /** Register fn to run after every undo pushed so far or later (waiting for something an undo only set going). */
  last(why: string, fn: () => void | Promise<void>): void {
    this.undos.unshift({ why, fn });
  }

  async run(): Promise<void> {
    while (this.undos.length > 0) {
      const u = this.undos.pop()!;
      debug(u.why);
      try {
        await u.fn();
      } catch (err) {
        info(`${u.why}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}

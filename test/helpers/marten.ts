/** Running the real marten (bin/marten) against a private store ($MINCS_DIR in a temp dir). */
import { expect } from 'vitest';
import { execa, type Options } from 'execa';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './minc.js';

export const MARTEN = `${ROOT}bin/marten`;
export const MINC_BIN = `${ROOT}bin/minc`;

export interface Run {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface TestStore {
  readonly dir: string;
  marten(args: readonly string[], opts?: Options): Promise<Run>;
  minc(args: readonly string[], opts?: Options): Promise<Run>;
  /** every file and directory name under the store (to check it is unchanged) */
  snapshot(): string[];
  remove(): void;
}

export function makeStore(): TestStore {
  const dir = mkdtempSync('/tmp/marten-test-store-');
  const env = { MINCS_DIR: dir };
  const run = (bin: string) => async (args: readonly string[], opts: Options = {}): Promise<Run> => {
    const r = await execa(bin, args, { reject: false, stdin: 'ignore', timeout: 120_000, ...opts, env: { ...env, ...(opts.env ?? {}) } });
    return { exitCode: r.exitCode ?? 128, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  };
  return {
    dir,
    marten: run(MARTEN),
    minc: run(MINC_BIN),
    snapshot: () => (readdirSync(dir, { recursive: true }) as string[]).filter((p) => !p.startsWith('tmp/') && p !== 'lock').sort(),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The full id marten printed last. */
export const lastLine = (s: string): string => s.trim().split('\n').at(-1) ?? '';
export const storePath = (store: TestStore, ...p: string[]): string => join(store.dir, ...p);

/** Stores made on demand by a test file (fresh), all removed at its end (removeAll). */
export function storePool(): { fresh: () => TestStore; removeAll: () => void } {
  const stores: TestStore[] = [];
  return {
    fresh: () => {
      const s = makeStore();
      stores.push(s);
      return s;
    },
    removeAll: () => stores.splice(0).forEach((s) => s.remove()),
  };
}

/** r, which must have succeeded (its stderr shown when it did not). */
export function ok(r: Run): Run {
  expect(r.exitCode, r.stderr).toBe(0);
  return r;
}

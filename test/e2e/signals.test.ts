/**
 * Signals: TERM/INT/HUP (and QUIT) sent to minc reach the command, minc then
 * removes its temp dir unless kept; a SIGKILLed minc takes the container
 * with it and `minc --gc` reclaims what it left (and nothing else).
 */
import { execa } from 'execa';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectNothingLeft, privateBase, processesWithArg, removeKept, reuseDir, spawnTracked, startMinc, tempdirsOf, track, unique, waitFor, type Running,
} from '../helpers/e2e.js';
import { MINC, mincMounts, tempBase } from '../helpers/minc.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';

let rootfs: { dir: string; remove: () => void };
let scratch: string;

beforeAll(() => {
  rootfs = makeBusyboxRootfs();
  scratch = mkdtempSync('/tmp/minc-e2e-signals-');
});

afterAll(() => {
  rootfs.remove();
  rmSync(scratch, { recursive: true, force: true });
  expectNothingLeft();
});

/** A host dir bound at /sync: the command touches /sync/ready once its traps are set. */
function syncDir(): string {
  return mkdtempSync(join(scratch, 'sync-'));
}

const ready = (sync: string) => waitFor(() => existsSync(join(sync, 'ready')), 'the command to be ready');

/**
 * Start minc in a session of its own (no controlling terminal, as under a
 * service manager or CI), running script in the busybox rootfs.
 */
function startDetached(sync: string, script: string, extra: string[] = [], env?: NodeJS.ProcessEnv): Running {
  return startMinc([...extra, '-r', rootfs.dir, '-b', `${sync}:/sync`, 'sh', '-c', script], { detached: true, ...(env ? { env } : {}) });
}

const TRAP = (sig: string) => `trap 'echo got ${sig}; exit 3' ${sig}; touch /sync/ready; while :; do sleep 0.02; done`;

/** strace ARGS... (minc below it), in a session of its own, tracked for cleanup. */
function spawnTrackedStrace(args: string[], env: NodeJS.ProcessEnv): Running {
  return spawnTracked('strace', args, { detached: true, env, stdin: 'ignore' });
}

/** Kill leftovers of a failed test (processes whose argv holds word). */
function killAll(word: string): void {
  for (const pid of processesWithArg(word)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

describe('signals sent to minc reach the command', () => {
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT'] as const) {
    it(`${sig}: the command's trap runs, minc ends with its status and removes its temp dir`, async () => {
      const sync = syncDir();
      const p = startDetached(sync, TRAP(sig.slice(3)));
      await ready(sync);
      expect(tempdirsOf(p.pid)).toHaveLength(1);
      process.kill(p.pid!, sig);
      const r = await p;
      expect(r.stdout).toBe(`got ${sig.slice(3)}`);
      expect(r.exitCode).toBe(3);
      expect(tempdirsOf(p.pid)).toEqual([]);
      expect(mincMounts()).toEqual([]);
    });
  }

  it('a command without a trap dies of SIGTERM: minc exits 143 and cleans up', async () => {
    const sync = syncDir();
    const p = startDetached(sync, 'touch /sync/ready; while :; do sleep 0.02; done');
    await ready(sync);
    process.kill(p.pid!, 'SIGTERM');
    const r = await p;
    expect(r.exitCode).toBe(128 + 15);
    expect(tempdirsOf(p.pid)).toEqual([]);
  });

  it("with node's child_process as the spawn (MINC_SPAWN=child_process, the fallback where process_wrap is missing): SIGTERM reaches the command, the status and stdio are the command's", async () => {
    const sync = syncDir();
    const p = startDetached(sync, TRAP('TERM'), [], { ...process.env, MINC_SPAWN: 'child_process' });
    await ready(sync);
    process.kill(p.pid!, 'SIGTERM');
    const r = await p;
    expect(r.stdout).toBe('got TERM');
    expect(r.exitCode).toBe(3);
    expect(tempdirsOf(p.pid)).toEqual([]);
    expect(mincMounts()).toEqual([]);
  });

  it('a signal before the command has started (the set-up held in pivot_root by strace) ends the run: 143, no message, the command never runs, nothing left', async () => {
    const base = privateBase();
    const key = `never-${unique()}`;
    try {
      const p = spawnTrackedStrace(['-f', '-o', '/dev/null', '-e', 'trace=pivot_root', '-e', 'inject=pivot_root:delay_enter=5000000',
        MINC, '-r', rootfs.dir, 'sh', '-c', `echo ${key}`], base.env);
      // minc is strace's child; the set-up is held once pivot_root runs
      const held = (): boolean => readdirSync('/proc').filter((n) => /^\d+$/.test(n)).some((n) => {
        try {
          return readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0')[0]!.endsWith('/pivot_root') && readFileSync(`/proc/${n}/environ`, 'utf8').includes(base.dir);
        } catch {
          return false;
        }
      });
      await waitFor(held, 'the set-up to reach pivot_root');
      const minc = Number(readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, 'utf8').split(' ')[0]);
      expect(base.entries()).toHaveLength(1);
      expect(existsSync(join(base.dir, base.entries()[0]!, 'pid'))).toBe(false); // not started
      process.kill(minc, 'SIGTERM');
      // minc ends at once, not after the held pivot_root (strace itself may wait for that tracee)
      // (gone, or a zombie; it may go between the two reads)
      const ended = (): boolean => {
        try {
          return readFileSync(`/proc/${minc}/stat`, 'utf8').includes(') Z ');
        } catch {
          return true;
        }
      };
      await waitFor(ended, 'minc to end', 4_000);
      const r = await p;
      expect(r.exitCode).toBe(143);
      expect(r.stdout).not.toContain(key);
      // nothing from minc (strace may report the held tracee it lost)
      expect(r.stderr.split('\n').filter((l) => l && !l.startsWith('strace: '))).toEqual([]);
      expect(base.entries()).toEqual([]);
      expect(mincMounts()).toEqual([]);
      await waitFor(() => processesWithArg(key).length === 0, 'the container processes to end', 3_000);
    } finally {
      base.remove();
    }
  });

  it('with -k, SIGTERM still reaches the command and the temp dir is kept (with the reuse hint)', async () => {
    const sync = syncDir();
    const p = startDetached(sync, TRAP('TERM'), ['-k']);
    await ready(sync);
    process.kill(p.pid!, 'SIGTERM');
    const r = await p;
    expect(r.stdout).toBe('got TERM');
    expect(r.exitCode).toBe(3);
    const kept = tempdirsOf(p.pid);
    expect(kept).toHaveLength(1);
    const dir = reuseDir(r.stderr);
    expect(dir).toBe(`${tempBase()}/${kept[0]}`);
    expect(existsSync(join(dir, 'storage'))).toBe(true);
    removeKept(dir);
  });

  it('on a terminal too: SIGTERM sent to minc\'s pid reaches the command (^C and ^\\ come from the terminal itself, as with docker run -t)', async () => {
    const base = privateBase();
    const sync = syncDir();
    const cmd = `exec ${MINC} -r ${rootfs.dir} -b ${sync}:/sync sh -c "${TRAP('TERM').replace(/"/g, '\\"')}"`;
    const s = execa('script', ['-qec', cmd, '/dev/null'], { reject: false, stdin: 'pipe', timeout: 20_000, env: base.env });
    try {
      await ready(sync);
      const names = base.entries();
      expect(names).toHaveLength(1);
      const pid = Number(/^minc(\d+)-/.exec(names[0]!)?.[1]);
      track(pid);
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain(`${MINC}\0-r\0`);
      process.kill(pid, 'SIGTERM');
      await waitFor(() => !existsSync(join(base.dir, names[0]!)), 'minc to end after SIGTERM', 2_000).catch(() => undefined);
      if (base.entries().length > 0) process.kill(pid, 'SIGKILL'); // end the run: the failure is reported below
      const r = await s;
      expect(r.stdout).toContain('got TERM');
      expect(r.exitCode).toBe(3);
    } finally {
      s.kill('SIGKILL');
      base.remove();
    }
  });

  it('on a terminal, ^C typed there reaches the command once', async () => {
    const sync = syncDir();
    const script = "trap 'echo got INT; touch /sync/got-int' INT; touch /sync/ready; while [ ! -e /sync/stop ]; do sleep 0.02; done; exit 3";
    const cmd = `exec ${MINC} -r ${rootfs.dir} -b ${sync}:/sync sh -c "${script.replace(/"/g, '\\"')}"`;
    const s = execa('script', ['-qec', cmd, '/dev/null'], { reject: false, stdin: 'pipe', timeout: 20_000 });
    try {
      await ready(sync);
      s.stdin!.write('\u0003');
      await waitFor(() => existsSync(join(sync, 'got-int')), 'the trap to run', 5_000).catch(() => undefined);
      writeFileSync(join(sync, 'stop'), '');
      s.stdin!.end();
      const r = await s;
      expect(r.exitCode).toBe(3);
      expect(r.stdout.match(/got INT/g)).toEqual(['got INT']);
    } finally {
      s.kill('SIGKILL');
    }
  });
});

describe('SIGKILL of minc and minc --gc', () => {
  it('SIGKILL: no process of the container survives; --gc removes the temp dir left behind', async () => {
    const base = privateBase();
    const sync = syncDir();
    const arg = `1234.${Date.now() % 1000000}`;
    try {
      const p = startDetached(sync, `touch /sync/ready; sleep ${arg}; echo not-reached`, [], base.env);
      await ready(sync);
      await waitFor(() => processesWithArg(arg).length > 0, 'the sleep to show on the host');
      const dirs = base.entries();
      expect(dirs).toHaveLength(1);
      const init = Number(readPid(join(base.dir, dirs[0]!)));
      expect(init).toBeGreaterThan(1);
      p.kill('SIGKILL');
      const r = await p;
      expect(r.signal).toBe('SIGKILL');
      await waitFor(() => processesWithArg(arg).length === 0, 'the container\'s processes to die', 5_000);
      await waitFor(() => !existsSync(`/proc/${init}`) || /^State:\s+Z/m.test(readStatus(init)), 'the container init to die', 5_000);
      expect(r.stdout).not.toContain('not-reached');
      // minc could not clean up: its dir is left, with nothing mounted on the host
      expect(base.entries()).toEqual(dirs);
      expect(mincMounts()).toEqual([]);
      const gc = await execa(MINC, ['--gc'], { reject: false, stdin: 'ignore', env: base.env });
      expect(gc.exitCode).toBe(0);
      expect(gc.stderr).toContain(dirs[0]);
      expect(base.entries()).toEqual([]);
    } finally {
      killAll(arg);
      base.remove();
    }
  });

  it('--gc leaves a kept dir and the dir of a live run alone', async () => {
    const base = privateBase();
    const sync = syncDir();
    try {
      const kept = await startMinc(['-k', '-r', rootfs.dir, 'true'], { env: base.env });
      expect(kept.exitCode).toBe(0);
      const keptDir = reuseDir(kept.stderr);
      const live = startDetached(sync, TRAP('TERM'), [], base.env);
      await ready(sync);
      const liveDirs = tempdirsOf(live.pid, base.dir);
      expect(liveDirs).toHaveLength(1);
      // and a dead run's dir, which --gc must take
      const deadPid = spawnSync('true').pid;
      const dead = join(base.dir, `minc${deadPid}-Dead00`);
      for (const d of ['root', 'storage', 'work']) mkdirSync(join(dead, d), { recursive: true });
      const gc = await execa(MINC, ['--gc'], { reject: false, stdin: 'ignore', env: base.env });
      expect(gc.exitCode).toBe(0);
      expect(existsSync(dead)).toBe(false);
      expect(existsSync(keptDir)).toBe(true);
      expect(existsSync(join(base.dir, liveDirs[0]!))).toBe(true);
      // the live run still works and cleans up after itself
      process.kill(live.pid!, 'SIGTERM');
      const r = await live;
      expect(r.stdout).toBe('got TERM');
      expect(existsSync(join(base.dir, liveDirs[0]!))).toBe(false);
      removeKept(keptDir);
      expect(base.entries()).toEqual([]);
    } finally {
      base.remove();
    }
  });
});

function readPid(dir: string): string {
  return readFileSyncSafe(join(dir, 'pid')).trim();
}

function readStatus(pid: number): string {
  return readFileSyncSafe(`/proc/${pid}/status`);
}

function readFileSyncSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

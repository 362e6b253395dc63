/**
 * cgroup limits end to end (issue 4): memory (OOM kill reported), pids,
 * cpu quota, --cpu pinning, and that the groups go with the run.  This host
 * may have the controllers on cgroup v1 or v2; the plan for each is unit
 * tested (test/unit/cgroup), these run whichever the host has.
 */
import { execa } from 'execa';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findHierarchies, type Controller } from '../../src/cgroup/config.js';
import { expectNothingLeft, runMinc, startMinc, tempdirsOf, waitFor } from '../helpers/e2e.js';
import { MINC, tempBase } from '../helpers/minc.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';

let rootfs: { dir: string; remove: () => void };
const hier = findHierarchies(readFileSync('/proc/self/mountinfo', 'utf8'), (m) => {
  try {
    return readFileSync(`${m}/cgroup.controllers`, 'utf8');
  } catch {
    return null;
  }
});

/** The group of the run whose temp dir is name, for controller c. */
const group = (c: Controller, name: string): string => `${hier[c]!.mount}/mincs/${name}`;

/** No group of these runs is left in any hierarchy. */
function expectNoGroups(pids: readonly (number | undefined)[]): void {
  for (const c of ['memory', 'cpu', 'pids'] as const) {
    const dir = `${hier[c]!.mount}/mincs`;
    const left = existsSync(dir) ? readdirSync(dir).filter((n) => pids.some((p) => p && n.startsWith(`minc${p}-`))) : [];
    expect(left, `${c} groups left`).toEqual([]);
  }
}

beforeAll(() => {
  rootfs = makeBusyboxRootfs();
});

afterAll(() => {
  rootfs.remove();
  expectNothingLeft();
});

describe('--mem-limit', () => {
  it('a memory hog over the limit is OOM-killed: status 137 and a line saying the limit was hit', async () => {
    const p = startMinc(['-r', rootfs.dir, '--mem-limit', '32M', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1']);
    const r = await p;
    expect(r.exitCode).toBe(137);
    expect(r.stderr).toMatch(/^minc: the memory limit \(--mem-limit 32M\) was hit: the kernel's OOM killer killed 1 process of the container$/m);
    expectNoGroups([p.pid]);
  });

  it('under the limit nothing happens and nothing is said', async () => {
    const p = startMinc(['-r', rootfs.dir, '--mem-limit', '64M', 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=8M', 'count=1']);
    const r = await p;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/memory limit/);
    expectNoGroups([p.pid]);
  });

  it('the limit is in the group while the container runs', async () => {
    const p = startMinc(['-r', rootfs.dir, '--mem-limit', '48M', 'sleep', '30']);
    try {
      // the command has started (TEMPDIR/pid): the set-up, limits included, is done
      await waitFor(() => tempdirsOf(p.pid).length > 0 && existsSync(`${tempBase()}/${tempdirsOf(p.pid)[0]!}/pid`), 'the command to start');
      const g = group('memory', tempdirsOf(p.pid)[0]!);
      const file = hier.memory!.version === 2 ? 'memory.max' : 'memory.limit_in_bytes';
      expect(readFileSync(`${g}/${file}`, 'utf8').trim()).toBe(String(48 * 2 ** 20));
    } finally {
      p.kill('SIGTERM');
    }
    await p;
    expectNoGroups([p.pid]);
  });
});

describe('--pid-max', () => {
  const bomb = 'i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done; echo all started; kill $(jobs -p) 2>/dev/null; true';

  it('stops a fork bomb at 20 processes', async () => {
    const p = startMinc(['-r', rootfs.dir, '--pid-max', '20', 'sh', '-c', bomb]);
    const r = await p;
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).not.toMatch(/all started/);
    expect(r.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
    expectNoGroups([p.pid]);
  });

  it('with room for them, the same 60 processes start', async () => {
    const r = await runMinc(['-r', rootfs.dir, '--pid-max', '100', 'sh', '-c', bomb]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/all started/);
  });
});

describe('--cpu-quota and --cpu', () => {
  it('--cpu-quota 50000 holds a busy loop near 50% of one CPU', async () => {
    // user+system ticks of a 2 s busy loop, from /proc/PID/stat inside (100 ticks a second)
    const script = 'sh -c "while :; do :; done" & p=$!; sleep 2; read -r l < /proc/$p/stat; kill $p; set -- $l; echo $((${14} + ${15}))';
    const p = startMinc(['-r', rootfs.dir, '-c', '1', '--cpu-quota', '50000', 'sh', '-c', script]);
    let throttled = '';
    await waitFor(() => tempdirsOf(p.pid).length > 0 && existsSync(group('cpu', tempdirsOf(p.pid)[0]!)), 'the group');
    const g = group('cpu', tempdirsOf(p.pid)[0]!);
    await new Promise((res) => setTimeout(res, 1500));
    try {
      throttled = readFileSync(`${g}/cpu.stat`, 'utf8');
    } catch {
      /* ended already */
    }
    const r = await p;
    expect(r.exitCode, r.stderr).toBe(0);
    const ticks = Number(r.stdout.trim());
    // 2 s at 50% is 100 ticks; on a busy machine it can only be less
    expect(ticks).toBeGreaterThan(40);
    expect(ticks).toBeLessThanOrEqual(115);
    expect(Number(/nr_throttled (\d+)/.exec(throttled)?.[1] ?? 0)).toBeGreaterThan(0);
    expectNoGroups([p.pid]);
  });

  it('--cpu MASK pins the container (taskset)', async () => {
    const r = await runMinc(['--cpu', '1', 'sh', '-c', 'grep Cpus_allowed_list /proc/self/status']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Cpus_allowed_list:\s+0$/);
    const r2 = await runMinc(['--cpu', '0x2', 'sh', '-c', 'grep Cpus_allowed_list /proc/self/status; sh -c "grep Cpus_allowed_list /proc/self/status"']);
    expect(r2.stdout.trim().split('\n')).toEqual(['Cpus_allowed_list:\t1', 'Cpus_allowed_list:\t1']);
  });
});

describe('the v2 mechanics on the host\'s own cgroup2 hierarchy (hybrid: no memory/cpu/pids there, hugetlb is)', () => {
  const v2 = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' - ')).find(([, post]) => post?.startsWith('cgroup2 '))?.[0]?.split(' ')[4];
  it.runIf(v2 !== undefined && hier.memory?.version === 1)('cg_make, cg_enable, cg_join and cg_remove (libexec/minc-host) make, fill and remove mincs/NAME', async () => {
    const name = `minc${process.pid}-v2test`;
    const dir = `${v2}/mincs/${name}`;
    const lib = readFileSync(new URL('../../libexec/minc-host', import.meta.url), 'utf8');
    const vars = 'MINC_DEBUG=0 MINC_DBG_ON= MINC_DBG_OFF= MINC_MKDIRP=mkdir MINC_RMDIR=rmdir MINC_SLEEP=sleep';
    const listed = (readFileSync(`${v2}/cgroup.controllers`, 'utf8').trim().split(/\s+/).filter(Boolean)[0]) ?? '';
    // the container side is another sh that joins (cg_join moves the shell itself, $$) and execs on
    const join = `${lib}\n${vars}\ncg_join "$1" && exec sh -c 'cat /proc/self/cgroup; sleep 0.3'`;
    const r = await execa('sh', ['-c', `${lib}\n${vars}\ncg_make "$1" && { [ -z "$2" ] || cg_enable "$1" "+$2"; } || exit 1
sh -c "$3" minc-join "$1" & sleep 0.1; wc -l < "$1/cgroup.procs"; wait; cg_remove "$1"; [ -d "$1" ] && echo left; [ -d "\${1%/*}" ] && echo parent-left; true`, 'sh', dir, listed, join], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`0::/mincs/${name}`);
    expect(r.stdout).toMatch(/^[12]$/m);
    expect(r.stdout).not.toMatch(/left/);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('what the host cannot honour is a clear error, nothing created', () => {
  it('bad values', async () => {
    for (const [args, msg] of [
      [['--mem-limit', '12Q'], "minc: --mem-limit '12Q': expected a size such as 512M or 1G"],
      [['--mem-swap', '1G'], 'minc: --mem-swap needs --mem-limit (it limits memory + swap)'],
      [['--cpu-quota', 'half'], "minc: --cpu-quota 'half': expected a whole number from 1000 to 102400000"],
      [['--cpu', 'ff00000000'], /^minc: --cpu 'ff00000000': none of these CPUs is online \(online: [\d,]+\)$/],
    ] as const) {
      const p = startMinc([...args, 'true']);
      const r = await p;
      expect(r.exitCode).toBe(2);
      if (typeof msg === 'string') expect(r.stderr.trim()).toBe(msg);
      else expect(r.stderr.trim()).toMatch(msg);
      expect(tempdirsOf(p.pid)).toEqual([]);
    }
  });

  it('a controller the host does not have (its hierarchy unmounted in a private mount namespace)', async () => {
    const v1 = hier.memory?.version === 1;
    const script = v1 ? 'umount /sys/fs/cgroup/memory && exec "$MINC" --mem-limit 64M true'
      : 'mount -t tmpfs none /sys/fs/cgroup && exec "$MINC" --mem-limit 64M true';
    const r = await execa('unshare', ['-m', 'sh', '-c', script], { reject: false, stdin: 'ignore', env: { ...process.env, MINC } });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim()).toBe('minc: --mem-limit: this host has no memory cgroup controller (neither in cgroup v2 nor mounted as v1)');
  });
});

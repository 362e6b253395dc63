import { describe, expect, it } from 'vitest';
import type { Config } from '../../../src/options/validate.js';
import { buildPlan } from '../../../src/plan/build.js';
import { crossSteps } from '../../../src/plan/cross.js';
import { TOOLS, type Tool } from '../../../src/plan/paths.js';
import { STAGE_FUNCTIONS, type Step } from '../../../src/plan/types.js';
import type { Facts } from '../../../src/run/facts.js';

const TEMP = '/run/minc123-abcdef';
const tools = Object.fromEntries(TOOLS.map((t: Tool) => [t, `/opt/hosttools/${t}.bin`]));
const facts = { tools, ldso: '/lib64/ld.so', libpath: '/usr/lib', ttyMode: false, existing: new Map(), hostname: 'h' } as unknown as Facts;
const LINE = ':minc-qemu-aarch64:M:0:\\x7f\\x45:\\xff\\xff:/usr/bin/qemu-aarch64-static:FP';
const config = (over: Partial<Config> = {}): Config => ({
  command: ['true'], rootdir: '/r', direct: false, keep: false, binds: [], usedev: false, asPid1: false, preserveFds: 0, debug: false, dryRun: false, ...over,
});
const cross = { arch: 'arm64', qemu: 'aarch64', interpreter: '/usr/bin/qemu-aarch64-static', register: LINE };
const fn = (st: Step): string => String(st.argv[0]);

describe('crossSteps', () => {
  it('none without --cross, and none on a kernel where the host registration is used (no register line)', () => {
    expect(crossSteps({ config: config(), facts, tempdir: TEMP })).toEqual([]);
    const { register: _, ...hostReg } = cross;
    expect(crossSteps({ config: config({ cross: hostReg }), facts, tempdir: TEMP })).toEqual([]);
    expect(buildPlan({ config: config(), facts, tempdir: TEMP }).steps.some((st) => fn(st) === 'cross_enter')).toBe(false);
  });

  it("enters the user namespace, mounts its own binfmt_misc inside the new root's /proc, registers with F, binds the root onto itself", () => {
    const st = crossSteps({ config: config({ cross }), facts, tempdir: TEMP });
    expect(st.map((s) => s.argv.map((a) => (typeof a === 'string' ? a : a.sh)))).toEqual([
      [tools.mkfifo, '-m', '600', `${TEMP}/crossgo`],
      ['cross_enter', tools.unshare, tools.sh, `${TEMP}/crossgo`, '--', '"$@"'],
      [tools.mount, '-t', 'binfmt_misc', '-o', 'nosuid,nodev,noexec', 'minc-binfmt', `${TEMP}/root/proc/sys/fs/binfmt_misc`],
      ['binfmt_register', `${TEMP}/root/proc/sys/fs/binfmt_misc/register`, LINE],
      [tools.mount, '--rbind', `${TEMP}/root`, `${TEMP}/root`],
    ]);
    // the exec keeps the stderr it has: never the step's captured one
    expect(st[1]!.userOutput).toBe(true);
    for (const s of st) if (!s.argv[0]!.toString().startsWith('/')) expect(STAGE_FUNCTIONS).toContain(s.argv[0]);
  });

  it('in buildPlan: after every mount below the root and the joined lane, right before pivot_root, and never in a lane', () => {
    const v = buildPlan({ config: config({ cross, binds: [{ source: '/etc', target: '/mnt', readonly: true }] }), facts, tempdir: TEMP }).steps;
    const enter = v.findIndex((st) => fn(st) === 'cross_enter');
    const pivot = v.findIndex((st) => fn(st) === 'pivot');
    expect(enter).toBeGreaterThan(v.findIndex((st) => fn(st) === 'join_lane'));
    expect(enter).toBeGreaterThan(v.findIndex((st) => fn(st) === 'bind'));
    expect(pivot).toBe(enter + 4);
    expect(fn(v[enter - 1]!)).toBe(tools.mkfifo);
    expect(v.filter((st) => st.lane).some((st) => fn(st).startsWith('cross') || fn(st) === 'binfmt_register')).toBe(false);
  });
});

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HOST_BOOT, HOST_PATH, hostPlan, renderHostScript, undoLine, wrapLauncher } from '../../../src/host/run.js';
import type { Config } from '../../../src/options/validate.js';
import { parseArgs } from '../../../src/options/parse.js';
import { validateExtra, x11Binds } from '../../../src/options/hostopts.js';
import { parsePort, parseSubnet } from '../../../src/net/config.js';
import { FTRACE_SH, TRACEFS_SH, extraNsSteps } from '../../../src/plan/nsoptions.js';

const scratch = mkdtempSync('/tmp/minc-unit-host-');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const LAUNCHER = ['/usr/bin/setpriv', '--pdeathsig', 'KILL', '--', '/usr/bin/unshare', '--ipc', '--', '/bin/sh', '-c', 'BOOT', 'minc-init', 'true'];
const config = (over: Partial<Config>): Config => ({
  command: ['true'], rootdir: '/', direct: false, keep: false, binds: [], usedev: false, asPid1: false, preserveFds: 0, debug: false, dryRun: false, ...over,
});

describe('the launcher', () => {
  it('is unchanged when nothing is needed on the host; --cpu puts taskset before unshare', () => {
    expect(wrapLauncher(LAUNCHER, '/usr/bin/unshare', { steps: [], prefix: [], unshare: [] })).toEqual(LAUNCHER);
    const plan = hostPlan(config({ cpuMask: { mask: '3', taskset: '/usr/bin/taskset' } }), '/run/minc1-aaaaaa');
    expect(wrapLauncher(LAUNCHER, '/usr/bin/unshare', plan)).toEqual([...LAUNCHER.slice(0, 4), '/usr/bin/taskset', '3', ...LAUNCHER.slice(4)]);
  });

  it('--net raw only adds --net to unshare', () => {
    const net = { mode: 'raw' as const, ports: [], tools: { ip: '/sbin/ip' } };
    const plan = hostPlan(config({ net }), '/run/minc1-aaaaaa', { net, tempdir: '/run/minc1-aaaaaa', address: '', stateDir: '', netnsIno: '1' });
    expect(wrapLauncher(LAUNCHER, '/usr/bin/unshare', plan)).toEqual([...LAUNCHER.slice(0, 5), '--net', ...LAUNCHER.slice(5)]);
  });

  it('with host steps: the host stage first, then nsenter into the named netns and unshare', () => {
    const net = { mode: 'dens' as const, ports: [parsePort('80')], subnet: parseSubnet('10.1.1.X/24'), tools: { ip: '/sbin/ip', nsenter: '/usr/bin/nsenter' } };
    const plan = hostPlan(config({ net }), '/run/minc1-aaaaaa', { net, tempdir: '/run/minc1-aaaaaa', address: '10.1.1.2', stateDir: '/run/mincs/net/1', netnsIno: '1' });
    expect(wrapLauncher(LAUNCHER, '/usr/bin/unshare', plan, '/bin/sh')).toEqual([
      ...LAUNCHER.slice(0, 4), '/bin/sh', '-c', HOST_BOOT, 'minc-host', '/usr/bin/nsenter', '--net=/run/netns/minc1-aaaaaa', '--', ...LAUNCHER.slice(4),
    ]);
  });
});

/** libexec/minc-host with its variables, then text instead of the launcher's exec (no root needed for these functions). */
const hostScript = (text: string, vars: Record<string, string> = {}): string =>
  renderHostScript(readFileSync(HOST_PATH, 'utf8'), { MINC_DEBUG: '0', MINC_DBG_ON: '', MINC_DBG_OFF: '', MINC_TEMPDIR: scratch, MINC_NETNS_INO: '7', MINC_FLOCK: 'flock', MINC_RM: 'rm', ...vars }, [])
    .replace('exec "$@"\n', text);

/** Run sh text with libexec/minc-host loaded; its stdout. */
const sh = (text: string, vars: Record<string, string> = {}): string => execFileSync('sh', ['-c', hostScript(text, vars)], { encoding: 'utf8' });

describe('libexec/minc-host', () => {
  it('records each undo before its step and runs them last first, failures ignored', () => {
    const steps = [
      { why: 'one', argv: ['true'], undo: { why: 'undo one', argv: ['echo', 'u1'] } },
      { why: 'two', argv: ['true'], undo: { why: "undo two's", argv: ['sh', '-c', 'echo "u2 $1"; exit 3', 'x', 'a b|c'] } },
      { why: 'three', argv: ['true'], undo: { why: 'other netns', argv: ['in_net', '8', 'echo', 'never'] } },
      { why: 'four', argv: ['true'], undo: { why: 'this netns', argv: ['in_net', '7', 'echo', 'u4'] } },
    ];
    const script = renderHostScript(readFileSync(HOST_PATH, 'utf8'), { MINC_DEBUG: '0', MINC_DBG_ON: '', MINC_DBG_OFF: '', MINC_TEMPDIR: scratch, MINC_NETNS_INO: '7' }, steps)
      .replace('exec "$@"\n', 'run_undo "$MINC_TEMPDIR/undo"\n');
    expect(execFileSync('sh', ['-c', script], { encoding: 'utf8' })).toBe('u4\nu2 a b|c\nu1\n');
    expect(readFileSync(join(scratch, 'undo'), 'utf8').split('\n').filter(Boolean)).toEqual(steps.map((s) => undoLine(s.undo)));
    rmSync(join(scratch, 'undo'));
  });

  it('cg_remove removes an emptied group; one that stays busy gets what is in it killed, then fails run_undo with a line naming it', () => {
    const cg = mkdtempSync(join(scratch, 'cg-'));
    // a removable "group", and one rmdir cannot remove (its cgroup.procs names a live process)
    const gone = join(cg, 'empty');
    const busy = join(cg, 'busy');
    execFileSync('mkdir', ['-p', gone, busy]);
    const victim = spawn('sleep', ['60'], { stdio: 'ignore' });
    writeFileSync(join(busy, 'cgroup.procs'), `${victim.pid}\n`);
    const killed = new Promise<string | null>((resolve) => victim.on('exit', (_c, sig) => resolve(sig)));
    writeFileSync(join(scratch, 'undo'), `undo_step 'Remove the cgroups' cg_remove ${gone} ${busy}\n`);
    const r = spawnSync('sh', ['-c', hostScript('run_undo "$MINC_TEMPDIR/undo"\n', { MINC_RMDIR: 'rmdir', MINC_SLEEP: 'true' })], { encoding: 'utf8' });
    expect(existsSync(gone)).toBe(false);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toBe(`minc: could not remove the cgroup ${busy}\n`);
    rmSync(join(scratch, 'undo'));
    rmSync(cg, { recursive: true, force: true });
    return expect(killed).resolves.toBe('SIGKILL');
  });

  it('a failing step ends the stage with 125 and a line naming it', () => {
    const script = renderHostScript(readFileSync(HOST_PATH, 'utf8'), { MINC_DEBUG: '0', MINC_DBG_ON: '', MINC_DBG_OFF: '', MINC_TEMPDIR: scratch, MINC_NETNS_INO: '7' },
      [{ why: 'Make the thing', argv: ['false'] }]);
    let err: { status?: number; stderr?: string } = {};
    try {
      execFileSync('sh', ['-c', script, 'minc-host', 'echo', 'launched'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.status).toBe(125);
    expect(err.stderr).toBe("minc: Make the thing: 'false' failed (status 1)\n");
  });

  it('ipt_lines splits a rules word at |, keeping !, * and [0:0] as they are', () => {
    expect(sh('ipt_lines "*nat|:MINCS_NAT - [0:0]|-A X ! -o br -j MASQUERADE|COMMIT"')).toBe('*nat\n:MINCS_NAT - [0:0]\n-A X ! -o br -j MASQUERADE\nCOMMIT\n');
  });

  it('has_link reads this namespace\'s interfaces; leases_left sees a lease file; locked runs under flock', () => {
    expect(sh('has_link lo && echo yes; has_link nonexist0 || echo no')).toBe('yes\nno\n');
    sh('mkdir -p "$MINC_TEMPDIR/st/leases"');
    expect(sh('leases_left "$MINC_TEMPDIR/st" || echo none')).toBe('none\n');
    writeFileSync(join(scratch, 'st/leases/10.0.0.2'), '/run/x\n');
    expect(sh('leases_left "$MINC_TEMPDIR/st" && echo some')).toBe('some\n');
    expect(sh('locked "$MINC_TEMPDIR/st/lock" echo inside')).toBe('inside\n');
  });
});

describe('validation of issue 4 options', () => {
  const v = (argv: string[], env: NodeJS.ProcessEnv = {}) => validateExtra(parseArgs(argv), env);
  it('says what is wrong in one line', () => {
    expect(() => x11Binds(parseArgs(['-X', 'true']), {})).toThrow('-X/--X11: $DISPLAY is empty: there is no X display to share');
    expect(x11Binds(parseArgs(['true']), {})).toEqual([]);
    expect(() => v(['--cpu', 'zz', 'true'])).toThrow("--cpu 'zz': expected a hexadecimal CPU mask");
    expect(() => v(['--cpu', '0', 'true'])).toThrow(/hexadecimal CPU mask/);
    expect(() => v(['--cpu', '100000000000000', 'true'])).toThrow(/none of these CPUs is online/);
    expect(() => v(['--ftrace', '/nonexistent/script', 'true'])).toThrow("--ftrace '/nonexistent/script': no such file");
    expect(() => v(['--ftrace', '/tmp', 'true'])).toThrow("--ftrace '/tmp': not a file");
    expect(() => v(['--mem-swap', '1G', 'true'])).toThrow('--mem-swap needs --mem-limit');
    expect(() => v(['--net=bogus', 'true'])).toThrow("--net 'bogus': unknown network mode");
  });

  it('--net WORD: WORD is the command (MINCS) when the root has it, else a usage error naming both', () => {
    const root = join(scratch, 'root');
    execFileSync('mkdir', ['-p', `${root}/usr/bin`]);
    writeFileSync(`${root}/usr/bin/mytool`, '');
    expect(validateExtra(parseArgs(['--net', 'mytool']), { PATH: '/usr/bin' }, [root]).net?.mode).toBe('raw');
    expect(() => validateExtra(parseArgs(['--net', 'nonexist']), { PATH: '/usr/bin' }, [root]))
      .toThrow("--net: 'nonexist' is neither a network mode (raw, raw,IFACE or dens) nor a command in the container's PATH");
    expect(() => validateExtra(parseArgs(['--net', './nonexist']), { PATH: '/usr/bin' }, [root])).not.toThrow();
  });

  it('-p implies dens, also after a bare --net; nothing asked, nothing added', () => {
    expect(v(['-p', '80', 'true']).net?.mode).toBe('dens');
    expect(v(['--net', '-p', '80', 'true']).net?.mode).toBe('dens');
    expect(v(['--net', 'true']).net).toMatchObject({ mode: 'raw', ports: [] });
    expect(v(['true'])).toEqual({});
    expect(v(['-c', '1', 'true']).cpuMask?.mask).toBe('1');
  });
});

describe('namespace-side steps (src/plan/nsoptions.ts)', () => {
  const facts = { tools: { mount: '/bin/mount', sh: '/bin/sh' }, ldso: '/lib/ld.so', libpath: '/lib', ttyMode: false, existing: new Map(), hostname: 'h' } as never;
  const steps = (over: Partial<Config>) => extraNsSteps({ config: config(over), facts, tempdir: '/run/minc1-aaaaaa' });

  it('none for a plain run', () => {
    expect(steps({})).toEqual([]);
  });

  it('lo up for a plain --net raw only; debugfs below the new root; ftrace with the host pid of init', () => {
    expect(steps({ net: { mode: 'raw', ports: [], tools: { ip: '/sbin/ip' } } }).map((s) => s.argv)).toEqual([['/sbin/ip', 'link', 'set', 'lo', 'up']]);
    expect(steps({ net: { mode: 'dens', ports: [], tools: { ip: '/sbin/ip' } } })).toEqual([]);
    expect(steps({ debugfs: true }).map((s) => s.argv)).toEqual([['/bin/mount', '-t', 'debugfs', '-o', 'nosuid,nodev,noexec', 'debugfs', '/run/minc1-aaaaaa/root/sys/kernel/debug']]);
    const ft = steps({ ftrace: '/srv/trace.sh' });
    // tracefs mounted by sh unless the host has it there already
    expect(ft[0]!.argv).toEqual(['/bin/sh', '-c', TRACEFS_SH, 'minc-tracefs', '/sys/kernel/tracing', '/bin/mount']);
    expect(ft[1]!.argv).toEqual(['/bin/sh', '-c', FTRACE_SH, 'minc-ftrace', { sh: '"$MINC_HOSTPID"' }, '/srv/trace.sh', '/sys/kernel/tracing']);
  });
});

describe('netnsAlive', () => {
  it('finds a namespace by a process in it or by its name under /run/netns; a gone one is not alive', async () => {
    const { netnsAlive, netnsIno } = await import('../../../src/host/run.js');
    const { mkdtempSync, rmSync, symlinkSync } = await import('node:fs');
    const named = mkdtempSync('/tmp/minc-unit-netns-');
    try {
      expect(netnsAlive(netnsIno(), '/proc', named)).toBe(true); // this process is in it
      expect(netnsAlive(netnsIno(), `${named}/noproc`, named)).toBe(false);
      symlinkSync('/proc/self/ns/net', `${named}/ours`);
      expect(netnsAlive(netnsIno(), `${named}/noproc`, named)).toBe(true);
      expect(netnsAlive('1', '/proc', named)).toBe(false);
    } finally {
      rmSync(named, { recursive: true, force: true });
    }
  });
});

/**
 * -X/--X11, --debugfs and --ftrace end to end (issue 4).  The X11 socket
 * directory is faked in a private mount namespace (a tmpfs on /tmp there), so
 * the host's /tmp is untouched; the ftrace test resets the pid filters it set.
 */
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNothingLeft, runMinc, startMinc, tempdirsOf } from '../helpers/e2e.js';
import { MINC, mincMounts } from '../helpers/minc.js';

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync('/tmp/minc-e2e-x11-');
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  expectNothingLeft();
});

describe('-X/--X11', () => {
  it('binds /tmp/.X11-unix and $XAUTHORITY into the container', async () => {
    // a tmpfs on /tmp/.X11-unix only (the checkout may live under /tmp: CI's clone does)
    const script = 'mkdir -p /tmp/.X11-unix && mount -t tmpfs tmpfs /tmp/.X11-unix && echo socket > /tmp/.X11-unix/X0 && exec "$MINC" -X sh -c \'cat /tmp/.X11-unix/X0 "$XAUTHORITY"; echo "$DISPLAY"\'';
    const auth = mkdtempSync('/run/minc-e2e-xauth-');
    const hadSocketDir = existsSync('/tmp/.X11-unix');
    try {
      writeFileSync(join(auth, 'Xauthority'), 'cookie\n');
      const r = await execa('unshare', ['-m', 'sh', '-c', script], {
        reject: false, stdin: 'ignore', env: { ...process.env, MINC, DISPLAY: ':0', XAUTHORITY: join(auth, 'Xauthority') },
      });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toBe('socket\ncookie\n:0');
    } finally {
      rmSync(auth, { recursive: true, force: true });
      // the mount point the test made on the host (the tmpfs was in the private namespace only)
      if (!hadSocketDir) rmdirSync('/tmp/.X11-unix');
    }
    expect(mincMounts()).toEqual([]);
  });

  it('an empty $DISPLAY is a clear error, nothing created', async () => {
    const p = startMinc(['-X', 'true'], { env: { ...process.env, DISPLAY: '' } });
    const r = await p;
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim()).toBe('minc: -X/--X11: $DISPLAY is empty: there is no X display to share');
    expect(tempdirsOf(p.pid)).toEqual([]);
  });
});

describe('--debugfs and --ftrace', () => {
  it('--debugfs mounts debugfs at /sys/kernel/debug; without it there is none', async () => {
    const r = await runMinc(['--debugfs', 'sh', '-c', 'grep " /sys/kernel/debug " /proc/mounts']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^debugfs \/sys\/kernel\/debug debugfs /);
    const r2 = await runMinc(['sh', '-c', 'grep -c " /sys/kernel/debug " /proc/mounts || true']);
    expect(r2.stdout.trim()).toBe('0');
  });

  it('--ftrace sets the event pid filter on the container init and runs SCRIPT in tracefs with MINC_PID', async () => {
    const out = join(scratch, 'ftrace-out');
    const script = join(scratch, 'ftrace.sh');
    // what a user script does: read what minc set, then (here) reset it again
    writeFileSync(script, `echo "pid=$MINC_PID cwd=$(pwd)" > ${out}\ncat set_event_pid >> ${out}\necho > set_event_pid\n`);
    const p = startMinc(['--ftrace', script, 'sh', '-c', 'echo ran']);
    const r = await p;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran');
    const [first, filter] = readFileSync(out, 'utf8').split('\n');
    const pid = /^pid=(\d+) cwd=\/sys\/kernel\/tracing$/.exec(first!)?.[1];
    expect(pid).toBeDefined();
    expect(filter).toBe(pid);
    expect(mincMounts()).toEqual([]);
  });

  it('--ftrace uses the tracefs the host has mounted already (systemd mounts it at boot): no second mount', async () => {
    const out = join(scratch, 'ftrace-mounted-out');
    const script = join(scratch, 'ftrace-mounted.sh');
    writeFileSync(script, `grep -c " /sys/kernel/tracing " /proc/self/mountinfo > ${out}\ncat set_event_pid >> ${out}\necho > set_event_pid\n`);
    // tracefs mounted in a private mount namespace, as on a host that has it: the host's own mounts stay as they are
    const pre = 'grep -q " /sys/kernel/tracing " /proc/self/mountinfo || mount -t tracefs tracefs /sys/kernel/tracing || exit 99; exec "$MINC" --ftrace "$1" sh -c "echo ran"';
    const r = await execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', pre, 'pre', script], { reject: false, stdin: 'ignore', env: { ...process.env, MINC } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('ran');
    const [mounts, filter] = readFileSync(out, 'utf8').split('\n');
    expect(mounts).toBe('1');
    expect(Number(filter)).toBeGreaterThan(0);
    expect(mincMounts()).toEqual([]);
  });

  it('--ftrace with a missing script is a clear error, nothing created', async () => {
    const p = startMinc(['--ftrace', join(scratch, 'nonexistent.sh'), 'true']);
    const r = await p;
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim()).toBe(`minc: --ftrace '${join(scratch, 'nonexistent.sh')}': no such file`);
    expect(tempdirsOf(p.pid)).toEqual([]);
  });
});

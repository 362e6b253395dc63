/**
 * minc --qemu: the command runs in a guest that boots the host distribution's
 * kernel.  Where /dev/kvm can boot a stock kernel the tests use KVM; where it
 * cannot (a PVM host, kvm_pvm: this one) they run the same checks under TCG
 * (--qemu-tcg), a few seconds a boot.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { release } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateBase, processesWithArg, removeKept, reuseDir, runMinc, startMinc, tempdirsOf, waitFor } from '../helpers/e2e.js';
import { MINC } from '../helpers/minc.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';

const kvm = existsSync('/dev/kvm') && !existsSync('/sys/module/kvm_pvm');
const QEMU = kvm ? ['--qemu'] : ['--qemu', '--qemu-tcg'];
/** the guest kernel: the newest /boot/vmlinuz-* */
const guestVersion = readdirSync('/boot').filter((n) => n.startsWith('vmlinuz-')).map((n) => n.slice(8))
  .sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1);

let rootfs: { dir: string; remove: () => void };
let base: ReturnType<typeof privateBase>;
const T = 60_000;

/**
 * Runs argv on a new pty of ROWS x COLS (python3's pty module: a real
 * terminal, minc in its foreground), types as the script says, and returns
 * all the pty printed and the status.  steps: [wait for this text, then
 * resize to [rows, cols] or type this string]; after minc, the shell prints
 * whether the terminal's ONLCR is back ("onlcr" or "-onlcr").
 */
const PTY = String.raw`
import fcntl, json, os, pty, select, struct, sys, termios, time
argv, rows, cols, steps = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
    os.execvp('sh', ['sh', '-c', 'trap : INT; "$@"; s=$?; stty -a | grep -oE -- "-?onlcr"; exit $s', 'sh'] + argv)
out = b''
deadline = time.time() + 50
def until(text):
    global out
    while text.encode() not in out and time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try: out += os.read(fd, 4096)
            except OSError: return
for wait, act in steps:
    until(wait)
    time.sleep(0.5)
    if isinstance(act, list): fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', act[0], act[1], 0, 0))
    else: os.write(fd, act.encode())
until('\0never')
_, st = os.waitpid(pid, 0)
print(json.dumps({'out': out.decode('latin1'), 'status': os.waitstatus_to_exitcode(st)}))
`;
/** A port free on 127.0.0.1 now (qemu binds it for -p a moment later). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** What a connection to 127.0.0.1:port gets before it closes ('' on an error). */
function fetchLine(port: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const c = connect(port, '127.0.0.1');
    c.on('data', (d: Buffer) => (got += d.toString()));
    c.on('end', () => resolve(got));
    c.on('error', () => resolve(''));
    c.end();
  });
}

async function onPty(argv: string[], rows: number, cols: number, steps: [string, string | [number, number]][], env: NodeJS.ProcessEnv): Promise<{ out: string; status: number }> {
  const { stdout } = await promisify(execFile)('python3', ['-c', PTY, JSON.stringify([argv, rows, cols, steps])], { env, timeout: 55_000 });
  return JSON.parse(stdout) as { out: string; status: number };
}

beforeAll(() => {
  rootfs = makeBusyboxRootfs();
  writeFileSync(join(rootfs.dir, 'etc/marker'), 'busybox rootfs\n');
  base = privateBase();
});

afterAll(() => {
  rootfs.remove();
  expect(base.entries()).toEqual([]);
  base.remove();
});

describe('minc --qemu', () => {
  it('runs the command under another kernel, with its stdin, stdout, stderr and exit status, and nothing else', async () => {
    expect(guestVersion).toBeDefined();
    const r = await runMinc([...QEMU, 'sh', '-c', 'uname -r; cat; echo to-stderr >&2; exit 7'], { input: 'piped in\n', stdin: undefined, env: base.env });
    expect(r.stderr).toBe('to-stderr');
    expect(r.stdout).toBe(`${guestVersion}\npiped in`);
    expect(r.exitCode).toBe(7);
    expect(guestVersion).not.toBe(release());
    expect(base.entries()).toEqual([]);
  }, T);

  it('boots into a rootfs (-r DIR); writes are thrown away', async () => {
    const r = await runMinc([...QEMU, '-r', rootfs.dir, 'sh', '-c', 'cat /etc/marker; echo changed > /etc/marker; rm /bin/ls; cat /etc/marker'], { env: base.env });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('busybox rootfs\nchanged');
    expect(r.exitCode).toBe(0);
    expect(readFileSync(join(rootfs.dir, 'etc/marker'), 'utf8')).toBe('busybox rootfs\n');
    expect(existsSync(join(rootfs.dir, 'bin/ls'))).toBe(true);
    expect(base.entries()).toEqual([]);
  }, T);

  it('shares the root over virtiofs with MINC_QEMU_FS=virtiofs, and only the command writes to stderr', async () => {
    const r = await runMinc([...QEMU, '-r', rootfs.dir, 'sh', '-c', 'cat /etc/marker; grep -c " / virtiofs " /proc/mounts; echo to-stderr >&2'],
      { env: { ...base.env, MINC_QEMU_FS: 'virtiofs' } });
    expect(r.stdout).toBe('busybox rootfs\n1');
    expect(r.stderr).toBe('to-stderr');
    expect(r.exitCode).toBe(0);
    expect(base.entries()).toEqual([]);
  }, T);

  it('keeps the writes with -k, and -t DIR boots with them again', async () => {
    const r = await runMinc([...QEMU, '-k', '-r', rootfs.dir, 'sh', '-c', 'echo kept > /root/file'], { env: base.env });
    expect(r.exitCode).toBe(0);
    const dir = reuseDir(r.stderr);
    expect(readFileSync(join(dir, 'storage/root/file'), 'utf8')).toBe('kept\n');
    const again = await runMinc([...QEMU, '-t', dir, 'cat', '/root/file'], { env: base.env });
    expect(again.stdout).toBe('kept');
    expect(again.exitCode).toBe(0);
    expect(readdirSync(dir)).not.toContain('vm'); // the guest's control files go
    removeKept(dir);
  }, T);

  it('passes signals sent to minc (a SIGHUP, then a SIGTERM) on to the command', async () => {
    const run = startMinc([...QEMU, '-r', rootfs.dir, 'sh', '-c', "trap 'echo got HUP' HUP; trap 'echo got TERM; exit 42' TERM; echo ready; while :; do sleep 1; done"],
      { env: base.env, stdout: 'pipe' });
    let out = '';
    (run as unknown as { stdout: NodeJS.ReadableStream }).stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('ready'), 'the command to start', 45_000);
    run.kill('SIGHUP');
    await waitFor(() => out.includes('got HUP'), 'the command to get the SIGHUP', 10_000);
    run.kill('SIGTERM');
    const r = await run;
    expect(r.stdout).toBe('ready\ngot HUP\ngot TERM');
    expect(r.exitCode).toBe(42);
    expect(base.entries()).toEqual([]);
  }, T);

  it('leaves nothing running after a SIGKILL of minc; --gc reclaims the temp dir', async () => {
    const run = startMinc([...QEMU, '-r', rootfs.dir, 'sh', '-c', 'echo ready; sleep 60'], { env: base.env, stdout: 'pipe' });
    let out = '';
    (run as unknown as { stdout: NodeJS.ReadableStream }).stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('ready'), 'the command to start', 45_000);
    const [name] = tempdirsOf(run.pid, base.dir);
    expect(name).toBeDefined();
    const root = `local,path=${base.dir}/${name}/root,mount_tag=minc-root,security_model=passthrough,multidevs=remap`;
    expect(processesWithArg(root).length).toBe(1); // qemu, found by its share
    run.kill('SIGKILL');
    await run;
    await waitFor(() => processesWithArg(root).length === 0, 'qemu to die', 10_000);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(`${base.dir}/${name}`);
    const gc = spawnSync(MINC, ['--gc'], { env: base.env, encoding: 'utf8' });
    expect(gc.status).toBe(0);
    expect(base.entries()).toEqual([]);
  }, T);

  it('gives a terminal a tty of its size (resized with it), typed input, ^C, the status, and the terminal back as it was', async () => {
    const cmd = "trap 'echo int; exit 3' INT; stty size; tty; echo ready; read x; stty size; echo got:$x; sleep 30; echo not-reached";
    const r = await onPty([MINC, ...QEMU, 'sh', '-c', cmd], 33, 101, [['ready', [40, 120]], ['ready', 'abc\r'], ['got:', '\x03']], base.env);
    // the guest's tty echoes (the host's is raw) and ends lines with \r\n once; nothing of the boot shows
    expect(r.out).toBe('33 101\r\n/dev/hvc0\r\nready\r\nabc\r\n40 120\r\ngot:abc\r\n^Cint\r\nonlcr\r\n');
    expect(r.status).toBe(3);
    expect(base.entries()).toEqual([]);
  }, T);

  it('gives the guest --cpu vCPUs, --mem-limit memory, --name, and -b shares (ro and rw, mounted through a link of the root)', async () => {
    const dir = mkdtempSync('/tmp/minc-e2e-qemu-binds-');
    try {
      mkdirSync(join(dir, 'ro'));
      mkdirSync(join(dir, 'rw'));
      writeFileSync(join(dir, 'ro/f'), 'read-only share\n');
      writeFileSync(join(dir, 'rw/f'), 'read-write share\n');
      symlinkSync('/srv', join(rootfs.dir, 'data')); // an absolute link: it must resolve inside the guest's root
      mkdirSync(join(rootfs.dir, 'srv'));
      const cmd = 'busybox nproc; grep MemTotal /proc/meminfo; hostname; cat /ro/f /data/rw/f; echo no > /ro/g || echo ro-refused; '
        + 'echo from-guest > /data/rw/g; cat /srv/rw/g';
      const r = await runMinc([...QEMU, '-r', rootfs.dir, '--cpu', '0x3', '--mem-limit', '384M', '--name', 'guestbox',
        '-b', `${dir}/ro:/ro:ro`, '-b', `${dir}/rw:/data/rw`, 'sh', '-c', cmd], { env: base.env });
      const lines = r.stdout.split('\n');
      expect(lines[0]).toBe('2');
      const kb = Number(/^MemTotal:\s+(\d+) kB$/.exec(lines[1]!)?.[1]);
      expect(kb).toBeGreaterThan(384 * 1024 * 0.7); // what the kernel keeps for itself is not shown
      expect(kb).toBeLessThanOrEqual(384 * 1024); // not the default 512M
      expect(lines.slice(2)).toEqual(['guestbox', 'read-only share', 'read-write share', 'ro-refused', 'from-guest']);
      expect(r.stderr).toMatch(/^sh: (can't create \/ro\/g: )?Read-only file system$/);
      expect(r.exitCode).toBe(0);
      expect(readFileSync(join(dir, 'rw/g'), 'utf8')).toBe('from-guest\n');
      expect(existsSync(join(dir, 'ro/g'))).toBe(false);
      expect(base.entries()).toEqual([]);
    } finally {
      rmSync(join(rootfs.dir, 'data'));
      rmSync(join(rootfs.dir, 'srv'), { recursive: true });
      rmSync(dir, { recursive: true, force: true });
    }
  }, T);

  it('--net: the guest reaches a server of the host at the gateway 10.0.2.2, and -p forwards a host port to a server in the guest', async () => {
    const host = createServer((s) => s.end('from the host\n'));
    await new Promise<void>((r) => host.listen(0, '127.0.0.1', r));
    const hostPort = (host.address() as AddressInfo).port;
    const fwd = await freePort();
    try {
      const run = startMinc([...QEMU, '-r', rootfs.dir, '--net', '-p', `${fwd}:8080`, 'sh', '-c',
        `nc 10.0.2.2 ${hostPort} </dev/null; echo ready; nc -l -p 8080 -e echo served by the guest; echo done`], { env: base.env, stdout: 'pipe' });
      let out = '';
      (run as unknown as { stdout: NodeJS.ReadableStream }).stdout.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor(() => out.includes('ready'), 'the guest to start its server', 45_000);
      // qemu accepts on the host port at once; until the guest listens, the connection closes empty
      let got = '';
      for (let end = Date.now() + 10_000; got === '' && Date.now() < end;) {
        got = await fetchLine(fwd);
        if (got === '') await new Promise((r) => setTimeout(r, 100));
      }
      expect(got).toBe('served by the guest\n');
      const r = await run;
      expect(r.stdout).toBe('from the host\nready\ndone');
      expect(r.exitCode).toBe(0);
      expect(base.entries()).toEqual([]);
    } finally {
      host.close();
    }
  }, T);

  it('with stdin a terminal and stdout a pipe, leaves the terminal as it is (echo, Enter, ^D) and a ^C goes to the command', async () => {
    const cmd = "trap 'echo int; exit 4' INT; read x; echo got:$x; cat; echo eof; sleep 30; echo not-reached";
    const script = `trap : INT; { trap : INT; ${MINC} ${QEMU.join(' ')} sh -c "$1"; echo status=$?; } | (trap "" INT; cat)`;
    const r = await onPty(['sh', '-c', script, 'sh', cmd], 33, 101, [['', 'abc\r'], ['got:', '\x04'], ['eof', '\x03']], base.env);
    // the terminal echoes what is typed and ^C; the guest reads a line, then EOF; the shells here only catch
    // the ^C (a subshell resets a caught signal: the group needs its own trap), the cat after minc ignores it
    expect(r.out).toBe('abc\r\ngot:abc\r\neof\r\n^Cint\r\nstatus=4\r\nonlcr\r\n');
    expect(r.status).toBe(0);
    expect(base.entries()).toEqual([]);
  }, T);

  it('says so for an option that makes no sense in a guest, and makes nothing', async () => {
    const r = await runMinc([...QEMU, '--usedev', 'true'], { env: base.env });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe("minc: --usedev makes no sense with --qemu: the guest's /dev is its own kernel's");
    const file = await runMinc([...QEMU, '-b', '/etc/hostname:/x', 'true'], { env: base.env });
    expect(file.stderr).toBe("minc: --bind '/etc/hostname': only a directory can be shared into a guest");
    expect(file.exitCode).toBe(2);
    expect(base.entries()).toEqual([]);
  });
});

describe('minc --qemu with a bad kernel', () => {
  it('--qemu-kernel FILE that is no kernel is one clear line', async () => {
    const dir = mkdtempSync('/tmp/minc-e2e-qemu-');
    try {
      writeFileSync(join(dir, 'notakernel'), 'hello');
      const r = await runMinc([...QEMU, '--qemu-kernel', join(dir, 'notakernel'), 'true'], { env: base.env });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toBe(`minc: finding the guest kernel: --qemu-kernel '${join(dir, 'notakernel')}': not a Linux kernel image (no version found)`);
      expect(base.entries()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

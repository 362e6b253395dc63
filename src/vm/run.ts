/**
 * minc --qemu: the command in a guest that boots the host distribution's
 * kernel (src/vm/kernel.ts) with minc's own small initramfs
 * (src/vm/initramfs.ts, /init is libexec/minc-vm-init).  The host side is one
 * child, setpriv --pdeathsig KILL -- unshare --mount -- sh -e (the steps of
 * src/vm/plan.ts), which mounts the copy-on-write root and execs qemu.
 * The command's status comes back on a virtio-serial port into
 * TEMPDIR/vm/status; signals sent to minc go to the guest by another port.
 */
import { connect } from 'node:net';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MincError, withContext } from '../errors.js';
import { findTool } from '../host/tools.js';
import type { MincArgs } from '../options/parse.js';
import { shQuote } from '../plan/render.js';
import { CleanupStack } from '../run/cleanup.js';
import type { Facts } from '../run/facts.js';
import { writeNoFollow } from '../fs/nofollow.js';
import { debug, debugEnabled, writeFd } from '../run/log.js';
import { startInherited, type Started } from '../run/spawn.js';
import { prepareTempdir } from '../run/tempdir.js';
import { PACKAGE_ROOT } from '../where.js';
import { cacheDir, initramfs } from './initramfs.js';
import { resolveKernel } from './kernel.js';
import { validateVm, type VmConfig } from './options.js';
import { passThrough, ttySize, winchLine, type TtySize } from './tty.js';
import { renderVmScript, vmSteps, type VmInput } from './plan.js';
import type { Config } from '../options/validate.js';

export const VM_INIT = join(PACKAGE_ROOT, 'libexec', 'minc-vm-init');
export const VIRTIOFSD = '/usr/lib/qemu/virtiofsd';
const FORWARDED = ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGQUIT'] as const;

function need(name: string, pkg: string): string {
  const p = findTool(name);
  if (!p) throw new MincError(`--qemu needs ${name} (apt-get install ${pkg})`);
  return p;
}

/** What the guest's /init reads from the control share: the command, its environment, the options. */
export function controlFiles(config: Config, vm: VmConfig, env: NodeJS.ProcessEnv, tty: TtySize | null): Record<string, string> {
  const vars = Object.entries({ ...env, ...Object.fromEntries((config.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])) })
    .filter(([k, v]) => v !== undefined && /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && !/^minc_/i.test(k));
  const opts: Record<string, string> = {
    minc_fs: vm.fs,
    minc_name: config.name ?? '',
    minc_net: vm.net ? '1' : '',
    minc_tty: tty ? '1' : '',
    minc_rows: String(tty?.rows ?? ''),
    minc_cols: String(tty?.cols ?? ''),
  };
  return {
    cmd: `${config.command.map(shQuote).join(' ')}\n`,
    env: vars.map(([k, v]) => `export ${k}=${shQuote(v!)}\n`).join(''),
    opts: Object.entries(opts).map(([k, v]) => `${k}=${shQuote(v)}\n`).join(''),
    binds: config.binds.map((b, n) => `minc-bind${n} ${b.readonly ? 'ro' : 'rw'} ${b.target}\n`).join(''),
  };
}

export async function runVm(args: MincArgs, facts: Facts): Promise<number> {
  const { config, vm } = validateVm(args as MincArgs & { qemuTcg?: boolean; qemuKernel?: string });
  const tools: VmInput['tools'] = {
    qemu: need('qemu-system-x86_64', 'qemu-system-x86'),
    mount: need('mount', 'mount'),
    mkfifo: need('mkfifo', 'coreutils'),
    cat: need('cat', 'coreutils'),
    sh: need('sh', 'dash'),
    setpriv: need('setpriv', 'util-linux'),
    ...(vm.fs === 'virtiofs' ? { virtiofsd: VIRTIOFSD } : {}),
  };
  const unshare = need('unshare', 'util-linux');
  const setsid = need('setsid', 'util-linux');
  const busybox = findTool('busybox');
  if (!busybox) throw new MincError('--qemu needs busybox for the guest (apt-get install busybox-static)');
  const cache = cacheDir();
  const kernel = withKernel(() => resolveKernel(vm.kernel, cache));
  const ird = initramfs(kernel, VM_INIT, busybox, cache);
  debug(ird.made ? 'Make the initramfs (cached for the next runs)' : 'Reuse the cached initramfs', ird.path);
  const tty = facts.ttyMode && process.stdin.isTTY && process.stdout.isTTY ? ttySize() : null;
  const input = (tempdir: string): VmInput => ({
    vm, tempdir, direct: config.direct, binds: config.binds, kernel: kernel.boot, initrd: ird.path, tools, tty: tty !== null,
    stdinTerminal: tty === null && process.stdin.isTTY === true,
    lowerdirs: config.layers ?? [config.rootdir],
  });
  if (config.dryRun) {
    for (const st of vmSteps(input('TEMPDIR'))) writeFd(1, `step ${shQuote(st.why)} ${st.argv.map(shQuote).join(' ')}\n`);
    return 0;
  }
  const cleanup = new CleanupStack();
  let child: Started | null = null;
  let tempdir = '';
  let signalled: NodeJS.Signals | null = null;
  // to the guest's /init, which sends it on to the command (queued until the guest reads the port)
  const toGuest = (line: string, onError: () => void): void => {
    const sock = connect(join(tempdir, 'vm', 'signal.sock'));
    sock.on('error', onError);
    sock.end(line);
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    signalled ??= sig;
    if (!child || !tempdir) return;
    debug(`Forward ${sig} to the command in the guest`);
    toGuest(`${sig.slice(3)}\n`, () => child?.kill('SIGKILL'));
  };
  const onResize = (): void => {
    if (!child || !tempdir) return;
    const line = winchLine(ttySize());
    debug('Resize the guest\'s terminal', line.trim());
    toGuest(line, () => {});
  };
  for (const sig of FORWARDED) process.on(sig, onSignal);
  if (tty) process.on('SIGWINCH', onResize);
  try {
    try {
      tempdir = prepareTempdir(config, facts, cleanup);
    } catch (err) {
      throw withContext('making the temporary directory', err);
    }
    const vmDir = join(tempdir, 'vm');
    rmSync(vmDir, { recursive: true, force: true });
    mkdirSync(join(vmDir, 'ctl'), { recursive: true, mode: 0o700 });
    if (config.keep) cleanup.push("Remove the guest's control files from the kept directory", () => rmSync(vmDir, { recursive: true, force: true }));
    for (const [name, text] of Object.entries(controlFiles(config, vm, process.env, tty))) writeNoFollow(join(vmDir, 'ctl', name), text, 0o644);
    const script = renderVmScript(vmSteps(input(tempdir)), debugEnabled());
    // setsid: qemu and the relays are out of the terminal's foreground, so a ^C or ^\\ reaches minc alone,
    // which sends it on to the command (qemu would die of it; the relays too, losing the output after it)
    const argv = [tools.setpriv, '--pdeathsig', 'KILL', '--', setsid, unshare, '--mount', '--', tools.sh, '-ec', script, 'minc-vm'];
    debug('Boot the guest in a private mount namespace (src/vm/plan.ts)', argv.slice(0, 8).map(shQuote).join(' '));
    if (tty) cleanup.push('Put the terminal back as it was', passThrough());
    child = startInherited(argv[0]!, argv.slice(1), process.env, 3);
    const qemuStatus = await child.status;
    await relayed(join(vmDir, 'stdout'));
    let status: string;
    try {
      status = readFileSync(join(vmDir, 'status'), 'utf8').trim();
    } catch {
      status = '';
    }
    if (!/^\d+$/.test(status)) {
      if (signalled) return 128 + (({ SIGTERM: 15, SIGHUP: 1, SIGINT: 2, SIGQUIT: 3 }) as Record<string, number>)[signalled]!;
      throw new MincError(`the guest ended without the command's exit status (qemu's status ${qemuStatus}; --debug shows the steps)`, { status: 125 });
    }
    return Number(status);
  } finally {
    child = null;
    await cleanup.run();
    for (const sig of FORWARDED) process.off(sig, onSignal);
    process.off('SIGWINCH', onResize);
  }
}

/** Until the cat relaying the guest's stdout has read it all (it holds the fifo until then). */
async function relayed(fifo: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (!holders(fifo)) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Whether a process still has this path open (a look through the fds under /proc). */
function holders(path: string): boolean {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) if (readlinkSync(`/proc/${pid}/fd/${fd}`) === path) return true;
    } catch {
      /* gone, or not ours to see */
    }
  }
  return false;
}

function withKernel<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw withContext('finding the guest kernel', err);
  }
}

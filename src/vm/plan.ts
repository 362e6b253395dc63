/**
 * The host side of a --qemu run as data, like src/plan: steps {why, argv},
 * run by one `sh -e` in a private mount namespace (unshare --mount) under
 * setpriv --pdeathsig KILL, so that a SIGKILLed minc takes qemu down and the
 * overlay goes with the namespace.  The container's copy-on-write root is
 * mounted there exactly as a container's (upper: TEMPDIR/storage), and that
 * merged view is what the guest gets as its root, over 9p (or virtiofs):
 * -k, -t and the store's containers work the same.
 */
import { shQuote } from '../plan/render.js';
import type { VmConfig } from './options.js';

export interface VmStep {
  readonly why: string;
  readonly argv: readonly string[];
  /**
   * 'background': started with &; 'exec': the shell becomes it (the last
   * step); 'relay': argv is [cat, fifo for stdout, fifo for stderr] (below);
   * 'feed': argv is [cat, fifo], fed from the shell's stdin
   */
  readonly how?: 'background' | 'exec' | 'relay' | 'feed';
  /** for 'exec': the file its stdin is opened from */
  readonly stdin?: string;
  /** for 'background': the file its stderr goes to */
  readonly stderr?: string;
}

export interface VmInput {
  readonly vm: VmConfig;
  readonly tempdir: string;
  readonly lowerdirs: readonly string[];
  readonly direct: boolean;
  readonly binds: readonly { source: string; target: string; readonly: boolean }[];
  readonly kernel: string;
  readonly initrd: string;
  readonly tools: { readonly mount: string; readonly mkfifo: string; readonly cat: string; readonly qemu: string; readonly sh: string; readonly virtiofsd?: string; readonly setpriv: string };
  readonly tty: boolean;
  /** stdin is a terminal but the command gets no tty (stdout is not one): qemu must not take the terminal */
  readonly stdinTerminal?: boolean;
}

const s = (why: string, argv: string[], how?: VmStep['how'], stdin?: string): VmStep =>
  ({ why, argv, ...(how ? { how } : {}), ...(stdin ? { stdin } : {}) });

/** qemu's own options: machine, memory, vCPUs, the console kept quiet. */
function machine(i: VmInput): string[] {
  const { vm } = i;
  const mem = `${vm.memMiB}M`;
  const out = ['-machine', `q35,accel=${vm.accel}`, '-cpu', vm.accel === 'kvm' ? 'host' : 'max', '-m', mem, '-smp', String(vm.cpus),
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot', '-serial', 'none', '-monitor', 'none',
    '-kernel', i.kernel, '-initrd', i.initrd,
    '-append', 'console=ttyS0 quiet loglevel=0 panic=-1 rdinit=/init tsc=reliable'];
  if (vm.fs === 'virtiofs') out.push('-object', `memory-backend-memfd,id=mem,size=${mem},share=on`, '-numa', 'node,memdev=mem');
  return out;
}

/** The root share, the read-only control dir, and one 9p share per -b. */
function shares(i: VmInput): string[] {
  const root = `${i.tempdir}/root`;
  const out = i.vm.fs === 'virtiofs'
    ? ['-chardev', `socket,id=vfs,path=${i.tempdir}/vm/virtiofs.sock`, '-device', 'vhost-user-fs-pci,chardev=vfs,tag=minc-root']
    : ['-virtfs', `local,path=${root},mount_tag=minc-root,security_model=passthrough,multidevs=remap`];
  out.push('-virtfs', `local,path=${i.tempdir}/vm/ctl,mount_tag=minc-ctl,security_model=none,readonly=on`);
  i.binds.forEach((b, n) => out.push('-virtfs', `local,path=${b.source.replace(/,/g, ',,')},mount_tag=minc-bind${n},security_model=passthrough,multidevs=remap${b.readonly ? ',readonly=on' : ''}`));
  return out;
}

/**
 * The command's stdio and the exit status: virtio-serial ports, never the
 * console.  stdin is qemu's stdio chardev (its EOF closes the port: the guest
 * reads EOF); stdout and stderr are fifos relayed to minc's own.
 * On a terminal the command gets a virtio console (hvc0) on qemu's stdio
 * instead, in raw mode, so ^C, job control and the size are the guest tty's.
 */
function ports(i: VmInput): string[] {
  const vm = `${i.tempdir}/vm`;
  const port = (id: string, chardev: string, name: string): string[] =>
    ['-chardev', `${chardev},id=${id}`, '-device', `virtserialport,bus=vs.0,chardev=${id},name=${name}`];
  const out = ['-device', 'virtio-serial-pci,id=vs'];
  if (i.tty) out.push('-chardev', 'stdio,id=con,signal=off', '-device', 'virtconsole,bus=vs.0,chardev=con', ...port('in', 'null', 'minc.stdin'));
  else out.push(...port('in', 'stdio,signal=off', 'minc.stdin'));
  out.push(...port('out', `file,path=${vm}/stdout`, 'minc.stdout'),
    ...port('err', `file,path=${vm}/stderr`, 'minc.stderr'),
    ...port('st', `file,path=${vm}/status`, 'minc.status'),
    ...port('sig', `socket,path=${vm}/signal.sock,server=on,wait=off`, 'minc.signal'));
  return out;
}

/** --net: qemu's user-mode network, -p as its host forwards. */
function network(i: VmInput): string[] {
  if (!i.vm.net) return [];
  const fwd = i.vm.ports.map((p) => `,hostfwd=${p.proto}::${p.host}-:${p.guest}`).join('');
  return ['-netdev', `user,id=n0${fwd}`, '-device', 'virtio-net-pci,netdev=n0'];
}

export function vmSteps(i: VmInput): VmStep[] {
  const { mount } = i.tools;
  const root = `${i.tempdir}/root`;
  const steps: VmStep[] = [s('Make the mount namespace private: the overlay never shows on the host', [mount, '--make-rprivate', '/'])];
  steps.push(i.direct
    ? s('Bind the root directory itself (--direct): writes reach it', [mount, '--bind', i.lowerdirs[0]!, root])
    : s("Mount the copy-on-write root, as a container's: the root below, writes land in storage/", [mount, '-t', 'overlay', '-o',
      `lowerdir=${i.lowerdirs.join(':')},upperdir=${i.tempdir}/storage,workdir=${i.tempdir}/work`, 'minc-overlay', root]));
  // qemu opens its chardevs by path, and /proc/self/fd/1 cannot be opened when it is a socket
  // (node's pipes are): the guest's output goes through fifos, relayed by cat to minc's own stdout and stderr
  steps.push(s("Fifos for the guest's stdout and stderr", [i.tools.mkfifo, '-m', '600', `${i.tempdir}/vm/stdout`, `${i.tempdir}/vm/stderr`]));
  steps.push(s('Relay them to stdout and stderr (cat ends when qemu, their last writer, is gone)', [i.tools.cat, `${i.tempdir}/vm/stdout`, `${i.tempdir}/vm/stderr`], 'relay'));
  if (i.stdinTerminal) {
    // qemu's stdio chardev would make the terminal raw (no echo, Enter a bare \r, no ^D): cat reads it as it is
    steps.push(s("A fifo for the guest's stdin, fed from the terminal by cat (^D ends it)", [i.tools.mkfifo, '-m', '600', `${i.tempdir}/vm/stdin`]));
    steps.push(s('Feed it', [i.tools.cat, `${i.tempdir}/vm/stdin`], 'feed'));
  }
  if (i.vm.fs === 'virtiofs') {
    steps.push(s('Serve the root to the guest over virtiofs (dies with qemu: the socket closes)', [i.tools.setpriv, '--pdeathsig', 'KILL', '--',
      i.tools.virtiofsd!, `--socket-path=${i.tempdir}/vm/virtiofs.sock`, '-o', `source=${root}`, '-o', 'cache=auto', '-o', 'xattr', '-o', 'log_level=err'], 'background'));
    // (its log, not the command's stderr: it says "Unexpected poll revents" when qemu goes first)
    steps[steps.length - 1] = { ...steps[steps.length - 1]!, stderr: `${i.tempdir}/vm/virtiofsd.log` };
    steps.push(s("Wait for virtiofsd's socket", [i.tools.sh, '-c', 'n=0; until [ -S "$1" ]; do n=$((n+1)); [ $n -lt 500 ] || exit 1; sleep 0.01; done', 'wait', `${i.tempdir}/vm/virtiofs.sock`]));
  }
  steps.push(s(`Boot the guest (${i.vm.accel === 'kvm' ? 'KVM' : 'TCG, no KVM: slow'}): the command runs in it with its stdio on virtio-serial ports`,
    [i.tools.qemu, ...machine(i), ...shares(i), ...ports(i), ...network(i), '-device', 'virtio-rng-pci'], 'exec', i.stdinTerminal ? `${i.tempdir}/vm/stdin` : undefined));
  return steps;
}

/** The steps as the script `sh -e` runs (--debug prints each step's reason first). */
export function renderVmScript(steps: readonly VmStep[], debug: boolean): string {
  return steps.map((st) => {
    const cmd = st.argv.map(shQuote).join(' ');
    const say = debug ? `printf '%s\\n' ${shQuote(`minc: ${st.why}`)} ${shQuote(`  ${cmd}`)} >&2\n` : '';
    if (st.how === 'relay') {
      // the shell holds both fifos open (read-write: no open blocks), qemu inherits them, the cats do not
      const [cat, out, err] = st.argv.map(shQuote) as [string, string, string];
      return `${say}exec 3<>${out} 4<>${err}\n${cat} ${out} 3>&- 4>&- &\n${cat} ${err} >&2 3>&- 4>&- &\n`;
    }
    if (st.how === 'feed') {
      // an async list's stdin is /dev/null before its redirections: the terminal goes by fd 5
      const [cat, fifo] = st.argv.map(shQuote) as [string, string];
      return `${say}exec 5<&0\n${cat} <&5 >${fifo} 3>&- 4>&- 5<&- &\nexec 5<&-\n`;
    }
    if (st.how === 'exec') return `${say}exec ${cmd}${st.stdin ? ` <${shQuote(st.stdin)}` : ''}\n`;
    return `${say}${st.how === 'background' ? `${cmd}${st.stderr ? ` 2>${shQuote(st.stderr)}` : ''} &` : cmd}\n`;
  }).join('');
}

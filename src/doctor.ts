/** minc --doctor: does this host have what minc needs?  Says what to install. */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { ARCHES, hostQemuArch, kernelHasUsernsBinfmt } from './options/cross.js';
import { spawnSync } from 'node:child_process';
import { loaderFacts, which } from './run/facts.js';
import { findKernel } from './vm/kernel.js';
import { kvmUsable } from './vm/options.js';
import { writeFd } from './run/log.js';
import { rootlessChecks } from './rootless/doctor.js';

/** Does a user namespace work here: unshare's status and words. */
function tryUserns(): { status: number | null; stderr: string } {
  const unshare = which('unshare');
  if (!unshare) return { status: null, stderr: 'unshare not found' };
  const r = spawnSync(unshare, ['--user', '--map-root-user', 'true'], { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stderr: r.stderr ?? String(r.error ?? '') };
}
import { tunFacts, userNetChecks } from './net/doctor.js';
import { findTool } from './host/tools.js';

interface Check {
  readonly what: string;
  readonly ok: boolean;
  /** only some options need it: reported, but not a failure */
  readonly optional?: boolean;
  readonly detail: string;
  readonly fix?: string;
}

/** Debian packages that hold each tool minc runs. */
const PACKAGES: Readonly<Record<string, string>> = {
  unshare: 'util-linux', setpriv: 'util-linux', mount: 'mount', umount: 'mount', pivot_root: 'util-linux',
  chroot: 'coreutils', env: 'coreutils', mknod: 'coreutils', mkfifo: 'coreutils', mkdir: 'coreutils', touch: 'coreutils',
  rm: 'coreutils', ln: 'coreutils', cp: 'coreutils', readlink: 'coreutils', hostname: 'hostname', sh: 'dash', capsh: 'libcap2-bin',
};

/** Tools only some options need: package, and what for. */
const OPTIONAL: Readonly<Record<string, readonly [string, string]>> = {
  ip: ['iproute2', '--net'], iptables: ['iptables', '--net dens and -p'], 'iptables-restore': ['iptables', '--net dens and -p'],
  nsenter: ['util-linux', '--net'], flock: ['util-linux', '--net dens'], taskset: ['util-linux', '--cpu'],
  tar: ['tar', 'marten'], gzip: ['gzip', 'marten (layers)'], setfattr: ['attr', 'marten (whiteouts)'],
};

function utilLinuxVersion(unshare: string): [number, number] | null {
  const r = spawnSync(unshare, ['--version'], { encoding: 'utf8' });
  const m = /(\d+)\.(\d+)/.exec(r.stdout ?? '');
  return m ? [Number(m[1]), Number(m[2])] : null;
}

export function checks(): Check[] {
  const out: Check[] = [];
  const root = process.getuid?.() === 0;
  if (root) out.push({ what: 'root', ok: root, detail: 'running as root' });
  // a user: rootless (issue 11): user namespaces, id maps, fuse-overlayfs, cgroup delegation (src/rootless/doctor.ts)
  else out.push(...rootlessChecks(which, tryUserns));
  for (const [tool, pkg] of Object.entries(PACKAGES)) {
    const p = which(tool);
    out.push({ what: tool, ok: Boolean(p), detail: p ?? 'not found', fix: `apt-get install ${pkg}` });
  }
  for (const [tool, [pkg, forWhat]] of Object.entries(OPTIONAL)) {
    const p = which(tool);
    out.push({ what: tool, ok: Boolean(p), optional: true, detail: p ?? `not found (needed for ${forWhat})`, fix: `apt-get install ${pkg}` });
  }
  const unshare = which('unshare');
  if (unshare) {
    const v = utilLinuxVersion(unshare);
    const ok = v !== null && (v[0] > 2 || (v[0] === 2 && v[1] >= 32));
    out.push({ what: 'util-linux version', ok, detail: v ? `${v[0]}.${v[1]}` : 'unknown', fix: 'util-linux 2.32 or newer (unshare --kill-child, setpriv --pdeathsig)' });
  }
  const fs = readFileSync('/proc/filesystems', 'utf8');
  const overlay = /\boverlay\b/.test(fs);
  out.push({ what: 'overlayfs', ok: overlay, detail: overlay ? 'in /proc/filesystems' : 'not in /proc/filesystems', fix: 'modprobe overlay (or use --direct)' });
  out.push(...crossChecks(fs), ...qemuChecks());
  // without root, --net dens and -p need a user-mode stack and /dev/net/tun (src/net/doctor.ts)
  if (!root) out.push(...userNetChecks(findTool, process.env.MINC_USERNET, tunFacts()));
  const { ldso, libpath } = loaderFacts();
  out.push({ what: 'dynamic loader', ok: Boolean(ldso), detail: ldso ? `${ldso} (libraries: ${libpath})` : 'not found', fix: 'minc runs host tools through the loader after pivot_root' });
  return out;
}

/** --cross: qemu-user-static's interpreters, and a binfmt_misc minc can register them in without touching the host's. */
function crossChecks(filesystems: string): Check[] {
  const foreign = [...new Set(Object.values(ARCHES))].filter((q) => q !== hostQemuArch());
  const have = foreign.filter((q) => existsSync(`/usr/bin/qemu-${q}-static`) && existsSync(`/usr/share/binfmts/qemu-${q}`));
  const out: Check[] = [{
    what: 'qemu-user-static', ok: have.length === foreign.length, optional: true,
    detail: have.length > 0 ? `interpreters for ${have.join(' ')}${have.length < foreign.length ? ` (not ${foreign.filter((q) => !have.includes(q)).join(' ')})` : ''}` : 'not installed (needed for --cross)',
    fix: 'apt-get install qemu-user-static',
  }];
  const binfmt = /\bbinfmt_misc\b/.test(filesystems);
  const perNs = kernelHasUsernsBinfmt();
  const hostRegs = foreign.filter((q) => existsSync(`/proc/sys/fs/binfmt_misc/qemu-${q}`));
  out.push({
    what: 'binfmt_misc', ok: binfmt && (perNs || hostRegs.length > 0), optional: true,
    detail: !binfmt ? 'not in /proc/filesystems (needed for --cross)'
      : perNs ? `one per user namespace (Linux ${release()}): --cross registers in the container's own`
        : hostRegs.length > 0 ? `Linux ${release()} is older than 6.7: --cross uses the host's registrations (${hostRegs.join(' ')})`
          : `Linux ${release()} is older than 6.7 and the host registers no qemu interpreter (needed for --cross)`,
    fix: !binfmt ? 'modprobe binfmt_misc' : 'apt-get install binfmt-support (registers qemu-user-static host-wide), or Linux 6.7+',
  });
  return out;
}

/** --qemu: qemu-system, a /dev/kvm that can boot the distribution's kernel, a kernel, virtiofsd. */
function qemuChecks(): Check[] {
  const qemu = which('qemu-system-x86_64');
  const kvm = kvmUsable();
  const kernel = findKernel();
  const virtiofsd = ['/usr/libexec/virtiofsd', '/usr/lib/qemu/virtiofsd'].find((p) => existsSync(p));
  return [
    { what: 'qemu-system-x86', ok: Boolean(qemu), optional: true, detail: qemu ?? 'not found (needed for --qemu)', fix: 'apt-get install qemu-system-x86' },
    {
      what: 'kvm', ok: kvm.ok, optional: true, detail: kvm.ok ? '/dev/kvm' : `${kvm.why ?? 'no /dev/kvm'}: --qemu needs --qemu-tcg here (slow)`,
      fix: 'load kvm_intel or kvm_amd (a host with hardware virtualisation)',
    },
    { what: 'guest kernel', ok: Boolean(kernel), optional: true, detail: kernel ?? 'no /boot/vmlinuz-* (needed for --qemu)', fix: 'apt-get install linux-image-amd64' },
    { what: 'virtiofsd', ok: Boolean(virtiofsd), optional: true, detail: virtiofsd ?? 'not found (only for MINC_QEMU_FS=virtiofs; 9p is the default)', fix: 'apt-get install qemu-system-common' },
  ];
}

export function doctor(): number {
  const all = checks();
  for (const c of all) {
    writeFd(1, `${c.ok ? 'ok  ' : c.optional ? 'warn' : 'FAIL'} ${c.what}: ${c.detail}${c.ok || !c.fix ? '' : `  -> ${c.fix}`}\n`);
  }
  const warn = all.filter((c) => !c.ok && c.optional);
  const optionalPkgs = [...new Set(warn.map((c) => /^apt-get install (\S+)/.exec(c.fix ?? '')?.[1]).filter(Boolean))];
  if (optionalPkgs.length > 0) writeFd(1, `For the options that need them: apt-get install ${optionalPkgs.join(' ')}\n`);
  const bad = all.filter((c) => !c.ok && !c.optional);
  if (bad.length === 0) {
    writeFd(1, 'minc has everything it needs here.\n');
    return 0;
  }
  const pkgs = [...new Set(bad.map((c) => /^apt-get install (\S+)/.exec(c.fix ?? '')?.[1]).filter(Boolean))];
  if (pkgs.length > 0) writeFd(1, `To install what is missing: apt-get install ${pkgs.join(' ')}\n`);
  return 1;
}

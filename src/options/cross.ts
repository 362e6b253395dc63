/**
 * --cross ARCH (alias --arch): a root of another architecture, every process
 * of it run by Debian's qemu-user-static interpreter.  Checked here, before
 * anything is created: the name, the interpreter, its binfmt_misc magic (read
 * from the package's /usr/share/binfmts/qemu-* file, the same data
 * update-binfmts registers), and whether this kernel can register it in the
 * container's own user namespace (Linux 6.7+) or the host has it registered.
 */
import { readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { UsageError } from '../errors.js';

/** The names --cross takes (MINCS's, plus riscv64 and s390x) -> qemu's name for the architecture. */
export const ARCHES: Readonly<Record<string, string>> = {
  amd64: 'x86_64', x86_64: 'x86_64',
  arm: 'arm', armv7l: 'arm', armel: 'arm', armhf: 'arm',
  arm64: 'aarch64', aarch64: 'aarch64',
  // MINCS takes the three for one architecture: Debian's ppc64el
  ppc64: 'ppc64le', ppc64le: 'ppc64le', ppc64el: 'ppc64le',
  riscv64: 'riscv64',
  s390x: 's390x',
};

/** What `uname -m` says under each interpreter. */
export const MACHINE: Readonly<Record<string, string>> = {
  x86_64: 'x86_64', arm: 'armv7l', aarch64: 'aarch64', ppc64le: 'ppc64le', riscv64: 'riscv64', s390x: 's390x',
};

/** node's process.arch -> qemu's name: the host's own architecture needs no interpreter. */
const NODE_ARCH: Readonly<Record<string, string>> = { x64: 'x86_64', arm: 'arm', arm64: 'aarch64', ppc64: 'ppc64le', riscv64: 'riscv64', s390x: 's390x' };

/** The OCI architecture names (an image's config) -> qemu's name. */
export const OCI_ARCH: Readonly<Record<string, string>> = { amd64: 'x86_64', arm: 'arm', arm64: 'aarch64', ppc64le: 'ppc64le', riscv64: 'riscv64', s390x: 's390x' };

export const hostQemuArch = (): string | undefined => NODE_ARCH[process.arch];

export interface CrossConfig {
  /** the name given */
  readonly arch: string;
  /** qemu's name: aarch64, arm, ... */
  readonly qemu: string;
  readonly interpreter: string;
  /**
   * The binfmt_misc register line (`:NAME:M:OFFSET:MAGIC:MASK:INTERPRETER:FLAGS`)
   * for the container's own instance; absent on a kernel older than 6.7,
   * where the host's own registration (with F) is used.
   */
  readonly register?: string;
}

export interface Binfmt {
  readonly offset: number;
  readonly magic: string;
  readonly mask: string;
  /** P: the interpreter gets the program's own argv[0] (busybox's applets need it) */
  readonly preserve: boolean;
}

/** Debian's binfmts format (update-binfmts(8)): `key value` lines; magic and mask as \xNN escapes. */
export function parseBinfmts(text: string): Binfmt | null {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\w+) (.*)$/.exec(line.trim());
    if (m) fields.set(m[1]!, m[2]!);
  }
  const magic = fields.get('magic');
  const mask = fields.get('mask');
  const offset = Number(fields.get('offset') ?? '0');
  const escaped = /^(\\x[0-9a-fA-F]{2})+$/;
  if (!magic || !escaped.test(magic) || (mask !== undefined && !escaped.test(mask)) || !Number.isInteger(offset) || offset < 0) return null;
  return { offset, magic, mask: mask ?? '', preserve: fields.get('preserve') === 'yes' };
}

/** The register line of binfmt_misc (Documentation/admin-guide/binfmt-misc.rst), F: the kernel opens the interpreter at once; P as the package has it. */
export const registerLine = (qemu: string, b: Binfmt, interpreter: string): string =>
  `:minc-qemu-${qemu}:M:${b.offset}:${b.magic}:${b.mask}:${interpreter}:${b.preserve ? 'FP' : 'F'}`;

/** Linux 6.7 gave each user namespace a binfmt_misc of its own. */
export function kernelHasUsernsBinfmt(rel = release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  return m !== null && (Number(m[1]) > 6 || (Number(m[1]) === 6 && Number(m[2]) >= 7));
}

const readSmall = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8').slice(0, 4096);
  } catch {
    return null;
  }
};

/**
 * An image's architecture against this host's (or --cross's): an image of
 * another one says so, and names the --cross that runs it.
 */
export function foreignImage(architecture: string | undefined, cross?: string): void {
  if (!architecture) return;
  const want = OCI_ARCH[architecture];
  const have = cross !== undefined ? ARCHES[cross] : hostQemuArch();
  if (want === undefined || have === undefined || want === have) return;
  const crossArg = Object.keys(ARCHES).find((k) => ARCHES[k] === want && OCI_ARCH[k] === want) ?? architecture;
  if (cross !== undefined) throw new UsageError(`--cross ${cross}: the image is ${architecture}: use --cross ${crossArg}`);
  throw new UsageError(`the image is ${architecture}, this host is ${process.arch === 'x64' ? 'amd64' : process.arch}: run it with --cross ${crossArg}`);
}

export const knownArches = (): string => Object.keys(ARCHES).join(', ');

/** --cross ARCH: null when ARCH is this host's own (nothing to emulate). */
export function validateCross(arch: string, dirs = { binfmts: '/usr/share/binfmts', bin: '/usr/bin', hostBinfmt: '/proc/sys/fs/binfmt_misc' }): CrossConfig | null {
  const qemu = ARCHES[arch];
  if (!qemu) throw new UsageError(`--cross '${arch}': unknown architecture (known: ${knownArches()})`);
  if (qemu === hostQemuArch()) return null;
  const interpreter = `${dirs.bin}/qemu-${qemu}-static`;
  if (!statSync(interpreter, { throwIfNoEntry: false })?.isFile()) {
    throw new UsageError(`--cross ${arch}: ${interpreter} is missing (apt-get install qemu-user-static)`);
  }
  if (kernelHasUsernsBinfmt()) {
    const text = readSmall(`${dirs.binfmts}/qemu-${qemu}`);
    const b = text === null ? null : parseBinfmts(text);
    if (!b) throw new UsageError(`--cross ${arch}: no usable ${dirs.binfmts}/qemu-${qemu} (apt-get install --reinstall qemu-user-static)`);
    return { arch, qemu, interpreter, register: registerLine(qemu, b, interpreter) };
  }
  // an older kernel: only the host's own registration can run it, and only with F (the interpreter is not in the root)
  const entry = readSmall(`${dirs.hostBinfmt}/qemu-${qemu}`);
  if (entry === null || !/^enabled$/m.test(entry) || !/^flags:.*F/m.test(entry)) {
    throw new UsageError(`--cross ${arch}: this kernel (${release()}) has no binfmt_misc per user namespace (Linux 6.7+), and the host has no ` +
      `qemu-${qemu} registration with the F flag: apt-get install qemu-user-static binfmt-support (minc never registers one host-wide)`);
  }
  return { arch, qemu, interpreter };
}

/**
 * The guest's kernel: the host distribution's (Debian's linux-image-amd64,
 * /boot/vmlinuz-VERSION), or --qemu-kernel FILE.  Its modules come from
 * /lib/modules/VERSION, the version of the GUEST kernel (it differs from the
 * running host kernel's).  A bzImage is an xz (or gzip) payload behind a
 * real-mode stub; qemu boots the uncompressed ELF vmlinux through its PVH
 * note straight into 64-bit mode, skipping the BIOS and the decompression
 * (3.4 s instead of 15 s to run `true` without KVM), so the ELF is extracted
 * once and cached beside the initramfs.
 */
import { closeSync, existsSync, openSync, readFileSync, readdirSync, readSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { MincError } from '../errors.js';

export interface Kernel {
  /** the file qemu boots (a cached vmlinux, else the image itself) */
  readonly boot: string;
  /** the image as found (/boot/vmlinuz-VERSION or --qemu-kernel) */
  readonly image: string;
  readonly version: string;
  /** /lib/modules/VERSION, null when the kernel has none there */
  readonly modules: string | null;
}

/** Numeric-aware comparison of kernel versions (6.1.0-57 > 6.1.0-9). */
const byVersion = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

/** The newest /boot/vmlinuz-VERSION. */
export function findKernel(boot = '/boot'): string | null {
  let names: string[];
  try {
    names = readdirSync(boot).filter((n) => /^vmlinuz-\d/.test(n));
  } catch {
    return null;
  }
  const v = names.map((n) => n.slice('vmlinuz-'.length)).sort(byVersion).at(-1);
  return v === undefined ? null : join(boot, `vmlinuz-${v}`);
}

/** A kernel image's version: from its name, else from the version string a bzImage's header points to. */
export function kernelVersion(image: string): string | null {
  const m = /^vmlinuz-(.+)$/.exec(basename(image));
  if (m) return m[1]!;
  const head = Buffer.alloc(0x4000);
  const fd = openSync(image, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  // boot protocol: "HdrS" at 0x202, kernel_version (offset - 0x200) at 0x20e
  if (head.toString('latin1', 0x202, 0x206) !== 'HdrS') return null;
  const off = head.readUInt16LE(0x20e) + 0x200;
  if (off >= head.length) return null;
  const end = head.indexOf(0x20, off);
  return end > off ? head.toString('latin1', off, end) : null;
}

const XZ = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const GZ = Buffer.from([0x1f, 0x8b, 0x08]);

/** The ELF vmlinux inside a bzImage (xz via the xz tool, gzip via zlib), or null. */
export function extractVmlinux(image: Buffer): Buffer | null {
  const xz = image.indexOf(XZ);
  if (xz >= 0) {
    // xz -dc stops at the payload's end; what follows it (the stub's tail) makes it complain, so its status is not used
    const r = spawnSync('xz', ['-dc', '-q'], { input: image.subarray(xz), maxBuffer: 1 << 30 });
    if (r.stdout && r.stdout.subarray(0, 4).toString('latin1') === '\x7fELF') return r.stdout;
  }
  const gz = image.indexOf(GZ);
  if (gz >= 0) {
    try {
      const out = gunzipSync(image.subarray(gz), { finishFlush: 2 });
      if (out.subarray(0, 4).toString('latin1') === '\x7fELF') return out;
    } catch {
      /* not this one */
    }
  }
  return null;
}

/** Find the kernel (or take FILE), and its cached ELF in cacheDir. */
export function resolveKernel(file: string | undefined, cacheDir: string): Kernel {
  const image = file ?? findKernel();
  if (!image) throw new MincError('--qemu: no kernel in /boot (apt-get install linux-image-amd64, or give --qemu-kernel FILE)');
  if (!existsSync(image) || !statSync(image).isFile()) throw new MincError(`--qemu-kernel '${image}': no such file`);
  const version = kernelVersion(image);
  if (!version) throw new MincError(`--qemu-kernel '${image}': not a Linux kernel image (no version found)`);
  const modules = existsSync(`/lib/modules/${version}/modules.dep`) ? `/lib/modules/${version}` : null;
  const st = statSync(image);
  const cached = join(cacheDir, `vmlinux-${version}-${st.size}-${Math.floor(st.mtimeMs)}`);
  if (existsSync(cached)) return { boot: cached, image, version, modules };
  const elf = extractVmlinux(readFileSync(image));
  if (!elf) return { boot: image, image, version, modules };
  const tmp = `${cached}.${process.pid}`;
  writeFileSync(tmp, elf, { mode: 0o600 });
  renameSync(tmp, cached);
  return { boot: cached, image, version, modules };
}

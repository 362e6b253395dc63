/**
 * The guest's initramfs: busybox-static, libexec/minc-vm-init as /init, and
 * the guest kernel's modules for virtio-pci, virtio-serial, 9p, virtiofs and
 * virtio-net (Debian builds them as modules), in dependency order from the
 * kernel's modules.dep.  Made once per (kernel, init, busybox), cached in a
 * 0700 directory (/var/cache/mincs/vm).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { MincError } from '../errors.js';
import { cpio, type CpioEntry } from './cpio.js';
import type { Kernel } from './kernel.js';

/** The modules /init loads (names as modules.dep has them, without .ko). */
export const WANTED = ['virtio_pci', 'virtio_console', '9pnet_virtio', '9p', 'virtiofs', 'virtio_net'];

export const CACHE_DIR = '/var/cache/mincs/vm';

/** Make (or check) the cache dir: root's, 0700. */
export function cacheDir(dir = process.env.MINC_VM_CACHE || CACHE_DIR): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
}

/**
 * The .ko paths (relative to the modules dir) that load WANTED, each after
 * what it needs.  A wanted module the kernel has built in (absent from
 * modules.dep) needs nothing.
 */
export function moduleOrder(modulesDep: string, wanted: readonly string[] = WANTED): string[] {
  const deps = new Map<string, string[]>();
  const byName = new Map<string, string>();
  for (const line of modulesDep.split('\n')) {
    const [mod, rest] = line.split(':');
    if (!mod || rest === undefined) continue;
    deps.set(mod, rest.trim().split(/\s+/).filter(Boolean));
    byName.set(mod.replace(/^.*\//, '').replace(/\.ko(\..*)?$/, '').replace(/-/g, '_'), mod);
  }
  const out: string[] = [];
  const visit = (mod: string): void => {
    if (out.includes(mod)) return;
    for (const d of deps.get(mod) ?? []) visit(d);
    out.push(mod);
  };
  for (const w of wanted) {
    const mod = byName.get(w.replace(/-/g, '_'));
    if (mod) visit(mod);
  }
  return out;
}

export function initramfsEntries(init: Buffer, busybox: Buffer, kernel: Kernel): CpioEntry[] {
  const entries: CpioEntry[] = [
    { name: 'bin', mode: 0o40755 },
    { name: 'bin/busybox', mode: 0o100755, data: busybox },
    { name: 'init', mode: 0o100755, data: init },
    { name: 'modules', mode: 0o40755 },
  ];
  const order: string[] = [];
  if (kernel.modules) {
    for (const mod of moduleOrder(readFileSync(join(kernel.modules, 'modules.dep'), 'utf8'))) {
      if (!/\.ko$/.test(mod)) throw new MincError(`--qemu: module ${mod} is compressed; busybox insmod cannot load it`);
      const name = mod.replace(/^.*\//, '');
      entries.push({ name: `modules/${name}`, mode: 0o100644, data: readFileSync(join(kernel.modules, mod)) });
      order.push(name);
    }
  }
  entries.push({ name: 'modules/order', mode: 0o100644, data: Buffer.from(order.map((m) => `${m}\n`).join('')) });
  return entries;
}

/** The cached initramfs for this kernel, made if missing. */
export function initramfs(kernel: Kernel, initPath: string, busyboxPath: string, dir: string): { path: string; made: boolean } {
  const init = readFileSync(initPath);
  const bb = statSync(busyboxPath);
  const key = createHash('sha256')
    .update(init).update(`\0${kernel.version}\0${kernel.modules ?? ''}\0${bb.size}\0${bb.mtimeMs}\0${WANTED.join(',')}`)
    .digest('hex').slice(0, 16);
  const path = join(dir, `initramfs-${kernel.version}-${key}.cpio`);
  if (existsSync(path)) return { path, made: false };
  const data = cpio(initramfsEntries(init, readFileSync(busyboxPath), kernel));
  const tmp = `${path}.${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
  return { path, made: true };
}

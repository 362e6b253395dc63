/**
 * A throwaway busybox rootfs (Debian's busybox-static) for destructive tests:
 * never point one at the host's /.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const APPLETS = ['sh', 'ls', 'cat', 'ps', 'hostname', 'id', 'echo', 'mount', 'umount', 'rm', 'touch', 'mkdir', 'chmod', 'chroot',
  'sleep', 'kill', 'stat', 'grep', 'wc', 'head', 'tail', 'readlink', 'ln', 'test', 'true', 'false', 'env', 'ip', 'nc', 'httpd',
  'wget', 'mknod', 'cp', 'mv', 'df', 'pwd', 'dd', 'seq', 'sed', 'awk', 'tr', 'cut', 'printf', 'uname', 'whoami', 'find'];

/** busybox: the binary to copy in (an arm64 one for --cross: test/e2e/cross.test.ts). */
export function makeBusyboxRootfs(base = '/tmp', busybox = '/bin/busybox'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(base, 'minc-test-rootfs-'));
  for (const d of ['bin', 'etc', 'root', 'tmp', 'proc', 'sys', 'dev']) mkdirSync(join(dir, d));
  copyFileSync(busybox, join(dir, 'bin/busybox'));
  execFileSync('chmod', ['755', join(dir, 'bin/busybox')]);
  for (const a of APPLETS) symlinkSync('busybox', join(dir, 'bin', a));
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n');
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\ntty:x:5:\nuser:x:1000:\nstaff:x:50:user\n');
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

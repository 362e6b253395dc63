/**
 * Descriptors minc's caller left open without close-on-exec would pass through
 * node's spawn into the container (a caller's `exec 9</` is a way out of the
 * root).  Node cannot set FD_CLOEXEC, so minc closes them; its own descriptors
 * are close-on-exec already.  --preserve-fds N keeps 3 .. 2+N on purpose.
 */
import { closeSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';

const O_CLOEXEC = 0o2000000;

/** Inherited descriptors above 2+keep that would survive an exec. */
export function inheritedFds(keep: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd < 3 + keep) continue;
    try {
      const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
      if (flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) === 0) out.push(fd);
    } catch {
      /* closed meanwhile (the readdir's own descriptor) */
    }
  }
  return out;
}

export function closeInheritedFds(keep: number): void {
  for (const fd of inheritedFds(keep)) {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
  }
}

/**
 * Descriptor fd was passed by minc's caller (for --preserve-fds), not opened by
 * node itself: node's own are its event loop's (anon inodes: eventpoll,
 * eventfd) and self-pipes (both ends held here).  Node marks low inherited
 * descriptors close-on-exec too, so the flags cannot tell them apart.
 */
export function callerFd(fd: number): boolean {
  let target: string;
  try {
    target = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return false;
  }
  if (target.startsWith('anon_inode:')) return false;
  if (target.startsWith('pipe:')) {
    const ends = readdirSync('/proc/self/fd').filter((n) => {
      try {
        return readlinkSync(`/proc/self/fd/${n}`) === target;
      } catch {
        return false;
      }
    });
    return ends.length < 2;
  }
  return true;
}

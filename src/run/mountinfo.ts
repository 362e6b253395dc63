/**
 * The host's mounts below / that a sandbox of the live host shows (issue 9):
 * overlayfs does not descend into other mounts, so each one that holds files
 * gets an overlay of its own at its own path.  Read from
 * /proc/self/mountinfo; kernel and virtual file systems are left out (the
 * container has its own /proc, /sys, /dev, /run and /tmp), and so is what a
 * later mount hides.
 */

/** File systems that hold no user files, or that the container gets fresh. */
export const VIRTUAL_FS: ReadonlySet<string> = new Set([
  'proc', 'sysfs', 'cgroup', 'cgroup2', 'devpts', 'devtmpfs', 'mqueue', 'debugfs', 'tracefs', 'securityfs', 'bpf',
  'binfmt_misc', 'autofs', 'nsfs', 'pstore', 'configfs', 'fusectl', 'hugetlbfs', 'efivarfs', 'rpc_pipefs', 'nfsd',
  'selinuxfs', 'smackfs',
]);

/** Paths the container gets anew (their host mounts are not shown). */
export const FRESH_DIRS = ['/proc', '/sys', '/dev', '/run', '/tmp'] as const;

export interface HostMount {
  /** the mount point (absolute; never '/') */
  readonly path: string;
  readonly fstype: string;
  /** how it is shown: an overlay of its own, or bound read-only where overlayfs cannot take the path in its options */
  readonly how: 'overlay' | 'bind';
  /** the name of its upper and work dirs under TEMPDIR/mounts (percent-encoded path) */
  readonly name: string;
}

/** mountinfo's octal escapes (\040 for a space...). */
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

const below = (p: string, dir: string): boolean => p === dir || p.startsWith(dir === '/' ? '/' : `${dir}/`);

/** The mount point without its leading '/', bytes outside [A-Za-z0-9._-] as %HH: a file name readable by hand. */
export function mountName(path: string): string {
  return [...Buffer.from(path.replace(/^\/+/, ''), 'utf8')].map((b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9._-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}

/** mountName's inverse, as bytes. */
export function mountPath(name: string): Buffer {
  const out: number[] = [0x2f];
  for (let i = 0; i < name.length; i++) {
    if (name[i] === '%') {
      out.push(parseInt(name.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(name.charCodeAt(i));
  }
  return Buffer.from(out);
}

/**
 * The mounts below / to show, parents first.  skip: paths whose mounts are
 * left out too (minc's own temp dir base...).
 */
export function submounts(mountinfo: string, skip: readonly string[] = []): HostMount[] {
  const seen: { path: string; fstype: string }[] = [];
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (f.length < 10 || sep < 6) continue;
    const path = unescape(f[4]!);
    // a later mount at or above a path hides what was mounted there before
    for (let i = seen.length - 1; i >= 0; i--) if (below(seen[i]!.path, path)) seen.splice(i, 1);
    seen.push({ path, fstype: f[sep + 1]! });
  }
  const out: HostMount[] = [];
  for (const { path, fstype } of seen) {
    if (path === '/' || VIRTUAL_FS.has(fstype)) continue;
    if ([...FRESH_DIRS, ...skip].some((d) => below(path, d))) continue;
    // not UTF-8 (the plan travels as UTF-8 text), or a newline: not shown
    if (path.includes('\uFFFD') || /\n/.test(path)) continue;
    out.push({ path, fstype, how: /[,:\\\s]/.test(path) ? 'bind' : 'overlay', name: mountName(path) });
  }
  return out.sort((a, b) => a.path.split('/').length - b.path.split('/').length);
}

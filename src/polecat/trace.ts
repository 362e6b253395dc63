/**
 * Reading what the trapper's tools print: strace's `-f -xx -y` log (every
 * string as \xHH bytes, so names stay bytes) and `ld.so --list`'s lines.
 */
const SLASH = 0x2f;

/** strace -xx's "\x2f\x65..." as bytes. */
export function unhex(s: string): Buffer {
  const out = Buffer.alloc(s.length >> 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(i * 4 + 2, i * 4 + 4), 16);
  return out;
}

const joinPath = (dir: Buffer, name: Buffer): Buffer =>
  name.length === 0 ? dir : dir.length > 0 && dir[dir.length - 1] === SLASH ? Buffer.concat([dir, name]) : Buffer.concat([dir, Buffer.from('/'), name]);

const HEX = '((?:\\\\x[0-9a-f]{2})*)';
// SYSCALL(  [DIRFD<dir>, ]"path"
const CALL = new RegExp(`^(?:\\d+\\s+)?([a-z0-9_]+)\\((?:(?:AT_FDCWD|-?\\d+)<${HEX}>, )?"${HEX}"`);
// ... = FD<path> at the end: the file a call opened, as the kernel names it
const RET = new RegExp(`= \\d+<${HEX}>$`);

/**
 * The absolute paths a strace log names: each call's first path (joined to
 * its directory descriptor's path where it is relative), and the path of
 * each descriptor a call returned.  A relative path with no directory named
 * is taken from / (minc starts the command there).
 */
export function tracedPaths(log: string): Buffer[] {
  const seen = new Map<string, Buffer>();
  const add = (p: Buffer): void => {
    if (p.length > 0 && p[0] === SLASH) seen.set(p.toString('latin1'), p);
  };
  for (const line of log.split('\n')) {
    const m = CALL.exec(line);
    if (m) {
      const dir = m[2] !== undefined ? unhex(m[2]) : Buffer.from('/');
      const path = unhex(m[3]!);
      add(path.length > 0 && path[0] === SLASH ? path : joinPath(dir, path));
    }
    const r = RET.exec(line);
    if (r) add(unhex(r[1]!));
  }
  return [...seen.values()];
}

/**
 * The files `ld.so --list FILE` names: `libc.so.6 => /lib/.../libc.so.6 (0x...)`
 * and the loader's own `/lib64/ld-linux-x86-64.so.2 (0x...)`; "not found"
 * and the vDSO are left out.  Bytes in, bytes out (latin1 keeps them).
 */
export function listedLibraries(out: Buffer): Buffer[] {
  const res: Buffer[] = [];
  for (const raw of out.toString('latin1').split('\n')) {
    const line = raw.trim();
    const arrow = /^\S.* => (\/.*) \(0x[0-9a-f]+\)$/.exec(line);
    const bare = /^(\/\S.*) \(0x[0-9a-f]+\)$/.exec(line);
    const p = arrow?.[1] ?? bare?.[1];
    if (p) res.push(Buffer.from(p, 'latin1'));
  }
  return res;
}

/** A word for sh, single-quoted (bytes kept). */
export function shQuote(word: string | Buffer): Buffer {
  const b = Buffer.isBuffer(word) ? word : Buffer.from(word);
  if (b.length > 0 && /^[A-Za-z0-9_@%+=:,./-]+$/.test(b.toString('latin1'))) return b;
  return Buffer.concat([Buffer.from("'"), Buffer.from(b.toString('latin1').replace(/'/g, "'\\''"), 'latin1'), Buffer.from("'")]);
}

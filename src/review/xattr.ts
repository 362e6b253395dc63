/**
 * Extended attributes through the attr package's tools (node has no xattr
 * API and minc takes no native addon): one getfattr for a whole tree, or for
 * a list of paths fed NUL-separated to xargs (names stay bytes: argv cannot
 * carry a name that is not UTF-8), and one `setfattr --restore` for many.
 */
import { spawnSync } from 'node:child_process';
import { MincError } from '../errors.js';

/** name -> value as getfattr's hex (0x...) */
export type Attrs = Map<string, string>;
/** host path (latin1 key) -> its attributes */
export type AttrDump = Map<string, Attrs>;

/** What minc compares and copies: user.* and security.* (trusted.* is the filesystem's own), plus the opaque marks. */
export const ATTR_MATCH = '^(user\\.|security\\.|trusted\\.overlay\\.opaque$)';

/** getfattr's quoting of a name: \ooo for a few bytes (newline, backslash...), every other byte as is. */
export function unquote(text: Buffer): Buffer {
  const out = Buffer.alloc(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const o = text.subarray(i + 1, i + 4);
    if (text[i] === 0x5c && o.length === 3 && /^[0-7]{3}$/.test(o.toString('latin1'))) {
      out[n++] = parseInt(o.toString('latin1'), 8);
      i += 3;
    } else out[n++] = text[i]!;
  }
  return out.subarray(0, n);
}

/** The quoting setfattr --restore reads back: \ooo for every byte outside printable ASCII, and for backslash. */
export function quote(name: Buffer): string {
  let s = '';
  for (const b of name) s += b > 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\${b.toString(8).padStart(3, '0')}`;
  return s;
}

export function parseDump(out: Buffer): AttrDump {
  const dump: AttrDump = new Map();
  let cur: Attrs | null = null;
  let start = 0;
  for (let i = 0; i <= out.length; i++) {
    if (i < out.length && out[i] !== 0x0a) continue;
    const line = out.subarray(start, i);
    start = i + 1;
    if (line.length === 0) continue;
    if (line.subarray(0, 8).toString('latin1') === '# file: ') {
      cur = new Map();
      dump.set(unquote(line.subarray(8)).toString('latin1'), cur);
    } else if (cur) {
      const s = line.toString('latin1');
      const eq = s.indexOf('=');
      if (eq > 0) cur.set(s.slice(0, eq), s.slice(eq + 1));
      else cur.set(s, '');
    }
  }
  return dump;
}

function run(argv: string[], input?: Buffer): Buffer {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  if (r.error) throw new MincError(`${argv[0]}: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found (install the attr package)' : r.error.message}`);
  // status 1: some entry had none or vanished; the dump of the others is whole
  if (r.status !== 0 && r.status !== 1 && !(argv[0] === 'xargs' && r.status === 123)) {
    throw new MincError(`${argv.slice(0, 2).join(' ')}: ${r.stderr.toString().trim().split('\n')[0] ?? `status ${r.status}`}`);
  }
  return r.stdout;
}

/** The attributes of everything in a tree (symlinks not followed), one exec. */
export function dumpTree(dir: string, match = ATTR_MATCH): AttrDump {
  return parseDump(run(['getfattr', '-R', '-P', '-h', '--absolute-names', '-d', '-e', 'hex', '-m', match, '--', dir]));
}

/** The attributes of each path (absolute, bytes), one exec per ~100k paths. */
export function dumpPaths(paths: readonly Buffer[], match = ATTR_MATCH): AttrDump {
  if (paths.length === 0) return new Map();
  const input = Buffer.concat(paths.flatMap((p) => [p, Buffer.from([0])]));
  return parseDump(run(['xargs', '-0', '-r', 'getfattr', '-h', '--absolute-names', '-d', '-e', 'hex', '-m', match, '--'], input));
}

/** An attribute of the file's own, not an overlay's mark (kernel overlayfs's user.overlay.*, fuse-overlayfs's user.fuseoverlayfs.*). */
const ownName = (k: string): boolean => /^(user|security)\./.test(k) && !k.startsWith('user.overlay.') && !k.startsWith('user.fuseoverlayfs.');

/** Set attributes: one `setfattr --restore` for all paths (names absolute, links not followed). */
export function restoreAttrs(items: readonly { path: Buffer; attrs: Attrs }[]): void {
  const parts: string[] = [];
  for (const { path, attrs } of items) {
    const own = [...attrs].filter(([k]) => ownName(k));
    if (own.length === 0) continue;
    parts.push(`# file: ${quote(path)}\n${own.map(([k, v]) => `${k}=${v}`).join('\n')}\n\n`);
  }
  if (parts.length === 0) return;
  const r = spawnSync('setfattr', ['-h', '--restore=-'], { input: parts.join(''), stdio: ['pipe', 'ignore', 'pipe'] });
  if (r.error || r.status !== 0) throw new MincError(`setfattr --restore: ${r.error?.message ?? r.stderr.toString().trim().split('\n')[0]}`);
}

/** Remove one attribute (rare: a name the sandbox removed from a directory kept in place). */
export function removeAttr(path: Buffer, name: string): void {
  const r = spawnSync('xargs', ['-0', 'setfattr', '-h', '-x', name, '--'], { input: Buffer.concat([path, Buffer.from([0])]), stdio: ['pipe', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new MincError(`setfattr -x ${name}: ${r.stderr.toString().trim()}`);
}

/** The attributes minc copies, as a comparable string. */
export function ownAttrs(a: Attrs | undefined): string {
  if (!a) return '';
  return [...a].filter(([k]) => ownName(k)).sort().map(([k, v]) => `${k}=${v}`).join('\n');
}

/**
 * Copying a layer directory (a container's overlay upper dir) as GNU tar
 * walks it: `tar -c` never follows a symlink in the tree it reads (it opens
 * each entry relative to its parent's fd), so a container that swaps a dir
 * for a link to a host dir gets the link, not the host's files (cp -a reads
 * through it if the swap lands between its lstat and its open).  Names stay
 * bytes; whiteouts (0/0 devices) are kept.
 *
 * The upper's opaque marks are those of the overlay that wrote it
 * (xattrns.ts: root's trusted.overlay.opaque; a user's user.overlay.opaque,
 * or fuse-overlayfs's user.fuseoverlayfs.opaque with its two marker entries):
 * they are read from the upper and set again on the copy in this marten's own
 * form, so a layer holds one form only.  No overlay xattr travels through tar
 * (a root run's container may set user.overlay.* as plain xattrs).
 */
import { lstatSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { withContext } from '../../errors.js';
import { shQuote } from '../../plan/render.js';
import { hostRoot } from '../store.js';
import { runScript } from './extract.js';
import { opaqueMarks } from './pack.js';
import { childStage } from './unpack.js';
import { FOREIGN_OVERLAY_XATTRS, FUSE_MARKERS, FUSE_OPAQUE, opaqueName, ownNs, upperOpaqueNames } from './xattrns.js';

const XATTRS = ['--xattrs', '--xattrs-include=security.capability', '--xattrs-include=user.*', ...FOREIGN_OVERLAY_XATTRS];

export async function copyTree(src: string, dest: string): Promise<void> {
  const marks = await opaqueMarks(src, upperOpaqueNames(src));
  await mkdir(dest, { recursive: true, mode: 0o700 });
  const reader = childStage('tar', ['-C', src, ...XATTRS, '--numeric-owner', '-cf', '-', '.'], 'pipe');
  // a user's copy is the user's own (its layers are: layers/unpack.ts)
  const writer = childStage('tar', ['-C', dest, '-xf', '-', '--numeric-owner', hostRoot() ? '--same-owner' : '--no-same-owner', '--same-permissions', ...XATTRS], 'ignore');
  reader.proc.stdin!.end();
  reader.proc.stdout!.pipe(writer.proc.stdin!);
  const [r, w] = await Promise.allSettled([reader.done, writer.done]);
  if (r.status === 'rejected') throw withContext(`reading ${src}`, r.reason);
  if (w.status === 'rejected') throw withContext(`writing ${dest}`, w.reason);
  await markOpaque(src, dest, marks);
}

/** Set the opaque dirs of the upper src (marks: path -> mark) on its copy dest, in this marten's form; fuse-overlayfs's marker entries go. */
async function markOpaque(src: string, dest: string, marks: Map<string, string>): Promise<void> {
  if (marks.size === 0) return;
  const lines: string[] = [];
  const name = opaqueName(ownNs());
  for (const [path, mark] of marks) {
    if (path !== src && !path.startsWith(`${src}/`)) continue;
    const at = Buffer.from(`${dest}${path.slice(src.length)}`, 'latin1');
    if (!lstatSync(at, { throwIfNoEntry: false })?.isDirectory()) continue;
    const q = shQuote(at.toString('latin1'));
    lines.push(`setfattr -h -n ${name} -v y -- ${q}`);
    if (mark !== FUSE_OPAQUE) continue;
    for (const m of FUSE_MARKERS) {
      const st = lstatSync(Buffer.concat([at, Buffer.from(`/${m}`)]), { throwIfNoEntry: false });
      // the empty file and the 0/0 whiteout fuse-overlayfs leaves there: nothing else of that name
      if (st && ((st.isFile() && st.size === 0) || (st.isCharacterDevice() && st.rdev === 0))) lines.push(`rm -f -- ${shQuote(`${at.toString('latin1')}/${m}`)}`);
    }
  }
  try {
    await runScript(Buffer.from(`${lines.join('\n')}\n`, 'latin1'));
  } catch (e) {
    throw withContext(`marking the opaque directories of ${dest} (setfattr is in the attr package)`, e);
  }
}

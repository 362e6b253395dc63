/**
 * polecat --inspect FILE: the command, size, date, source and file list of a
 * bundle of any format, told apart by their first bytes.  The file may be
 * anyone's: .polecat.json is read bounded and shape-checked.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, createReadStream, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { MincError, UsageError } from '../errors.js';
import { run } from '../marten/proc.js';
import { readNoFollow } from '../fs/nofollow.js';

export interface BundleMeta {
  command: string[];
  source: { rootdir?: string; image?: string };
  date: string;
}

export type Kind = { format: 'sh'; offset: number } | { format: 'squashfs' } | { format: 'tgz' };

/** The format a file's first bytes say. */
export function kindOf(head: Buffer): Kind | null {
  if (head.subarray(0, 4).toString('latin1') === 'hsqs') return { format: 'squashfs' };
  if (head[0] === 0x1f && head[1] === 0x8b) return { format: 'tgz' };
  const text = head.toString('latin1');
  const m = /^#!\/bin\/sh\n(?:.*\n){0,12}?# polecat-offset: (\d{1,12}) *\n/.exec(text);
  if (m) return { format: 'sh', offset: Number(m[1]) };
  return null;
}

/** .polecat.json's text, checked. */
export function parseMeta(text: string): BundleMeta {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    throw new MincError('.polecat.json is not JSON');
  }
  const o = j as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || !Array.isArray(o.command) || !o.command.every((w) => typeof w === 'string')) {
    throw new MincError('.polecat.json: command: expected an array of strings');
  }
  const src = (typeof o.source === 'object' && o.source !== null ? o.source : {}) as Record<string, unknown>;
  return {
    command: o.command as string[],
    source: { ...(typeof src.rootdir === 'string' ? { rootdir: src.rootdir } : {}), ...(typeof src.image === 'string' ? { image: src.image } : {}) },
    date: typeof o.date === 'string' ? o.date : '?',
  };
}

function head(file: string, n = 8192): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(n);
    return b.subarray(0, readSync(fd, b, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

const clean = (s: string): string => s.replace(/[\0-\x1f\x7f]/g, '?');

export async function inspect(file: string): Promise<string> {
  let st;
  try {
    st = statSync(file);
  } catch {
    throw new UsageError(`${file}: no such file`);
  }
  if (!st.isFile()) throw new UsageError(`${file}: not a file`);
  const kind = kindOf(head(file));
  if (!kind) throw new UsageError(`${file}: not a polecat bundle (sh, tgz or squashfs)`);
  const tmp = mkdtempSync(join(tmpdir(), 'polecat-inspect-'));
  try {
    let listing: string;
    let metaText: Buffer | null;
    if (kind.format === 'tgz') {
      listing = (await run('tar', ['-tvzf', file, '--numeric-owner'])).stdout.toString();
      await run('tar', ['-xzf', file, '-C', tmp, '--no-same-owner', './.polecat.json'], false);
      metaText = readNoFollow(join(tmp, '.polecat.json'), 65536);
    } else {
      let sfs = file;
      if (kind.format === 'sh') {
        sfs = join(tmp, 'image.sfs');
        await pipeline(createReadStream(file, { start: kind.offset }), createWriteStream(sfs, { mode: 0o600 }));
      }
      listing = (await run('unsquashfs', ['-lln', '-d', '', sfs])).stdout.toString();
      await run('unsquashfs', ['-no-progress', '-d', join(tmp, 'x'), sfs, '.polecat.json'], false);
      metaText = readNoFollow(join(tmp, 'x', '.polecat.json'), 65536);
    }
    const meta = metaText ? parseMeta(metaText.toString()) : null;
    const lines = listing.split('\n').filter((l) => l.trim() !== '' && !/ $/.test(l) && !/^(Parallel unsquashfs|\d+ inodes|Filesystem on)/.test(l));
    const src = meta?.source.image ? `image ${meta.source.image}` : meta?.source.rootdir ? `rootdir ${meta.source.rootdir}` : '?';
    return [
      `format: ${kind.format}`,
      `size: ${st.size} bytes`,
      `command: ${meta ? (meta.command.length > 0 ? meta.command.map((w) => JSON.stringify(w)).join(' ') : '(none: give one when running it)') : '? (no .polecat.json)'}`,
      `date: ${meta?.date ?? '?'}`,
      `source: ${src}`,
      `files: ${lines.length}`,
      ...lines.map(clean),
    ].join('\n');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

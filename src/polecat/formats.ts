/**
 * Writing the bundle: a squashfs image (mksquashfs), a gzip tarball, or the
 * sh launcher (libexec/polecat-launcher) with the image appended at a page
 * aligned offset.  Reproducible: entries sorted, every mtime the epoch,
 * owners numeric, gzip without name or time.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { MincError } from '../errors.js';
import { run } from '../marten/proc.js';
import type { Format } from './options.js';
import { shQuote } from './trace.js';

/** What goes in: a directory, paths below it left out (a whole root), and the metadata file added at /.polecat.json. */
export interface Payload {
  dir: string;
  /** the metadata file when it is not already dir/.polecat.json */
  meta?: string;
  /** root-relative paths left out */
  exclude: string[];
  /** do not cross into other file systems (a root of /) */
  oneFileSystem: boolean;
  epoch: number;
}

export const PAGE = 4096;

/** The launcher for command, padded with spaces to its payload's (page-aligned) offset, which it names. */
export function renderLauncher(template: string, command: readonly string[]): Buffer {
  const words = Buffer.concat(command.flatMap((w, i) => (i === 0 ? [shQuote(w)] : [Buffer.from(' '), shQuote(w)])));
  const [before, after] = [template.slice(0, template.indexOf('@COMMAND@')), template.slice(template.indexOf('@COMMAND@') + 9)];
  if (!template.includes('@COMMAND@')) throw new MincError('the launcher template has no @COMMAND@');
  for (let off = PAGE; ; off += PAGE) {
    const fill = (s: string): Buffer => Buffer.from(s.replaceAll('@OFFSET@', String(off).padEnd(12, ' ')));
    const text = Buffer.concat([fill(before), words, fill(after)]);
    if (text.length + 1 > off) continue;
    const out = Buffer.alloc(off, 0x20);
    text.copy(out);
    out[off - 1] = 0x0a;
    return out;
  }
}

export function launcherTemplate(): string {
  const p = ['../libexec/polecat-launcher', '../../libexec/polecat-launcher'].map((r) => fileURLToPath(new URL(r, import.meta.url))).find((f) => existsSync(f));
  if (!p) throw new MincError('libexec/polecat-launcher not found');
  return readFileSync(p, 'utf8');
}

export async function writeSquashfs(p: Payload, out: string): Promise<void> {
  const e = String(p.epoch);
  const args = [p.dir, out, '-noappend', '-no-progress', '-quiet', '-all-time', e, '-mkfs-time', e];
  if (p.oneFileSystem) args.push('-one-file-system');
  if (p.meta) args.push('-p', `.polecat.json f 444 0 0 cat ${p.meta}`);
  if (p.exclude.length > 0) args.push('-wildcards', '-e', ...p.exclude);
  // mksquashfs reads SOURCE_DATE_EPOCH itself and then refuses -all-time: the epoch is passed here only
  await run('env', ['-u', 'SOURCE_DATE_EPOCH', 'mksquashfs', ...args]).catch((err: unknown) => {
    throw new MincError(`mksquashfs: ${(err as Error).message.replace(/^env: /, '')}`, { cause: err });
  });
}

export async function writeTgz(p: Payload, out: string): Promise<void> {
  const args = ['--sort=name', '--format=posix', '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    `--mtime=@${p.epoch}`, '--numeric-owner', '--xattrs', '--xattrs-include=*', '--anchored'];
  if (p.oneFileSystem) args.push('--one-file-system');
  for (const x of p.exclude) args.push(`--exclude=./${x}`);
  args.push('-C', p.dir, '-cf', '-', '.');
  if (p.meta) args.push('-C', p.meta.replace(/\/[^/]*$/, ''), './.polecat.json');
  const tar = spawn('tar', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const gz = spawn('gzip', ['-9n'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let err = '';
  tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = (c: ReturnType<typeof spawn>): Promise<number> => new Promise((res) => c.on('close', (code) => res(code ?? 128)));
  const statuses = Promise.all([done(tar), done(gz)]);
  await Promise.all([pipeline(tar.stdout, gz.stdin!), pipeline(gz.stdout!, createWriteStream(out, { mode: 0o644 }))]);
  const [ts, gs] = await statuses;
  // tar says 1 when a file changed while it read it; a root in use (/) does that
  if (ts > 1 || (ts === 1 && !p.oneFileSystem) || gs !== 0) throw new MincError(`tar: ${err.trim().split('\n')[0] || `status ${ts}`}`);
}

/** The sh bundle: launcher, then the squashfs image at the offset it names. */
export async function writeSh(launcher: Buffer, sfs: string, out: string): Promise<void> {
  const w = createWriteStream(out, { mode: 0o755 });
  w.write(launcher);
  await pipeline(createReadStream(sfs), w);
}

export async function writeBundle(format: Format, p: Payload, out: string, work: string, command: readonly string[]): Promise<void> {
  if (format === 'tgz') return writeTgz(p, out);
  if (format === 'squashfs') return writeSquashfs(p, out);
  const sfs = `${work}/image.sfs`;
  await writeSquashfs(p, sfs);
  await writeSh(renderLauncher(launcherTemplate(), command), sfs, out);
}

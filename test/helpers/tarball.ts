/** Tarballs built in memory with tar-stream, for hostile fixtures (any entry type, any name bytes). */
import tarStream from 'tar-stream';

export interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  body?: string | Buffer;
  mode?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  uid?: number;
  gid?: number;
}

/** The tar bytes of entries, in order (tar-stream's pack). */
export async function tarBuffer(entries: readonly TarEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c) => void chunks.push(c as Buffer));
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const body = e.body === undefined ? undefined : Buffer.from(e.body);
    pack.entry({ name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: new Date(0),
      ...(e.linkname ? { linkname: e.linkname } : {}), ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
      size: body?.length ?? 0 }, body ?? '');
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

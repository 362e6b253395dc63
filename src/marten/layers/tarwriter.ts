/**
 * Tar headers whose names are bytes.  tar-stream takes names as strings and
 * writes them as UTF-8, so a file named with byte 0xff would come out as
 * U+FFFD; GNU tar keeps bytes, and so does this: ustar headers, with a pax
 * header (hdrcharset=BINARY when the bytes are not UTF-8) for what ustar
 * cannot hold (long names and link targets, large sizes and ids).
 */
export type EntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';

export interface TarHeader {
  name: Buffer;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  /** seconds since the epoch */
  mtime: number;
  size?: number;
  linkname?: Buffer;
  devmajor?: number;
  devminor?: number;
}

const FLAG: Record<EntryType, string> = { file: '0', link: '1', symlink: '2', 'character-device': '3', 'block-device': '4', directory: '5', fifo: '6' };

export const BLOCK = 512;
export const END = Buffer.alloc(BLOCK * 2);
export const padding = (size: number): Buffer => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

const fits = (n: number, digits: number): boolean => n >= 0 && n < 8 ** digits;
const octal = (buf: Buffer, off: number, len: number, n: number): void => {
  buf.write(`${n.toString(8).padStart(len - 1, '0')}\0`, off, len, 'latin1');
};

const isUtf8 = (b: Buffer): boolean => Buffer.from(b.toString('utf8'), 'utf8').equals(b);

/** A pax record: "LEN key=value\n", LEN counting itself. */
function record(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'latin1'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body]);
}

/** Split a name into ustar's prefix (155) and name (100) at a slash, or null. */
function split(name: Buffer): { prefix: Buffer; name: Buffer } | null {
  if (name.length <= 100) return { prefix: Buffer.alloc(0), name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== 0x2f) continue;
    if (i <= 155 && name.length - i - 1 <= 100 && name.length - i - 1 > 0) return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
  }
  return null;
}

function ustar(h: TarHeader, name: Buffer, prefix: Buffer, linkname: Buffer, size: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  name.copy(b, 0, 0, 100);
  octal(b, 100, 8, h.mode & 0o7777);
  octal(b, 108, 8, fits(h.uid, 7) ? h.uid : 0);
  octal(b, 116, 8, fits(h.gid, 7) ? h.gid : 0);
  octal(b, 124, 12, fits(size, 11) ? size : 0);
  octal(b, 136, 12, fits(h.mtime, 11) ? Math.max(0, Math.floor(h.mtime)) : 0);
  b.write('        ', 148, 8, 'latin1');
  b.write(FLAG[h.type], 156, 1, 'latin1');
  linkname.copy(b, 157, 0, 100);
  b.write('ustar\x0000', 257, 8, 'latin1');
  if (h.devmajor !== undefined) octal(b, 329, 8, h.devmajor);
  if (h.devminor !== undefined) octal(b, 337, 8, h.devminor);
  prefix.copy(b, 345, 0, 155);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return b;
}

/** The header blocks of an entry (a pax header first when needed). */
export function encodeHeader(h: TarHeader): Buffer {
  const name = h.type === 'directory' && h.name[h.name.length - 1] !== 0x2f ? Buffer.concat([h.name, Buffer.from('/')]) : h.name;
  const size = h.type === 'file' ? h.size ?? 0 : 0;
  const linkname = h.linkname ?? Buffer.alloc(0);
  const parts = split(name);
  const recs: Buffer[] = [];
  if (!parts) recs.push(record('path', name));
  if (linkname.length > 100) recs.push(record('linkpath', linkname));
  if (!fits(size, 11)) recs.push(record('size', Buffer.from(String(size))));
  if (!fits(h.uid, 7)) recs.push(record('uid', Buffer.from(String(h.uid))));
  if (!fits(h.gid, 7)) recs.push(record('gid', Buffer.from(String(h.gid))));
  const main = ustar(h, parts?.name ?? name.subarray(0, 100), parts?.prefix ?? Buffer.alloc(0), linkname, size);
  if (recs.length === 0) return main;
  if (!isUtf8(name) || !isUtf8(linkname)) recs.unshift(record('hdrcharset', Buffer.from('BINARY')));
  const pax = Buffer.concat(recs);
  const paxHeader = ustar({ name: Buffer.from('PaxHeader'), type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: h.mtime }, Buffer.from('././@PaxHeader'), Buffer.alloc(0), Buffer.alloc(0), pax.length);
  paxHeader.write('x', 156, 1, 'latin1');
  // the type changed after the checksum: compute it again
  paxHeader.write('        ', 148, 8, 'latin1');
  let sum = 0;
  for (const x of paxHeader) sum += x;
  paxHeader.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return Buffer.concat([paxHeader, pax, padding(pax.length), main]);
}

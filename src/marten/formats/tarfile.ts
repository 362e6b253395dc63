/**
 * A tar written into a file as it comes, for an export: an entry whose size
 * and name are known only at its end (a layer packed on the way, named by
 * its DiffID) gets a placeholder header block, filled in once its body is
 * written (a positional write: the file is a regular file we made).  Small
 * pieces (a layer's tar headers) are gathered into 1 MiB writes.
 */
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { BLOCK, END, encodeHeader, padding } from '../layers/tarwriter.js';

const CHUNK = 1 << 20;
const fitsOctal = (n: number): boolean => n < 8 ** 11;

/** A file entry's single header block; a size of 8 GiB or more in GNU base-256 (Go's archive/tar and GNU tar read it). */
export function fileHeader(name: string, size: number): Buffer {
  const h = encodeHeader({ name: Buffer.from(name), type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: fitsOctal(size) ? size : 0 });
  if (h.length !== BLOCK) throw new Error(`tar name too long: ${name}`);
  if (!fitsOctal(size)) {
    h.fill(0, 124, 136);
    h[124] = 0x80;
    let v = BigInt(size);
    for (let i = 135; i > 124; i--, v >>= 8n) h[i] = Number(v & 0xffn);
    h.write('        ', 148, 8, 'latin1');
    let sum = 0;
    for (const x of h) sum += x;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  }
  return h;
}

export class TarFile {
  private pos = 0;
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private n = 0;
  constructor(private readonly fh: FileHandle) {}

  private async writeAt(b: Buffer, at: number): Promise<void> {
    for (let off = 0; off < b.length;) {
      const { bytesWritten } = await this.fh.write(b, off, b.length - off, at + off);
      off += bytesWritten;
    }
  }

  private async flush(): Promise<void> {
    if (this.n === 0) return;
    await this.writeAt(this.buf.subarray(0, this.n), this.pos - this.n);
    this.n = 0;
  }

  private async add(b: Buffer): Promise<void> {
    // the buffer always holds the last n bytes before pos: flush before a write that bypasses it
    const big = b.length >= CHUNK / 4;
    if (big || this.n + b.length > CHUNK) await this.flush();
    if (big) {
      await this.writeAt(b, this.pos);
    } else {
      b.copy(this.buf, this.n);
      this.n += b.length;
    }
    this.pos += b.length;
  }

  async dir(name: string): Promise<void> {
    await this.add(encodeHeader({ name: Buffer.from(name), type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 }));
  }

  async file(name: string, body: string | Buffer): Promise<void> {
    const b = Buffer.from(body);
    await this.add(fileHeader(name, b.length));
    await this.add(b);
    await this.add(padding(b.length));
  }

  /** An entry whose body is src, named by what name() makes of its sha256 once it is all written. */
  async stream(src: Readable, name: (digest: string) => string): Promise<{ digest: string; size: number }> {
    const at = this.pos;
    await this.add(Buffer.alloc(BLOCK)); // the header, once the name and size are known
    const h = createHash('sha256');
    let size = 0;
    for await (const c of src as AsyncIterable<Buffer>) {
      h.update(c);
      size += c.length;
      await this.add(c);
    }
    await this.add(padding(size));
    const digest = `sha256:${h.digest('hex')}`;
    await this.flush();
    await this.writeAt(fileHeader(name(digest), size), at);
    return { digest, size };
  }

  async end(): Promise<void> {
    await this.add(END);
    await this.flush();
  }
}

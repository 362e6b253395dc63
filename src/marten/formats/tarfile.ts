/**
 * A tar written into a file as it comes, for an export: an entry whose size
 * and name are known only at its end (a layer packed on the way, named by
 * its DiffID) gets a placeholder header block, filled in once its body is
 * written (a positional write: the file is a regular file we made).  Small
 * pieces (a layer's tar headers) are gathered into 1 MiB writes, made
 * synchronously, as the layer walk reads (pack.ts says why).
 */
import { createHash } from 'node:crypto';
import { writeSync } from 'node:fs';
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
  constructor(private readonly fd: number) {}

  private writeAt(b: Buffer, at: number): void {
    for (let off = 0; off < b.length;) off += writeSync(this.fd, b, off, b.length - off, at + off);
  }

  private flush(): void {
    if (this.n === 0) return;
    this.writeAt(this.buf.subarray(0, this.n), this.pos - this.n);
    this.n = 0;
  }

  private add(b: Buffer): void {
    // the buffer always holds the last n bytes before pos: flush before a write that bypasses it
    const big = b.length >= CHUNK / 4;
    if (big || this.n + b.length > CHUNK) this.flush();
    if (big) {
      this.writeAt(b, this.pos);
    } else {
      b.copy(this.buf, this.n);
      this.n += b.length;
    }
    this.pos += b.length;
  }

  dir(name: string): void {
    this.add(encodeHeader({ name: Buffer.from(name), type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: 0 }));
  }

  file(name: string, body: string | Buffer): void {
    const b = Buffer.from(body);
    this.add(fileHeader(name, b.length));
    this.add(b);
    this.add(padding(b.length));
  }

  /**
   * An entry whose body is src, named by what name() makes of its sha256
   * once it is all written.  A sync iterable (a layer walked) is written
   * without a trip through the event loop per piece.
   */
  async stream(src: Iterable<Buffer> | AsyncIterable<Buffer>, name: (digest: string) => string): Promise<{ digest: string; size: number }> {
    const at = this.pos;
    this.add(Buffer.alloc(BLOCK)); // the header, once the name and size are known
    const h = createHash('sha256');
    let size = 0;
    const put = (c: Buffer): void => {
      h.update(c);
      size += c.length;
      this.add(c);
    };
    if (Symbol.iterator in src) for (const c of src) put(c);
    else for await (const c of src) put(c);
    this.add(padding(size));
    const digest = `sha256:${h.digest('hex')}`;
    this.flush();
    this.writeAt(fileHeader(name(digest), size), at);
    return { digest, size };
  }

  end(): void {
    this.add(END);
    this.flush();
  }
}

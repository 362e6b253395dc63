/**
 * Where a layer walk (pack.ts) puts its tar: each piece as it is (an export
 * writes them itself), or gathered into chunks of 1 MiB (a push: each chunk
 * goes through two hashers and into the gzip program's pipe, and a layer is
 * mostly small files, three pieces each).  A file's bytes are read straight
 * into the chunk: no buffer of its own to allocate, copy and collect.
 */
import { readSync } from 'node:fs';
import { MincError } from '../../errors.js';

export interface TarOut {
  /** a header, padding or the end blocks */
  piece(b: Buffer): Iterable<Buffer>;
  /** exactly size bytes of the open file fd (shown: its name in errors) */
  body(fd: number, size: number, shown: string): Iterable<Buffer>;
  /** what is left, once the walk is done */
  end(): Iterable<Buffer>;
}

const shrank = (shown: string): MincError => new MincError(`${shown} shrank while it was packed`);

export const piecesOut: TarOut = {
  *piece(b) {
    yield b;
  },
  *body(fd, size, shown) {
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(left, 1 << 20));
      const got = readSync(fd, buf, 0, buf.length, null);
      if (got === 0) throw shrank(shown);
      left -= got;
      yield buf.subarray(0, got);
    }
  },
  *end() { /* nothing kept */ },
};

export class ChunkOut implements TarOut {
  private buf: Buffer;
  private n = 0;

  constructor(private readonly size = 1 << 20) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** The chunk so far; the next one is a new buffer (the reader owns this one now). */
  private take(): Buffer {
    const b = this.buf.subarray(0, this.n);
    this.buf = Buffer.allocUnsafe(this.size);
    this.n = 0;
    return b;
  }

  *piece(b: Buffer): Generator<Buffer> {
    for (let off = 0; off < b.length;) {
      const k = b.copy(this.buf, this.n, off);
      this.n += k;
      off += k;
      if (this.n === this.size) yield this.take();
    }
  }

  *body(fd: number, size: number, shown: string): Generator<Buffer> {
    for (let left = size; left > 0;) {
      // never more than the size lstat gave: a file that grows meanwhile is cut there
      const got = readSync(fd, this.buf, this.n, Math.min(left, this.size - this.n), null);
      if (got === 0) throw shrank(shown);
      this.n += got;
      left -= got;
      if (this.n === this.size) yield this.take();
    }
  }

  *end(): Generator<Buffer> {
    if (this.n > 0) yield this.take();
  }
}

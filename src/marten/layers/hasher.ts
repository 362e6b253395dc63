/** A pass-through stream that hashes (sha256) and counts what flows through it. */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class Hasher extends Transform {
  private readonly h = createHash('sha256');
  bytes = 0;
  /** onBytes: told the size of each chunk (a progress bar) */
  constructor(private readonly onBytes?: (n: number) => void) {
    super({ highWaterMark: 1 << 20 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.h.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length);
    cb(null, chunk);
  }
  digest(): string {
    return `sha256:${this.h.digest('hex')}`;
  }
}

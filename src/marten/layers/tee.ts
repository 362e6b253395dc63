/**
 * A pass-through that also writes what flows through it to another stream
 * (a push's upload body, while the same bytes go to the store's file):
 * it waits while that stream is full, so a slow registry slows the packing
 * instead of filling memory; destroys it on an error, and fails if it is
 * destroyed first (the upload gave up).  It does not end it: the owner does,
 * once the whole blob is known good (the gzip program exited well), so an
 * upload never looks whole before then.
 */
import { Transform, type TransformCallback, type Writable } from 'node:stream';
import { MincError } from '../../errors.js';

export class Tee extends Transform {
  constructor(private readonly out: Writable) {
    super({ highWaterMark: 1 << 20 });
  }

  private gone(): Error {
    return this.out.errored ?? new MincError('the upload ended before the layer was packed');
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.out.destroyed) {
      cb(this.gone());
      return;
    }
    if (this.out.write(chunk)) {
      cb(null, chunk);
      return;
    }
    const done = (err: Error | null): void => {
      this.out.off('drain', onDrain);
      this.out.off('close', onClose);
      if (err) cb(err);
      else cb(null, chunk);
    };
    const onDrain = (): void => done(null);
    const onClose = (): void => done(this.gone());
    this.out.on('drain', onDrain);
    this.out.on('close', onClose);
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    if (err && !this.out.destroyed) this.out.destroy(err);
    cb(err);
  }
}

/**
 * Small chunks gathered into chunks of about size bytes (a gzip program's
 * output comes in 64 KiB pipe reads): the upload's socket and the store's
 * file then take a sixteenth of the writes, each a system call.
 */
export class Gather extends Transform {
  private parts: Buffer[] = [];
  private n = 0;

  constructor(private readonly size = 1 << 20) {
    super({ highWaterMark: size });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.parts.push(chunk);
    this.n += chunk.length;
    if (this.n >= this.size) this.flushParts();
    cb();
  }

  override _flush(cb: TransformCallback): void {
    this.flushParts();
    cb();
  }

  private flushParts(): void {
    if (this.n > 0) this.push(this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.n));
    this.parts = [];
    this.n = 0;
  }
}

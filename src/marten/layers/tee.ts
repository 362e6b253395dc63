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

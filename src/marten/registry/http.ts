/**
 * Bounded reads of what a registry sends (it may be hostile): a size limit on
 * every body (skopeo's 4 MiB for manifests, configs, indexes and token
 * replies; a blob's descriptor size for a blob) and a stall timeout on every
 * socket (no byte for MARTEN_STALL_TIMEOUT_MS, default 60 s), so an endless
 * or silent reply ends in one line instead of filling memory, disk or time.
 */
import type { IncomingMessage } from 'node:http';
import type { Readable, TransformCallback } from 'node:stream';
import { Hasher } from '../layers/hasher.js';
import { MincError } from '../../errors.js';

/** manifests, indexes, configs, token replies: what skopeo allows (its "exceeded maximum allowed size") */
export const MAX_JSON = 4 << 20;
/** an error reply's body: only read for its message */
const MAX_ERROR_BODY = 64 << 10;

/** Milliseconds with no byte after which a read is given up: 60 s; MARTEN_STALL_TIMEOUT_MS is a knob for tests. */
export function stallMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.MARTEN_STALL_TIMEOUT_MS);
  return Number.isSafeInteger(v) && v > 0 ? v : 60_000;
}

export const stallText = (ms: number): string => `no data for ${ms / 1000} s`;

export const sizeText = (n: number): string => (n % (1 << 20) === 0 ? `${n >> 20} MiB` : `${n} bytes`);

/** A MincError for err, a stream or file error met while doing `what` (ENOSPC said plainly). */
export function ioError(what: string, err: unknown): MincError {
  if (err instanceof MincError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOSPC') return new MincError(`${what}: no space left on device (free some space where $MINCS_DIR is)`);
  return new MincError(`${what}: ${[e?.code, e?.message ?? String(err)].filter(Boolean).join(' ')}`);
}

/**
 * One GET with node:http(s), resolving to the response (status and body unread). The
 * socket is given up after stallMs() without a byte, before or after the headers: the
 * response then ends with that error (`what` names the thing fetched in it).
 */
export function httpGet(url: URL, headers: Record<string, string>, what = `GET ${url.href}`): Promise<IncomingMessage> {
  const mod = (url.protocol === 'https:' ? process.getBuiltinModule('node:https') : process.getBuiltinModule('node:http')) as typeof import('node:http');
  const ms = stallMs();
  return new Promise((resolve, reject) => {
    let res: IncomingMessage | null = null;
    const req = mod.get(url, { headers }, (r) => {
      res = r;
      resolve(r);
    });
    req.setTimeout(ms, () => {
      const e = new MincError(`${what}: ${stallText(ms)} (the registry stalled; try again later)`);
      if (res) res.destroy(e);
      req.destroy(e);
    });
    req.on('error', (err: NodeJS.ErrnoException) => reject(err instanceof MincError ? err : new MincError(`GET ${url.href}: ${[err.code, err.message].filter(Boolean).join(' ')}`)));
  });
}

/**
 * A request whose body is a stream (a push's chunked upload) with node:http(s): no web
 * streams between the layer and the socket.  Resolves to the response once its headers
 * are in (its body unread); the socket is given up after stallMs() without a byte either
 * way; an error of the body ends the request with it.
 */
export function httpSend(url: URL, method: string, headers: Record<string, string>, body: Readable): Promise<IncomingMessage> {
  const mod = (url.protocol === 'https:' ? process.getBuiltinModule('node:https') : process.getBuiltinModule('node:http')) as typeof import('node:http');
  const ms = stallMs();
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = mod.request(url, { method, headers }, (r) => {
      answered = true;
      resolve(r);
    });
    const fail = (err: Error): void => {
      if (answered) return; // a registry may answer (a refusal) before it has read the whole body
      reject(err instanceof MincError ? err : new MincError(`${method} ${url.href}: ${[(err as NodeJS.ErrnoException).code, err.message].filter(Boolean).join(' ')}`));
    };
    req.setTimeout(ms, () => req.destroy(new MincError(`${method} ${url.href}: ${stallText(ms)} (the registry stalled; try again later)`)));
    req.on('error', fail);
    body.on('error', (err) => {
      req.destroy(err);
      fail(err);
    });
    body.pipe(req);
  });
}

const contentLength = (res: IncomingMessage): number | null => {
  const v = res.headers['content-length'];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
};

/** The stall error the response was destroyed with, or what an early end means. */
function readError(what: string, err: unknown, got: number, total: number | null): MincError {
  if (err instanceof MincError) return err.message.startsWith(what) ? err : new MincError(`${what}: ${err.message.replace(/^GET \S+: /, '')}`);
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ECONNRESET' || e?.message === 'aborted') {
    return new MincError(`${what}: the connection closed early after ${got}${total === null ? '' : ` of ${total}`} bytes`);
  }
  return ioError(what, err);
}

/**
 * A whole body of at most limit bytes (refused up front by its Content-Length, else at the
 * first byte past the limit): manifests, configs, indexes, token replies.
 */
export async function readBounded(res: IncomingMessage, what: string, limit = MAX_JSON): Promise<Buffer> {
  const total = contentLength(res);
  const over = (): MincError => new MincError(`${what}: exceeded maximum allowed size (${sizeText(limit)}); the registry is broken or hostile`);
  if (total !== null && total > limit) {
    res.destroy();
    throw over();
  }
  const parts: Buffer[] = [];
  let got = 0;
  try {
    for await (const c of res) {
      got += (c as Buffer).length;
      if (got > limit) {
        res.destroy();
        throw over();
      }
      parts.push(c as Buffer);
    }
  } catch (err) {
    if (err instanceof MincError && err.message.startsWith(what)) throw err;
    throw readError(what, err, got, total);
  }
  if (total !== null && got < total) throw new MincError(`${what}: the connection closed early after ${got} of ${total} bytes`);
  return Buffer.concat(parts);
}

/** An error reply's body, for its message only: bounded, and nothing if it is not there in time. */
export async function errorBody(res: IncomingMessage): Promise<Buffer> {
  try {
    return await readBounded(res, 'error reply', MAX_ERROR_BODY);
  } catch {
    return Buffer.alloc(0);
  }
}

/** The registry's error list, `CODE message; ...`, from an error reply body ('' if none). */
export function errorDetail(body: Buffer): string {
  try {
    const j = JSON.parse(body.toString('utf8')) as { errors?: unknown };
    if (!Array.isArray(j?.errors)) return '';
    return j.errors
      .map((e: { code?: unknown; message?: unknown }) => [e?.code, e?.message].filter((x) => typeof x === 'string' && x).join(' '))
      .filter(Boolean).join('; ').replace(/[\0-\x1f\x7f]/g, ' ').slice(0, 500);
  } catch {
    return '';
  }
}

/**
 * A pass-through for a blob's body: hashes (sha256) and counts it, and fails at the first
 * byte past the descriptor's size.
 */
export class BlobSink extends Hasher {
  constructor(private readonly what: string, private readonly size: number, onBytes?: (n: number) => void) {
    super(onBytes);
  }
  override _transform(chunk: Buffer, enc: BufferEncoding, cb: TransformCallback): void {
    if (this.bytes + chunk.length > this.size) {
      cb(new MincError(`${this.what}: the registry sent more than the ${this.size} bytes its descriptor says`));
      return;
    }
    super._transform(chunk, enc, cb);
  }
}

/** Refuse a blob reply whose Content-Length is not its descriptor's size, before a byte is written. */
export function checkBlobLength(what: string, length: number | null, size: number): void {
  if (length !== null && length !== size) {
    throw new MincError(`${what}: the registry says Content-Length ${length}, its descriptor says ${size} bytes: refused`);
  }
}

/** A blob response's body into the file: bounded by size, hashed; resolves to its digest. */
export async function saveBlob(res: IncomingMessage, what: string, size: number, file: string, onBytes?: (n: number) => void): Promise<string> {
  const total = contentLength(res);
  try {
    checkBlobLength(what, total, size);
  } catch (err) {
    res.destroy();
    throw err;
  }
  const { createWriteStream } = process.getBuiltinModule('node:fs');
  const { pipeline } = await import('node:stream/promises');
  const sink = new BlobSink(what, size, onBytes);
  const out = createWriteStream(file, { highWaterMark: 1 << 20, flags: 'wx', mode: 0o600 });
  try {
    await pipeline(res, sink, out);
  } catch (err) {
    if (err instanceof MincError && err.message.startsWith(what)) throw err;
    const syscall = (err as NodeJS.ErrnoException)?.syscall;
    if ((err as NodeJS.ErrnoException)?.code === 'ENOSPC' || syscall === 'write' || syscall === 'open') throw ioError(`${what}: writing ${file}`, err);
    throw readError(what, err, sink.bytes, size);
  }
  if (sink.bytes < size) throw new MincError(`${what}: the reply ended after ${sink.bytes} of ${size} bytes`);
  return sink.digest();
}

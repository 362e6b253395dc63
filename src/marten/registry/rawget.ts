/**
 * A blob GET over plain http on a bare socket: no http parser, no stream
 * objects, one reused 1 MB read buffer; each read is hashed and written to
 * the file as it comes, with no copy in between.  It halves the CPU a pull
 * from a plain-http registry (localhost, --insecure) costs.  Only the plain
 * case: a 200 with a Content-Length.  Anything else (a 401 for a token, a
 * redirect, a 404, chunked, https) resolves to { status } (-1: not plain)
 * before a byte is written, and the caller asks again the ordinary way
 * (client.ts), which authenticates, follows, or says what is wrong.
 * Bounded like every registry read (http.ts): a Content-Length other than
 * the descriptor's size is refused before the file is made, bytes past it
 * are never read, and a socket silent for the stall timeout is given up.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { MincError } from '../../errors.js';
import { checkBlobLength, ioError, stallMs, stallText } from './http.js';

export interface BlobJob {
  url: string;
  headers: Record<string, string>;
  /** the file to write (created; it must not exist) */
  file: string;
  /** the descriptor's size: the most that is read */
  size: number;
  /** what the errors name: `blob sha256:...` */
  what: string;
}

export type BlobResult = { status: 200; digest: string; size: number } | { status: number };

// node:net and node:crypto load on first use

export function rawGet(job: BlobJob, onBytes: (n: number) => void): Promise<BlobResult> {
  const u = new URL(job.url);
  if (u.protocol !== 'http:') return Promise.resolve({ status: -1 });
  const net = process.getBuiltinModule('node:net');
  const { createHash } = process.getBuiltinModule('node:crypto');
  const ms = stallMs();
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let head: Buffer | null = Buffer.alloc(0);
    let fd = -1;
    let want = 0;
    let got = 0;
    let done = false;
    const finish = (result: BlobResult | null, err?: unknown): void => {
      if (done) return;
      done = true;
      sock.destroy();
      if (fd >= 0) closeSync(fd);
      if (err !== undefined) reject(err);
      else resolve(result!);
    };
    const body = (chunk: Buffer): void => {
      const b = got + chunk.length > want ? chunk.subarray(0, want - got) : chunk;
      h.update(b);
      try {
        for (let off = 0; off < b.length; ) off += writeSync(fd, b, off);
      } catch (err) {
        throw ioError(`${job.what}: writing ${job.file}`, err);
      }
      got += b.length;
      onBytes(b.length);
      if (got === want) finish({ status: 200, digest: `sha256:${h.digest('hex')}`, size: got });
    };
    const onread = (n: number, buf: Buffer): void => {
      if (done) return;
      try {
        if (head === null) return body(buf.subarray(0, n));
        head = Buffer.concat([head, buf.subarray(0, n)]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 65536) finish({ status: -1 });
          return;
        }
        const lines = head.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? -1);
        const hdr: Record<string, string> = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          if (i > 0) hdr[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        if (status !== 200) return finish({ status });
        if (hdr['transfer-encoding'] || !/^\d+$/.test(hdr['content-length'] ?? '')) return finish({ status: -1 });
        want = Number(hdr['content-length']);
        checkBlobLength(job.what, want, job.size);
        fd = openSync(job.file, 'wx', 0o600);
        const rest = head.subarray(end + 4);
        head = null;
        if (want === 0) return finish({ status: 200, digest: `sha256:${h.digest('hex')}`, size: 0 });
        if (rest.length > 0) body(rest);
      } catch (err) {
        finish(null, err);
      }
    };
    const sock = net.connect({
      host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(u.port || 80),
      onread: { buffer: Buffer.allocUnsafe(1 << 20), callback: (n: number, buf: Uint8Array): boolean => (onread(n, buf as Buffer), true) },
    });
    sock.setTimeout(ms, () => {
      const where = head === null ? ` after ${got} of ${want} bytes` : ' before a reply';
      finish(null, new MincError(`${job.what}: ${stallText(ms)}${where} (the registry stalled; try again later)`));
    });
    sock.on('connect', () => {
      const extra = Object.entries(job.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      sock.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUser-Agent: marten\r\nAccept: */*\r\nConnection: close\r\n${extra}\r\n`);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => finish(null, new MincError(head === null
      ? `${job.what}: the connection closed early after ${got} of ${want} bytes (${e.code ?? e.message})`
      : `GET ${job.url}: ${[e.code, e.message].filter(Boolean).join(' ')}`)));
    sock.on('close', () => finish(null, new MincError(head === null
      ? `${job.what}: the connection closed early after ${got} of ${want} bytes`
      : `GET ${job.url}: the connection closed before a reply`)));
  });
}

/**
 * A Registry HTTP API v2 client (node's fetch): one repository, auth done on
 * the first 401 (bearer token challenge, else basic), errors as one line.
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { MincError } from '../../errors.js';
import { basicHeader, dockerCredentials, fetchToken, parseChallenge, type Credentials } from './auth.js';
import { errorBody, errorDetail, httpGet, httpSend, MAX_JSON, readBounded, stallMs, stallText } from './http.js';
import { isLoopback, type Ref } from './ref.js';

export interface ClientOptions {
  insecure?: boolean;
  push?: boolean;
}

type Init = RequestInit & { duplex?: 'half' };

// node:http(s) are loaded on first use (http.ts): marten pull's GETs go through them (no undici to load, no web streams)

const STATUS: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable' };

export class RegistryClient {
  readonly base: string;
  private auth: string | null = null;
  private readonly creds: Credentials | null;

  constructor(readonly ref: Ref, private readonly opts: ClientOptions = {}) {
    const scheme = opts.insecure || isLoopback(ref.host) ? 'http' : 'https';
    this.base = `${scheme}://${ref.host}/v2/${ref.repo}`;
    this.creds = dockerCredentials(ref.registry);
  }

  private get scope(): string {
    return `repository:${this.ref.repo}:${this.opts.push ? 'pull,push' : 'pull'}`;
  }

  /**
   * One fetch (push's requests), given up after stallMs() with nothing sent or received:
   * the watchdog is fed by the upload's chunks (init.feed) and stopped once the headers are in.
   */
  private async send(url: string, init: Init & { feed?: (poke: () => void) => void }): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.auth) headers.set('authorization', this.auth);
    const ms = stallMs();
    const ctl = new AbortController();
    let timer = setTimeout(() => ctl.abort(), ms);
    init.feed?.(() => {
      clearTimeout(timer);
      timer = setTimeout(() => ctl.abort(), ms);
    });
    const { feed: _feed, ...rest } = init;
    try {
      return await fetch(url, { ...rest, headers, redirect: 'follow', signal: ctl.signal });
    } catch (err) {
      if (ctl.signal.aborted) throw new MincError(`${init.method ?? 'GET'} ${url}: ${stallText(ms)} (the registry stalled; try again later)`);
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = [cause?.code, cause?.message ?? (err as Error).message].filter(Boolean).join(' ');
      throw new MincError(`${init.method ?? 'GET'} ${url}: ${why}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A request; on 401 authenticate as the challenge says and try once more (bodies must be replayable then). */
  async request(path: string, init: Init & { feed?: (poke: () => void) => void } = {}, ok: readonly number[] = [200]): Promise<Response> {
    const url = path.startsWith('http') ? path : `${this.base}${path}`;
    let res = await this.send(url, init);
    if (res.status === 401 && !init.body) {
      await this.authenticate(res);
      res = await this.send(url, init);
    }
    if (!ok.includes(res.status)) {
      const detail = errorDetail(await fetchErrorBody(res));
      const what = res.status === 401 ? ' (unauthorized: check the credentials in ~/.docker/config.json)' : res.status === 404 ? ' (not found)' : '';
      throw new MincError(`${init.method ?? 'GET'} ${url}: ${res.status} ${res.statusText}${what}${detail ? `: ${detail}` : ''}`);
    }
    return res;
  }

  /**
   * A request with a streamed body (a chunked upload: PATCH), with node:http(s); no
   * redirect is followed (the body cannot be sent twice), and authentication must be done
   * (ensureAuth).  Resolves to the response's status and headers once the body is sent.
   */
  async sendStream(url: string, method: string, headers: Record<string, string>, body: Readable, ok: readonly number[]): Promise<{ status: number; location: string | null }> {
    const res = await httpSend(new URL(url), method, { ...headers, ...(this.auth ? { authorization: this.auth } : {}) }, body);
    const status = res.statusCode ?? 0;
    if (!ok.includes(status)) {
      const detail = errorDetail(await errorBody(res));
      const what = status === 401 ? ' (unauthorized: check the credentials in ~/.docker/config.json)' : status === 404 ? ' (not found)' : '';
      throw new MincError(`${method} ${url}: ${status} ${res.statusMessage || STATUS[status] || ''}${what}${detail ? `: ${detail}` : ''}`);
    }
    res.destroy(); // nothing in it is needed: not read at all
    const location = res.headers.location;
    return { status, location: typeof location === 'string' ? location : null };
  }

  /**
   * A GET with node:http(s) (what pull uses: less to load and to copy than fetch): follows
   * redirects (the authorization only to the registry's own host), authenticates on the
   * first 401; resolves to a 200 response whose body is for the caller to read.
   */
  async get(path: string, headers: Record<string, string> = {}, label?: string): Promise<IncomingMessage> {
    let url = new URL(path.startsWith('http') ? path : `${this.base}${path}`);
    const origin = url.origin;
    let authed = false;
    for (let hops = 0; hops < 10; hops++) {
      const h = { ...headers, ...(this.auth && url.origin === origin ? { authorization: this.auth } : {}) };
      const res = await httpGet(url, h, label);
      const status = res.statusCode ?? 0;
      if (status === 200) return res;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
        res.resume();
        url = new URL(res.headers.location, url);
        // a registry may send a blob to its storage elsewhere, but only over http(s), and not from https down to http
        if (!['http:', 'https:'].includes(url.protocol) || (url.protocol === 'http:' && origin.startsWith('https:'))) {
          throw new MincError(`GET ${path}: the registry redirected to ${url.protocol}//${url.host}: refused`);
        }
        continue;
      }
      if (status === 401 && !authed && url.origin === origin) {
        res.resume();
        await this.authenticateWith(String(res.headers['www-authenticate'] ?? ''));
        authed = true;
        continue;
      }
      const detail = errorDetail(await errorBody(res));
      const what = status === 401 ? ' (unauthorized: check the credentials in ~/.docker/config.json)' : status === 404 ? ' (not found)' : '';
      throw new MincError(`GET ${url.href}: ${status} ${res.statusMessage || STATUS[status] || ''}${what}${detail ? `: ${detail}` : ''}`);
    }
    throw new MincError(`GET ${url.href}: too many redirects`);
  }

  /** The URL and headers a plain GET of path goes with now (for a download thread, blobpool.ts). */
  plainGet(path: string): { url: string; headers: Record<string, string> } {
    return { url: `${this.base}${path}`, headers: this.auth ? { authorization: this.auth } : {} };
  }

  /** A GET's whole body, at most limit bytes (manifests, configs: 4 MiB); `what` names it in errors. */
  async getBytes(path: string, what: string, headers: Record<string, string> = {}, limit = MAX_JSON): Promise<{ bytes: Buffer; contentType: string }> {
    const res = await this.get(path, headers, what);
    return { bytes: await readBounded(res, what, limit), contentType: String(res.headers['content-type'] ?? '') };
  }

  /** Authenticate ahead of a request with a body that cannot be sent twice (uploads). */
  async ensureAuth(): Promise<void> {
    if (this.auth) return;
    const res = await this.send(`${this.base.replace(/\/v2\/.*$/, '/v2/')}`, {});
    if (res.status === 401) await this.authenticate(res);
    await res.body?.cancel().catch(() => undefined);
  }

  private async authenticate(res: Response): Promise<void> {
    await res.body?.cancel().catch(() => undefined);
    await this.authenticateWith(res.headers.get('www-authenticate'));
  }

  private async authenticateWith(header: string | null): Promise<void> {
    const { scheme, params } = parseChallenge(header ?? '');
    if (scheme === 'bearer') {
      this.auth = `Bearer ${await fetchToken(params, this.scope, this.creds)}`;
    } else if (scheme === 'basic') {
      if (!this.creds) throw new MincError(`${this.ref.registry}: 401 unauthorized and no credentials for it in ~/.docker/config.json`);
      this.auth = basicHeader(this.creds);
    } else {
      throw new MincError(`${this.ref.registry}: 401 unauthorized with an unknown challenge '${(header ?? '').slice(0, 200)}'`);
    }
  }
}

/** A fetch error reply's body, for its message only: at most 64 KiB, and nothing if it does not come in time. */
async function fetchErrorBody(res: Response): Promise<Buffer> {
  const reader = res.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  const parts: Uint8Array[] = [];
  let n = 0;
  const timer = setTimeout(() => void reader.cancel().catch(() => undefined), Math.min(stallMs(), 5000));
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      parts.push(r.value);
      n += r.value.length;
      if (n > 64 << 10) break;
    }
  } catch {
    /* cut short: the message is only a detail */
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(parts);
}

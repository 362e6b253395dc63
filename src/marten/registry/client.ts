/**
 * A Registry HTTP API v2 client (node's fetch): one repository, auth done on
 * the first 401 (bearer token challenge, else basic), errors as one line.
 */
import { MincError } from '../../errors.js';
import { basicHeader, dockerCredentials, fetchToken, parseChallenge, type Credentials } from './auth.js';
import { isLoopback, type Ref } from './ref.js';

export interface ClientOptions {
  insecure?: boolean;
  push?: boolean;
}

type Init = RequestInit & { duplex?: 'half' };

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

  private async send(url: string, init: Init): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.auth) headers.set('authorization', this.auth);
    try {
      return await fetch(url, { ...init, headers, redirect: 'follow' });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = [cause?.code, cause?.message ?? (err as Error).message].filter(Boolean).join(' ');
      throw new MincError(`${init.method ?? 'GET'} ${url}: ${why}`);
    }
  }

  /** A request; on 401 authenticate as the challenge says and try once more (bodies must be replayable then). */
  async request(path: string, init: Init = {}, ok: readonly number[] = [200]): Promise<Response> {
    const url = path.startsWith('http') ? path : `${this.base}${path}`;
    let res = await this.send(url, init);
    if (res.status === 401 && !init.body) {
      await this.authenticate(res);
      res = await this.send(url, init);
    }
    if (!ok.includes(res.status)) {
      let detail = '';
      try {
        const body = (await res.json()) as { errors?: { code?: string; message?: string }[] };
        detail = body.errors?.map((e) => [e.code, e.message].filter(Boolean).join(' ')).join('; ') ?? '';
      } catch {
        /* not JSON */
      }
      const what = res.status === 401 ? ' (unauthorized: check the credentials in ~/.docker/config.json)' : res.status === 404 ? ' (not found)' : '';
      throw new MincError(`${init.method ?? 'GET'} ${url}: ${res.status} ${res.statusText}${what}${detail ? `: ${detail}` : ''}`);
    }
    return res;
  }

  /** Authenticate ahead of a request with a body that cannot be sent twice (uploads). */
  async ensureAuth(): Promise<void> {
    if (this.auth) return;
    const res = await this.send(`${this.base.replace(/\/v2\/.*$/, '/v2/')}`, {});
    if (res.status === 401) await this.authenticate(res);
    await res.body?.cancel();
  }

  private async authenticate(res: Response): Promise<void> {
    await res.body?.cancel();
    const header = res.headers.get('www-authenticate');
    const { scheme, params } = parseChallenge(header ?? '');
    if (scheme === 'bearer') {
      this.auth = `Bearer ${await fetchToken(params, this.scope, this.creds)}`;
    } else if (scheme === 'basic') {
      if (!this.creds) throw new MincError(`${this.ref.registry}: 401 unauthorized and no credentials for it in ~/.docker/config.json`);
      this.auth = basicHeader(this.creds);
    } else {
      throw new MincError(`${this.ref.registry}: 401 unauthorized with an unknown challenge '${header ?? ''}'`);
    }
  }
}

/**
 * Registry credentials and tokens: basic auth from ~/.docker/config.json
 * (or $DOCKER_CONFIG/config.json), and the bearer token challenge
 * (WWW-Authenticate: Bearer realm=...,service=...,scope=...) Docker Hub uses.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MincError } from '../../errors.js';
import { httpGet, readBounded } from './http.js';
import { DOCKER_HUB } from './ref.js';
import { checkToken, parseJson } from './shape.js';

export interface Credentials {
  username: string;
  password: string;
}

export function dockerCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Credentials | null {
  const file = join(env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'), 'config.json');
  let cfg: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  try {
    cfg = JSON.parse(readFileSync(file, 'utf8')) as typeof cfg;
  } catch {
    return null;
  }
  const keys = registry === DOCKER_HUB ? ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'] : [registry, `https://${registry}`, `http://${registry}`];
  for (const k of keys) {
    const a = cfg?.auths?.[k] ?? cfg?.auths?.[`${k}/`];
    // a hand-edited config.json may hold anything: only strings are used
    if (!a || typeof a !== 'object') continue;
    if (typeof a.auth === 'string' && a.auth) {
      const dec = Buffer.from(a.auth, 'base64').toString('utf8');
      const i = dec.indexOf(':');
      if (i > 0) return { username: dec.slice(0, i), password: dec.slice(i + 1) };
    }
    if (typeof a.username === 'string' && typeof a.password === 'string' && a.username && a.password) return { username: a.username, password: a.password };
  }
  return null;
}

export const basicHeader = (c: Credentials): string => `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

/** Parse `Bearer realm="...",service="..."` into its scheme and parameters. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^(\w+)\s*(.*)$/s.exec(header.trim());
  const params: Record<string, string> = {};
  if (!m) return { scheme: '', params };
  const re = /(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2] ?? ''); p; p = re.exec(m[2] ?? '')) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3] ?? '';
  return { scheme: m[1]!.toLowerCase(), params };
}

/**
 * Get a bearer token for scope from the challenge's realm (with basic credentials if any):
 * a GET (node:http(s), redirects followed), its reply bounded and checked (http.ts, shape.ts).
 */
export async function fetchToken(challenge: Record<string, string>, scope: string, creds: Credentials | null): Promise<string> {
  const realm = challenge.realm;
  if (!realm) throw new MincError('the registry asked for a bearer token but named no realm');
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new MincError(`the registry asked for a bearer token from '${realm.slice(0, 200)}', which is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new MincError(`the token realm ${url.origin} is not http(s)`);
  if (challenge.service) url.searchParams.set('service', challenge.service);
  url.searchParams.set('scope', scope);
  const headers: Record<string, string> = {};
  if (creds) headers.authorization = basicHeader(creds);
  const first = url.origin;
  for (let hops = 0; hops < 5; hops++) {
    const res = await httpGet(url, url.origin === first ? headers : {}).catch((err: unknown) => {
      throw new MincError(`getting a token from ${url.origin}: ${(err as Error).message.replace(/^GET \S+: /, '')}`);
    });
    const status = res.statusCode ?? 0;
    if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
      res.resume();
      url = new URL(res.headers.location, url);
      continue;
    }
    if (status !== 200) {
      res.resume();
      throw new MincError(`getting a token from ${url.origin}: ${status} ${res.statusMessage ?? ''}`.trimEnd());
    }
    const what = `token reply from ${url.origin}`;
    return checkToken(parseJson(await readBounded(res, what), what), what);
  }
  throw new MincError(`getting a token from ${url.origin}: too many redirects`);
}

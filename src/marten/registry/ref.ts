/** Image references: [REGISTRY[:PORT]/]NAME[:TAG|@DIGEST], with Docker's defaults. */
import { UsageError } from '../../errors.js';

export interface Ref {
  /** as written in auth config keys: docker.io, localhost:5000 ... */
  registry: string;
  /** host[:port] the API is on */
  host: string;
  repo: string;
  tag?: string;
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';

export function parseRef(spec: string): Ref {
  const bad = (why: string): never => {
    throw new UsageError(`'${spec}' is not an image reference: ${why} (expected [REGISTRY[:PORT]/]NAME[:TAG|@DIGEST])`);
  };
  if (!spec) bad('empty');
  let rest = spec;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) bad('the digest must be sha256:<64 hex digits>');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!/^[\w][\w.-]{0,127}$/.test(tag)) bad(`bad tag '${tag}'`);
  }
  let registry = DOCKER_HUB;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      if (!/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?$/.test(first)) bad(`bad registry '${first}'`);
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(rest)) bad(`bad repository name '${rest}'`);
  if (registry === DOCKER_HUB && !rest.includes('/')) rest = `library/${rest}`;
  if (!tag && !digest) tag = 'latest';
  const host = registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
  return { registry, host, repo: rest, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

export const refString = (r: Ref): string => `${r.registry === DOCKER_HUB ? '' : `${r.registry}/`}${r.repo}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;

/** The full reference, registry always given (podman's form): the name a pulled image keeps. */
export const fullRefString = (r: Ref): string => `${r.registry}/${r.repo}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;

/** Plain http only for loopback hosts, or when asked for. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

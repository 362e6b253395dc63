/** Image references, auth challenges and docker credentials (no network, no root). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerCredentials, parseChallenge } from '../../../src/marten/registry/auth.js';
import { isLoopback, parseRef, refString } from '../../../src/marten/registry/ref.js';

describe('parseRef', () => {
  it('gives single names Docker Hub, library/ and latest', () => {
    expect(parseRef('alpine')).toEqual({ registry: 'docker.io', host: 'registry-1.docker.io', repo: 'library/alpine', tag: 'latest' });
    expect(parseRef('user/app:1.2')).toMatchObject({ registry: 'docker.io', repo: 'user/app', tag: '1.2' });
  });
  it('takes a first component with a dot, a port or localhost as the registry', () => {
    expect(parseRef('127.0.0.1:5000/a/b:v1')).toMatchObject({ registry: '127.0.0.1:5000', host: '127.0.0.1:5000', repo: 'a/b', tag: 'v1' });
    expect(parseRef('localhost/x')).toMatchObject({ registry: 'localhost', repo: 'x', tag: 'latest' });
    expect(parseRef('quay.io/org/img')).toMatchObject({ registry: 'quay.io', repo: 'org/img' });
  });
  it('takes a digest instead of a tag', () => {
    const d = `sha256:${'a'.repeat(64)}`;
    const r = parseRef(`h.example:1/x@${d}`);
    expect(r).toMatchObject({ repo: 'x', digest: d });
    expect(r.tag).toBeUndefined();
    expect(refString(r)).toBe(`h.example:1/x@${d}`);
  });
  it('rejects what is not a reference', () => {
    for (const bad of ['', 'UPPER', 'a/b:', 'x@sha256:12', 'a//b', 'a:b:c/d']) expect(() => parseRef(bad), bad).toThrow(/not an image reference/);
  });
  it('allows plain http only for loopback hosts', () => {
    expect(isLoopback('127.0.0.1:5000')).toBe(true);
    expect(isLoopback('localhost')).toBe(true);
    expect(isLoopback('[::1]:5000')).toBe(true);
    expect(isLoopback('registry-1.docker.io')).toBe(false);
    expect(isLoopback('127.example.com')).toBe(false);
  });
});

describe('dockerCredentials on a config.json of odd shapes', () => {
  it('finds nothing (and throws nothing) where the fields are not strings', () => {
    const dir = mkdtempSync('/tmp/marten-dockercfg-');
    try {
      for (const cfg of ['null', '5', '{"auths":null}', '{"auths":{"r.example":5}}', '{"auths":{"r.example":{"auth":5}}}', '{"auths":{"r.example":{"username":1,"password":[]}}}']) {
        writeFileSync(join(dir, 'config.json'), cfg);
        expect(dockerCredentials('r.example', { DOCKER_CONFIG: dir }), cfg).toBeNull();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('auth', () => {
  it("parses Docker Hub's bearer challenge", () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
    });
    expect(parseChallenge('Basic realm="basic-realm"')).toEqual({ scheme: 'basic', params: { realm: 'basic-realm' } });
  });
  it('reads basic credentials from $DOCKER_CONFIG/config.json, Docker Hub under its index key', () => {
    const dir = mkdtempSync('/tmp/marten-unit-docker-');
    try {
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('hub:secret').toString('base64') },
        '127.0.0.1:5000': { auth: Buffer.from('me:p:w').toString('base64') },
      } }));
      expect(dockerCredentials('docker.io', { DOCKER_CONFIG: dir })).toEqual({ username: 'hub', password: 'secret' });
      expect(dockerCredentials('127.0.0.1:5000', { DOCKER_CONFIG: dir })).toEqual({ username: 'me', password: 'p:w' });
      expect(dockerCredentials('other:1', { DOCKER_CONFIG: dir })).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

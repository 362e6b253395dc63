/** Store location, names, chain ids and platform choice (no root). */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shortName } from '../../../src/marten/importer.js';
import { chainIds, parsePlatform, sha256 } from '../../../src/marten/oci.js';
import { pickPlatform } from '../../../src/marten/platform.js';
import { DEFAULT_DIR, Store, storeDir } from '../../../src/marten/store.js';

describe('storeDir', () => {
  it('is $MINCS_DIR, else MINCS_DIR= in the config file, else /var/lib/mincs', () => {
    const dir = mkdtempSync('/tmp/marten-unit-conf-');
    try {
      const conf = join(dir, 'mincs.conf');
      expect(storeDir({ MINCS_DIR: '/x' }, conf)).toBe('/x');
      expect(storeDir({}, conf)).toBe(DEFAULT_DIR);
      writeFileSync(conf, '# comment\nMINCS_DIR="/srv/mincs"\n');
      expect(storeDir({}, conf)).toBe('/srv/mincs');
      expect(storeDir({ MINCS_DIR: '/y' }, conf)).toBe('/y');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Store: opening it', () => {
  it('closes a store made more open (0700 again), leaves a dir already 0700 untouched (no chmod: no inode write), follows no link in it', () => {
    const dir = mkdtempSync('/tmp/marten-unit-secure-');
    try {
      const top = join(dir, 'store');
      new Store(top).ensure();
      chmodSync(join(top, 'images'), 0o755);
      const outside = join(dir, 'outside');
      mkdirSync(outside, { mode: 0o755 });
      chmodSync(outside, 0o755);
      rmSync(join(top, 'tmp'), { recursive: true });
      symlinkSync(outside, join(top, 'tmp'));
      const before = statSync(join(top, 'containers'), { bigint: true }).ctimeNs;
      new Store(top);
      expect(statSync(join(top, 'images')).mode & 0o7777).toBe(0o700);
      expect(statSync(outside).mode & 0o7777).toBe(0o755);
      // (a chmod to the same mode still sets ctime)
      expect(statSync(join(top, 'containers'), { bigint: true }).ctimeNs).toBe(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('names and ids', () => {
  it('names an image as MINCS does: the last path component, with a tag other than latest', () => {
    expect(shortName('docker.io/library/alpine:latest')).toBe('alpine');
    expect(shortName('127.0.0.1:5000/test/three:v1')).toBe('three:v1');
    expect(shortName('busybox')).toBe('busybox');
    const d = `sha256:${'b'.repeat(64)}`;
    expect(shortName(`h:1/x/y@${d}`)).toBe(`y@${d}`);
  });
  it('computes OCI ChainIDs', () => {
    const a = sha256('a');
    const b = sha256('b');
    expect(chainIds([a, b])).toEqual([a, sha256(`${a} ${b}`)]);
  });
  it('picks a platform from an index, variant optional', () => {
    const m = (architecture: string, variant?: string) => ({ mediaType: 'x', digest: `${architecture}${variant ?? ''}`, size: 1, platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) } });
    const all = [m('arm', 'v7'), m('arm64', 'v8'), m('amd64')];
    expect(pickPlatform(all, parsePlatform('linux/amd64'))?.digest).toBe('amd64');
    expect(pickPlatform(all, parsePlatform('linux/arm64'))?.digest).toBe('arm64v8');
    expect(pickPlatform(all, parsePlatform('linux/arm/v6'))).toBeUndefined();
    expect(() => parsePlatform('linux')).toThrow(/OS\/ARCH/);
  });
});

describe('a user store', () => {
  it('is $XDG_DATA_HOME/mincs, else ~/.local/share/mincs, for a user who is not root; /etc/mincs.conf is root\'s only', () => {
    const dir = mkdtempSync('/tmp/marten-unit-conf-');
    try {
      const conf = join(dir, 'mincs.conf');
      writeFileSync(conf, 'MINCS_DIR=/srv/mincs\n');
      expect(storeDir({ HOME: '/home/u', XDG_DATA_HOME: '/d' }, conf, 1000)).toBe('/d/mincs');
      expect(storeDir({ HOME: '/home/u' }, conf, 1000)).toBe('/home/u/.local/share/mincs');
      // a relative XDG_DATA_HOME is ignored (the XDG spec)
      expect(storeDir({ HOME: '/home/u', XDG_DATA_HOME: 'rel' }, conf, 1000)).toBe('/home/u/.local/share/mincs');
      expect(storeDir({ HOME: '/home/u', MINCS_DIR: '/mine' }, conf, 1000)).toBe('/mine');
      expect(storeDir({ HOME: '/root', XDG_DATA_HOME: '/d' }, conf, 0)).toBe('/srv/mincs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

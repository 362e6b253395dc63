/** shape.ts: registry JSON of the right shape passes as is; a wrong one is one MincError naming the field. */
import { describe, expect, it } from 'vitest';
import { MincError } from '../../../src/errors.js';
import { checkConfig, checkIndex, checkManifest, checkToken, parseJson } from '../../../src/marten/registry/shape.js';
import { CONFIG, D, INDEX, MANIFEST, TOKEN } from './samples.js';

const err = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MincError);
    return (e as Error).message;
  }
  throw new Error('did not throw');
};

describe('shape checks', () => {
  it('pass registry JSON of the right shape through unchanged', () => {
    expect(checkManifest(structuredClone(MANIFEST), 'm')).toEqual(MANIFEST);
    expect(checkIndex(structuredClone(INDEX), 'i')).toEqual(INDEX);
    expect(checkConfig(structuredClone(CONFIG), 'c')).toEqual(CONFIG);
    expect(checkToken(TOKEN, 't')).toBe('abc.def-ghi');
    expect(checkToken({ access_token: 'x' }, 't')).toBe('x');
    // Docker's schema 2 has no mediaType in a config-less way; a config with no run settings is fine
    expect(checkConfig({ rootfs: { diff_ids: [] } }, 'c')).toEqual({ rootfs: { diff_ids: [] } });
  });

  it('name the field that is wrong', () => {
    expect(err(() => checkManifest(null, 'manifest t'))).toBe('manifest t: expected an object');
    expect(err(() => checkManifest([], 'manifest t'))).toBe('manifest t: expected an object');
    expect(err(() => checkManifest({ ...MANIFEST, schemaVersion: 1 }, 'manifest t'))).toMatch(/^manifest t: schema 1 manifests are not supported/);
    expect(err(() => checkManifest({ ...MANIFEST, schemaVersion: '2' }, 'manifest t'))).toBe('manifest t: schemaVersion: expected 2');
    const layers = [MANIFEST.layers[0], MANIFEST.layers[1], { ...MANIFEST.layers[0], digest: 'sha256:xyz' }];
    expect(err(() => checkManifest({ ...MANIFEST, layers }, 'manifest t'))).toBe('manifest t: layers[2].digest: expected a sha256 digest');
    expect(err(() => checkManifest({ ...MANIFEST, layers: { 0: 1 } }, 'manifest t'))).toBe('manifest t: layers: expected an array');
    expect(err(() => checkManifest({ ...MANIFEST, config: { ...MANIFEST.config, size: -1 } }, 'm'))).toBe('m: config.size: expected a size (a whole number of bytes)');
    expect(err(() => checkManifest({ ...MANIFEST, config: { ...MANIFEST.config, size: 2 ** 60 } }, 'm'))).toMatch(/config\.size/);
    expect(err(() => checkManifest({ ...MANIFEST, config: { ...MANIFEST.config, mediaType: 5 } }, 'm'))).toBe('m: config.mediaType: expected a string');
    expect(err(() => checkIndex({ ...INDEX, manifests: null }, 'index t'))).toBe('index t: manifests: expected an array');
    const manifests = [{ ...INDEX.manifests[0], platform: { os: 'linux' } }];
    expect(err(() => checkIndex({ ...INDEX, manifests }, 'index t'))).toBe('index t: manifests[0].platform.architecture: expected a string');
    expect(err(() => checkConfig({ ...CONFIG, rootfs: { type: 'layers' } }, 'config c'))).toBe('config c: rootfs.diff_ids: expected an array');
    expect(err(() => checkConfig({ ...CONFIG, rootfs: { diff_ids: [D('d'), 'sha512:00'] } }, 'c'))).toBe('c: rootfs.diff_ids[1]: expected a sha256 digest');
    expect(err(() => checkConfig({ ...CONFIG, config: { Env: ['A=1', 2] } }, 'c'))).toBe('c: config.Env[1]: expected a string');
    expect(err(() => checkConfig({ ...CONFIG, config: { Cmd: 'sh' } }, 'c'))).toBe('c: config.Cmd: expected an array');
    expect(err(() => checkConfig({ ...CONFIG, os: ['linux'] }, 'c'))).toBe('c: os: expected a string');
    expect(err(() => checkToken({ token: 5 }, 'token reply'))).toMatch(/^token reply: token: expected a non-empty string/);
    expect(err(() => checkToken({}, 'token reply'))).toMatch(/^token reply: token: expected/);
    expect(err(() => checkToken({ token: 'a\r\nX-Evil: 1' }, 'token reply'))).toMatch(/^token reply: token: expected/);
  });

  it('parseJson: UTF-8 and JSON, and never echoes the bytes', () => {
    expect(parseJson(Buffer.from('{"a":1}'), 'x')).toEqual({ a: 1 });
    expect(err(() => parseJson(Buffer.from('SECRET-CONTENT'), 'config c'))).toBe('config c: not valid JSON');
    expect(err(() => parseJson(Buffer.from([0x7b, 0xff, 0x7d]), 'config c'))).toBe('config c: not UTF-8 text');
  });
});

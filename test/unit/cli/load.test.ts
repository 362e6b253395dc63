import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheName, removeStaleCaches } from '../../../src/cli/load.js';

const LOADER = fileURLToPath(new URL('../../../dist/load.cjs', import.meta.url)); // built by the global setup
const dir = mkdtempSync(join(tmpdir(), 'minc-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const caches = (): string[] => readdirSync(dir).filter((f) => f.endsWith('.v8cache')).sort();
/** run dir/NAME.cjs through the loader in a fresh node, as bin/minc does */
const run = (name: string, ...args: string[]): string =>
  execFileSync(process.execPath, ['-e', `require(${JSON.stringify(LOADER)}).load(${JSON.stringify(name)}, ${JSON.stringify(dir)}, require)`, ...args],
    { encoding: 'utf8' });

describe('cacheName', () => {
  it('changes with the size, the mtime and the node version', () => {
    const a = cacheName('minc', 100, 5.7, false, 'v20.20.2');
    expect(a).toBe('.minc.v20.20.2.100.5.v8cache');
    expect(cacheName('minc', 100, 5.7, true, 'v20.20.2')).toBe('.minc.v20.20.2.100.5.run.v8cache');
    expect(cacheName('minc', 101, 5.7, false, 'v20.20.2')).not.toBe(a);
    expect(cacheName('minc', 100, 6, false, 'v20.20.2')).not.toBe(a);
    expect(cacheName('minc', 100, 5.7, false, 'v22.1.0')).not.toBe(a);
  });
});

describe('removeStaleCaches', () => {
  it('removes the caches of NAME but the one kept, and nothing else', () => {
    const d = mkdtempSync(join(dir, 'stale-'));
    for (const f of ['.minc.v1.1.1.v8cache', '.minc.v1.2.2.v8cache', '.marten.v1.1.1.v8cache', 'minc.cjs']) writeFileSync(join(d, f), '');
    removeStaleCaches(d, 'minc', '.minc.v1.2.2.v8cache');
    expect(readdirSync(d).sort()).toEqual(['.marten.v1.1.1.v8cache', '.minc.v1.2.2.v8cache', 'minc.cjs']);
  });
});

describe('load', () => {
  it('runs the bundle as CommonJS (require, module, __filename, argv), writes a cache once, then uses it', () => {
    writeFileSync(join(dir, 'b.cjs'), `const { basename } = require('node:path');
console.log(basename(__filename), basename(__dirname) === ${JSON.stringify(dir.split('/').at(-1))}, typeof module.exports, process.argv.slice(1).join(','));`);
    expect(run('b', 'x', 'y')).toBe('b.cjs true object x,y\n');
    const [cache] = caches();
    expect(cache).toMatch(/^\.b\.v\d+.*\.v8cache$/);
    const written = statSync(join(dir, cache!)).mtimeMs;
    expect(run('b', 'z')).toBe('b.cjs true object z\n');
    expect(caches()).toEqual([cache]);
    expect(statSync(join(dir, cache!)).mtimeMs).toBe(written); // accepted: not written again
  });

  it('never runs the code of a cache made for an older build, even one of the same length', () => {
    writeFileSync(join(dir, 'c.cjs'), `console.log('old');`);
    expect(run('c')).toBe('old\n');
    const [old] = caches().filter((f) => f.startsWith('.c.'));
    writeFileSync(join(dir, 'c.cjs'), `console.log('new');`);
    utimesSync(join(dir, 'c.cjs'), new Date(), new Date(Date.now() + 5000));
    expect(run('c')).toBe('new\n');
    const now = caches().filter((f) => f.startsWith('.c.'));
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(old);
  });

  it('gives the bundle an import() for packages (it has none of its own in a vm.Script)', () => {
    writeFileSync(join(dir, 'd.cjs'), `__minc_loader.import('node:path').then((m) => console.log(typeof m.join));`);
    expect(run('d')).toBe('function\n');
  });

  it('a run that went through a container replaces a cache written by a lesser run with a .run one, once', () => {
    writeFileSync(join(dir, 'e.cjs'), `if (process.argv.includes('container')) __minc_loader.ranContainer(); console.log('ok');`);
    const ofE = (): string[] => caches().filter((f) => f.startsWith('.e.'));
    expect(run('e', 'help')).toBe('ok\n');
    expect(ofE()).toHaveLength(1);
    expect(ofE()[0]).not.toMatch(/\.run\.v8cache$/);
    expect(run('e', 'container')).toBe('ok\n');
    const [runCache] = ofE();
    expect(ofE()).toHaveLength(1);
    expect(runCache).toMatch(/\.run\.v8cache$/);
    const written = statSync(join(dir, runCache!)).mtimeMs;
    expect(run('e', 'container')).toBe('ok\n');
    expect(run('e', 'help')).toBe('ok\n');
    expect(ofE()).toEqual([runCache]);
    expect(statSync(join(dir, runCache!)).mtimeMs).toBe(written);
  });
});

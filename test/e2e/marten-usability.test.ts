/**
 * marten as podman and docker users expect it (issue 10): full references
 * name pulled images and short forms resolve when unambiguous (a loopback
 * registry holding two repositories of one last name), --rm and rm
 * --all-stopped, rmi of an image's unshared parents, import of an OCI
 * layout directory and of a plain rootfs tarball, stop and logs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { waitFor } from '../helpers/e2e.js';
import { lastLine, MINC_BIN, type Run, type TestStore, ok, storePool } from '../helpers/marten.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { ociLayoutTar, threeLayerImage } from '../helpers/images.js';
import { tarBuffer } from '../helpers/tarball.js';

let reg: Registry;
let work: string;
let rootfs: { dir: string; remove: () => void };
const pool = storePool();
const fresh = pool.fresh;

beforeAll(async () => {
  reg = await startRegistry();
  work = mkdtempSync('/tmp/marten-test-usability-');
  rootfs = makeBusyboxRootfs();
  // two images that differ in /WHO, pushed as team/multi:2, other/multi:2 and team/solo (latest)
  const src = fresh();
  for (const who of ['team', 'other']) {
    writeFileSync(join(rootfs.dir, 'WHO'), `${who}\n`);
    ok(await src.marten(['import', rootfs.dir, '--name', who]));
    ok(await src.marten(['push', who, `${reg.host}/${who}/multi:2`]));
  }
  ok(await src.marten(['push', 'team', `${reg.host}/team/solo`]));
});
afterAll(async () => {
  await reg?.stop();
  pool.removeAll();
  rootfs?.remove();
  rmSync(work, { recursive: true, force: true });
});

/** The store's containers lc lists (ids in hex; other runs of minc show their temp dir name). */
const storeContainers = (lc: string): string[] => lc.split('\n').slice(1).filter((l) => /^[0-9a-f]{12} /.test(l));

const who = async (s: TestStore, image: string): Promise<Run> => s.minc(['--rm', '-r', image, 'cat', '/WHO']);

describe('image names', () => {
  it('a pulled image keeps its full reference as a name; short forms resolve while unambiguous', async () => {
    const s = fresh();
    const team = lastLine(ok(await s.marten(['pull', `${reg.host}/team/multi:2`])).stdout);
    expect(ok(await who(s, `${reg.host}/team/multi:2`)).stdout).toBe('team');
    expect(ok(await who(s, 'team/multi:2')).stdout).toBe('team');
    expect(ok(await who(s, 'multi:2')).stdout).toBe('team');
    expect(ok(await s.marten(['inspect', 'multi:2'])).stdout).toContain(team);
    // li: the reference, and the short name while it is unique
    expect(ok(await s.marten(['li'])).stdout).toMatch(new RegExp(` ${reg.host}/team/multi:2 \\(multi:2\\)$`, 'm'));

    // a second repository of the same last name takes nothing from the first
    ok(await s.marten(['pull', `${reg.host}/other/multi:2`]));
    const li = ok(await s.marten(['li'])).stdout;
    expect(li).toMatch(new RegExp(` ${reg.host}/team/multi:2$`, 'm'));
    expect(li).toMatch(new RegExp(` ${reg.host}/other/multi:2$`, 'm'));
    expect(li).not.toContain('(noname)');
    expect(ok(await who(s, `${reg.host}/team/multi:2`)).stdout).toBe('team');
    expect(ok(await who(s, 'other/multi:2')).stdout).toBe('other');
    // the short form is now ambiguous: one line naming the candidates
    const amb = await s.minc(['--rm', '-r', 'multi:2', 'true']);
    expect(amb.exitCode).toBe(2);
    expect(amb.stderr.trim().split('\n')).toHaveLength(1);
    expect(amb.stderr).toContain(`'multi:2' is ambiguous`);
    expect(amb.stderr).toContain(`${reg.host}/team/multi:2`);
    expect(amb.stderr).toContain(`${reg.host}/other/multi:2`);
    const ambMarten = await s.marten(['inspect', 'multi:2']);
    expect(ambMarten.exitCode).not.toBe(0);
    expect(ambMarten.stderr).toMatch(/ambiguous/);

    // a bare name means :latest
    ok(await s.marten(['pull', `${reg.host}/team/solo`]));
    expect(ok(await s.marten(['li'])).stdout).toMatch(new RegExp(`[ ,]${reg.host}/team/solo:latest \\(solo\\)$`, 'm'));
    expect(ok(await who(s, 'solo')).stdout).toBe('team');
    expect(ok(await who(s, 'team/solo:latest')).stdout).toBe('team');
    expect((await who(s, 'solo:3')).exitCode).not.toBe(0);
    // --rm left no container (lc also lists other runs of minc on this machine: their ids are temp dir names)
    expect(storeContainers(ok(await s.marten(['lc'])).stdout)).toEqual([]);
  });
});

const imageDirs = (s: TestStore): string[] => readdirSync(join(s.dir, 'images')).sort();

describe('containers that go', () => {
  it('minc --rm -r IMAGE removes its container when the command ends, whatever its status; without it one stays', async () => {
    const s = fresh();
    ok(await s.marten(['import', rootfs.dir, '--name', 'bb']));
    for (const cmd of [['true'], ['sh', '-c', 'exit 3']]) {
      await s.minc(['--rm', '-r', 'bb', ...cmd]);
      expect(readdirSync(join(s.dir, 'containers'))).toEqual([]);
    }
    ok(await s.minc(['-r', 'bb', 'true']));
    expect(readdirSync(join(s.dir, 'containers'))).toHaveLength(1);
    const bad = await s.minc(['--rm', '-t', readdirSync(join(s.dir, 'containers'))[0]!.slice(0, 12), 'true']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/^minc: --rm .* -r IMAGE only/);
  });

  it('minc --rm -r IMAGE keeps its files in a temp dir on a tmpfs, not in the store; while it runs, lc shows it and rmi and prune leave its image alone', async () => {
    const s = fresh();
    ok(await s.marten(['import', rootfs.dir, '--name', 'bb']));
    // (a nameless image based on nothing: prune would take it, were it not in use)
    ok(await s.marten(['import', rootfs.dir]));
    const nameless = imageDirs(s).find((i) => !existsSync(join(s.dir, 'images', i, 'name')))!;
    const env = { ...process.env, MINCS_DIR: s.dir };
    const runs = ['bb', nameless].map((img) => execa(MINC_BIN, ['--rm', '-r', img, 'sleep', '30'], { env, reject: false, stdin: 'ignore' }));
    // the run's id: the first line on its stderr
    const ids = runs.map((r) => new Promise<string>((resolve) => r.stderr!.once('data', (d: Buffer) => resolve(d.toString().split('\n')[0]!))));
    try {
      const dirs: string[] = [];
      for (const idp of ids) {
        const id = await idp;
        expect(id).toMatch(/^minc\d+-\w{6}$/);
        const dir = ['/run', '/dev/shm'].map((b) => join(b, id)).find((d) => existsSync(d))!;
        // (its pid file: the command has started)
        await waitFor(() => existsSync(join(dir, 'pid')), `${id} started`);
        expect(dir, id).toBeDefined();
        expect(execFileSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).trim()).toBe('tmpfs');
        dirs.push(dir);
      }
      expect(readdirSync(join(s.dir, 'containers'))).toEqual([]);
      const lc = ok(await s.marten(['lc'])).stdout;
      for (const d of dirs) expect(lc).toContain(d.split('/').at(-1));
      expect(lc).toMatch(/running +bb/);
      const rmi = await s.marten(['rmi', 'bb']);
      expect(rmi.exitCode).not.toBe(0);
      expect(rmi.stderr).toMatch(/^marten: image [0-9a-f]{12} is in use by run minc\d+-\w{6} \(minc --rm\)$/);
      ok(await s.marten(['prune']));
      expect(imageDirs(s)).toContain(nameless);
      expect(existsSync(join(s.dir, 'images', nameless, 'root'))).toBe(true);
    } finally {
      for (const r of runs) r.kill('SIGTERM');
      await Promise.all(runs);
    }
    // once the runs have ended their temp dirs are gone, and the image can go
    ok(await s.marten(['rmi', 'bb']));
    ok(await s.marten(['prune']));
    expect(imageDirs(s)).toEqual([]);
  });

  it('marten rm --all-stopped removes every stopped container, not a running one', async () => {
    const s = fresh();
    ok(await s.marten(['import', rootfs.dir, '--name', 'bb']));
    for (let i = 0; i < 3; i++) ok(await s.minc(['-r', 'bb', 'true']));
    const stopped = readdirSync(join(s.dir, 'containers'));
    const fg = execa(MINC_BIN, ['-r', 'bb', 'sleep', '30'], { env: { ...process.env, MINCS_DIR: s.dir }, reject: false, stdin: 'ignore' });
    const isNew = (c: string): boolean => !stopped.includes(c) && existsSync(join(s.dir, 'containers', c, 'pid'));
    await waitFor(() => readdirSync(join(s.dir, 'containers')).some(isNew), 'the running container');
    const running = readdirSync(join(s.dir, 'containers')).find(isNew)!;
    const r = ok(await s.marten(['rm', '--all-stopped']));
    expect(r.stdout.trim().split('\n')).toHaveLength(3);
    expect(readdirSync(join(s.dir, 'containers'))).toEqual([running]);
    // minc --stop takes the container's id as lc shows it (a prefix)
    ok(await s.minc(['--stop', running.slice(0, 12)]));
    expect((await fg).exitCode).toBe(143);
    expect(readdirSync(join(s.dir, 'containers'))).toEqual([running]);
    ok(await s.marten(['rm', '--all-stopped']));
    expect(readdirSync(join(s.dir, 'containers'))).toEqual([]);
  });
});

describe('rmi and prune', () => {
  let three: string;
  beforeAll(() => {
    three = join(work, 'three.tar');
    ociLayoutTar(threeLayerImage(), three);
  });

  it('rmi removes the nameless parents nothing else uses, and stops at one that is used or named', async () => {
    const s = fresh();
    ok(await s.marten(['import', three, '--name', 'three']));
    expect(imageDirs(s)).toHaveLength(3);
    // a commit on top: rmi of it leaves three (named) alone
    const c = (await s.minc(['-r', 'three', 'touch', '/new'])).stderr.trim().split('\n')[0]!;
    const four = lastLine(ok(await s.marten(['commit', c, '--name', 'four'])).stdout);
    ok(await s.marten(['rm', c]));
    expect(imageDirs(s)).toHaveLength(4);
    expect(ok(await s.marten(['rmi', 'four'])).stdout.trim()).toBe(four);
    expect(imageDirs(s)).toHaveLength(3);
    // the last image goes with both its parents
    expect(ok(await s.marten(['rmi', 'three'])).stdout.trim().split('\n')).toHaveLength(3);
    expect(imageDirs(s)).toEqual([]);
  });

  it('prune removes nameless images nothing uses (leftovers), and keeps the layers of named ones', async () => {
    const s = fresh();
    ok(await s.marten(['import', three, '--name', 'three']));
    const c = (await s.minc(['-r', 'three', 'touch', '/new'])).stderr.trim().split('\n')[0]!;
    const nameless = lastLine(ok(await s.marten(['commit', c])).stdout);
    ok(await s.marten(['rm', c]));
    // an older marten's rmi left the parents of a removed image: the same state, made by hand
    const left = join(s.dir, 'images', 'a'.repeat(64));
    mkdirSync(join(left, 'root'), { recursive: true });
    writeFileSync(join(left, 'baseid'), `${imageDirs(s).find((i) => i !== nameless && existsSync(join(s.dir, 'images', i, 'name')))}\n`);
    expect(imageDirs(s)).toHaveLength(5);
    const r = ok(await s.marten(['prune']));
    expect(r.stdout).toContain(`images/${nameless.slice(0, 12)}`);
    expect(r.stdout).toContain(`images/${'a'.repeat(12)}`);
    expect(imageDirs(s)).toHaveLength(3);
    expect(ok(await s.minc(['--rm', '-r', 'three', 'cat', '/etc/motd'])).stdout).toBe('three layers');
  });
});

describe('import', () => {
  it('imports an OCI image layout directory (skopeo copy ... oci:DIR:tag) as the image it holds', async () => {
    const s = fresh();
    const tar = join(work, 'layout-src.tar');
    ociLayoutTar(threeLayerImage(), tar);
    const dir = join(work, 'layout');
    execFileSync('skopeo', ['copy', '-q', `oci-archive:${tar}`, `oci:${dir}:v1`]);
    ok(await s.marten(['import', dir, '--name', 'fromdir']));
    expect(imageDirs(s)).toHaveLength(3);
    const r = ok(await s.minc(['--rm', '-r', 'fromdir', 'sh', '-c', 'cat /etc/motd; ls /blobs /oci-layout 2>&1 | wc -l; test -e /etc/gone || echo gone']));
    expect(r.stdout).toBe('three layers\n2\ngone');
    expect(readdirSync(join(s.dir, 'tmp'))).toEqual([]);
  });

  it('imports a plain rootfs tarball (as podman import), gzipped or not, as one layer', async () => {
    const s = fresh();
    const tgz = join(work, 'rootfs.tar.gz');
    execFileSync('tar', ['-C', rootfs.dir, '-czf', tgz, '.']);
    ok(await s.marten(['import', tgz, '--name', 'plain']));
    expect(imageDirs(s)).toHaveLength(1);
    expect(ok(await s.minc(['--rm', '-r', 'plain', 'sh', '-c', 'readlink /bin/sh; cat /WHO'])).stdout).toBe('busybox\nother');
  });

  it('refuses a rootfs tarball whose member climbs out, with one line, leaving nothing', async () => {
    const s = fresh();
    const canary = join(work, `canary-${process.pid}`);
    const evil = join(work, 'evil.tar');
    writeFileSync(evil, await tarBuffer([
      { name: 'bin/', type: 'directory' },
      { name: `../../../../../../..${canary}`, body: 'escaped\n' },
    ]));
    const r = await s.marten(['import', evil, '--name', 'evil']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^marten: importing /);
    expect(existsSync(canary)).toBe(false);
    // no image, and nothing staged left
    expect(s.snapshot().filter((p) => p !== 'blobs' && p !== 'blobs/sha256' && p !== 'images' && p !== 'containers' && p !== 'tmp')).toEqual([]);
  });
});

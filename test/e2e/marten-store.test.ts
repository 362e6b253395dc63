/**
 * marten's store end to end (as root, real overlayfs): import of a rootfs
 * dir, docker-save (both forms) and OCI-layout tarballs made here; whiteouts;
 * minc -r IMAGE / -t CONTAINER; commit; export; rm/rmi/rename/tag; bad input.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerLegacyTar, dockerSaveTar, ociLayoutTar, threeLayerImage, type Fixture } from '../helpers/images.js';
import { lastLine, makeStore, type TestStore } from '../helpers/marten.js';
import { mincMounts } from '../helpers/minc.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';

let store: TestStore;
let work: string;
let fx: Fixture;
let rootfs: ReturnType<typeof makeBusyboxRootfs>;

beforeAll(() => {
  store = makeStore();
  work = mkdtempSync('/tmp/marten-test-work-');
  fx = threeLayerImage();
  rootfs = makeBusyboxRootfs();
});
afterAll(() => {
  store.remove();
  rmSync(work, { recursive: true, force: true });
  rootfs.remove();
  expect(mincMounts().filter((m) => m.includes('marten-test'))).toEqual([]);
});

/** One line on stderr starting marten:, non-zero status. */
function oneLineError(r: { exitCode?: number; stderr: string }, re: RegExp): void {
  expect(r.exitCode).not.toBe(0);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^marten: /);
  expect(r.stderr).toMatch(re);
}

/** The three-layer image's content as a container sees it. */
async function checkThreeLayers(name: string): Promise<void> {
  const r = await store.minc(['-r', name, 'sh', '-c',
    'cat /etc/motd /keep /data/new; test -e /etc/gone && echo gone-present; test -e /data/old && echo old-present; echo end']);
  expect(r.stderr).toMatch(/^[0-9a-f]{12}$/m);
  expect(r.stdout).toBe('three layers\nkept\nnew\nend');
  expect(r.exitCode).toBe(0);
}

describe('marten import', () => {
  it('imports a rootfs directory as one image, lists, inspects and names it', async () => {
    const r = await store.marten(['import', rootfs.dir, '--name', 'bbdir']);
    expect(r.exitCode, r.stderr).toBe(0);
    const id = lastLine(r.stdout);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const li = await store.marten(['li']);
    expect(li.stdout).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+\\S+\\s+-\\s+bbdir$`, 'm'));
    expect((await store.marten(['images', '-l'])).stdout).toContain(id);
    const insp = JSON.parse((await store.marten(['inspect', id.slice(0, 6)])).stdout) as { id: string; name: string };
    expect(insp).toMatchObject({ kind: 'image', id, name: 'bbdir' });
    expect(statSync(join(store.dir, 'images', id, 'root', 'bin', 'busybox')).isFile()).toBe(true);
  });

  it('imports an OCI image layout tarball: OCI whiteouts become overlayfs ones', async () => {
    const tar = join(work, 'oci.tar');
    ociLayoutTar(fx, tar, { gzip: [true, false, true], name: 'example.org/test/three:v1' });
    const r = await store.marten(['import', tar]);
    expect(r.exitCode, r.stderr).toBe(0);
    const top = lastLine(r.stdout);
    const insp = JSON.parse((await store.marten(['inspect', 'three:v1'])).stdout) as { id: string; layers: { id: string }[] };
    expect(insp.id).toBe(top);
    expect(insp.layers).toHaveLength(3);
    const middle = join(store.dir, 'images', insp.layers[1]!.id, 'root');
    const wh = statSync(join(middle, 'etc', 'gone'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', join(middle, 'data')]).toString()).toBe('y');
    await checkThreeLayers('three:v1');
  });

  it('imports a docker save tarball (manifest.json form), sharing the layers already stored', async () => {
    const tar = join(work, 'save.tar');
    dockerSaveTar(fx, tar, 'docker.io/library/saved:latest');
    const before = (await store.marten(['li'])).stdout.split('\n').length;
    const r = await store.marten(['import', tar]);
    expect(r.exitCode, r.stderr).toBe(0);
    // same layers and config as the OCI import: no new layer image
    expect((await store.marten(['li'])).stdout.split('\n').length).toBe(before);
    await checkThreeLayers('saved');
  });

  it('imports a legacy docker save tarball (repositories + <id>/layer.tar)', async () => {
    const tar = join(work, 'legacy.tar');
    dockerLegacyTar(fx, tar, 'legacy', 'v2');
    const r = await store.marten(['import', tar]);
    expect(r.exitCode, r.stderr).toBe(0);
    await checkThreeLayers('legacy:v2');
  });

  it('rejects what it cannot import with one line, leaving the store unchanged', async () => {
    const before = store.snapshot();
    oneLineError(await store.marten(['import', join(work, 'missing')]), /no such file or directory/);
    // (a tarball of plain files is a rootfs tarball, imported as podman import does: this one is no tarball at all)
    const junk = join(work, 'junk.tar');
    execFileSync('sh', ['-c', `head -c 2048 /dev/urandom > ${junk}`]);
    oneLineError(await store.marten(['import', junk]), /neither a docker save tarball .* nor an OCI image layout|tar/);
    const bad = join(work, 'bad.tar');
    const broken: Fixture = { ...fx, config: { ...fx.config, rootfs: { type: 'layers', diff_ids: [fx.config.rootfs && 'sha256:' + '0'.repeat(64)] } } };
    dockerSaveTar({ ...broken, layers: [fx.layers[0]!] }, bad, 'bad:latest');
    oneLineError(await store.marten(['import', bad]), /DiffID/);
    oneLineError(await store.marten(['import', rootfs.dir, '--name', 'a b']), /not a usable name/);
    expect(store.snapshot()).toEqual(before);
  });
});

describe('minc -r IMAGE and containers', () => {
  let container = '';
  it('runs the image Entrypoint/Cmd with its Env and WorkingDir, in a new container whose short id goes to stderr', async () => {
    const r = await store.minc(['-r', 'three:v1']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('hello from /data');
    container = /^([0-9a-f]{12})$/m.exec(r.stderr)![1]!;
    expect(r.stderr).toContain(`minc -t ${container}`);
    const lc = await store.marten(['lc']);
    // (the archive's full name names the image: example.org/test/three:v1)
    expect(lc.stdout).toMatch(new RegExp(`^${container}\\s+-\\s+stopped\\s+(\\S+/)?three:v1`, 'm'));
  });

  it('runs an existing container again with -t, by id prefix or name, keeping its changes', async () => {
    let r = await store.minc(['-t', container, 'sh', '-c', 'rm /etc/motd /keep; echo changed > /data/new; mkdir /data/sub; echo x > /data/sub/f']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await store.marten(['rename', container, 'box1'])).exitCode).toBe(0);
    r = await store.minc(['-t', 'box1', 'sh', '-c', 'hostname; cat /data/new; test -e /keep || echo no-keep']);
    expect(r.stdout).toBe('box1\nchanged\nno-keep');
  });

  it("commits what minc made for itself as nothing: a container that ran `true` adds an empty layer", async () => {
    const r = await store.minc(['-r', 'three:v1', 'true']);
    expect(r.exitCode, r.stderr).toBe(0);
    const id = /^([0-9a-f]{12})$/m.exec(r.stderr)![1]!;
    const c = await store.marten(['commit', id, '--name', 'nothing-new']);
    expect(c.exitCode, c.stderr).toBe(0);
    const img = lastLine(c.stdout);
    expect(readdirSync(join(store.dir, 'images', img, 'root'))).toEqual([]);
    expect((await store.marten(['rmi', 'nothing-new'])).exitCode).toBe(0);
    expect((await store.marten(['rm', id])).exitCode).toBe(0);
  });

  it('commits a container: what it deleted stays deleted in the new image', async () => {
    const r = await store.marten(['commit', 'box1', '--name', 'committed']);
    expect(r.exitCode, r.stderr).toBe(0);
    const run = await store.minc(['-r', 'committed', 'sh', '-c', 'ls /data | tr "\\n" " "; test -e /etc/motd || echo no-motd; test -e /etc/gone || echo no-gone']);
    expect(run.stdout).toBe('new sub no-motd\nno-gone');
    // the image keeps the base's config
    expect((await store.minc(['-r', 'committed'])).stdout).toBe('hello from /data');
  });

  it('exports an image as a docker-archive / OCI layout whose digests check out', async () => {
    const out = join(work, 'export.tar');
    const r = await store.marten(['export', 'committed', '-o', out]);
    expect(r.exitCode, r.stderr).toBe(0);
    const x = mkdtempSync('/tmp/marten-test-export-');
    execFileSync('tar', ['-xf', out, '-C', x]);
    const file = (p: string): Buffer => readFileSync(join(x, p));
    const digest = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const [m] = JSON.parse(file('manifest.json').toString()) as { Config: string; RepoTags: string[]; Layers: string[] }[];
    expect(m!.RepoTags).toEqual(['committed:latest']);
    const cfgText = file(m!.Config);
    expect(`sha256:${m!.Config.split('/').at(-1)}`).toBe(digest(cfgText));
    const cfg = JSON.parse(cfgText.toString()) as { rootfs: { diff_ids: string[] }; config: { WorkingDir: string } };
    expect(cfg.config.WorkingDir).toBe('/data');
    expect(m!.Layers).toHaveLength(4);
    expect(m!.Layers.map((l) => digest(file(l)))).toEqual(cfg.rootfs.diff_ids);
    const index = JSON.parse(file('index.json').toString()) as { manifests: { digest: string }[] };
    const manifest = file(`blobs/sha256/${index.manifests[0]!.digest.slice(7)}`);
    expect(digest(manifest)).toBe(index.manifests[0]!.digest);
    // the committed layer carries OCI whiteouts for what the sandbox deleted
    const top = execFileSync('tar', ['-tf', join(x, m!.Layers[3]!)]).toString().split('\n');
    expect(top).toEqual(expect.arrayContaining(['etc/.wh.motd', '.wh.keep', 'data/sub/f']));
    rmSync(x, { recursive: true, force: true });
    const skopeo = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${out}`]).toString()) as { Layers: string[] };
    expect(skopeo.Layers).toHaveLength(4);
  });

  it('refuses rmi while containers or images depend on the image, naming them; rm and rmi then work', async () => {
    const before = store.snapshot();
    const r = await store.marten(['rmi', 'three:v1']);
    oneLineError(r, /in use by .*container [0-9a-f]{12} \(box1\).*image [0-9a-f]{12} \(committed\)/);
    oneLineError(await store.marten(['rm', 'nosuch']), /no such container: nosuch/);
    oneLineError(await store.marten(['rmi', 'no-such-image']), /no such image: no-such-image/);
    expect(store.snapshot()).toEqual(before);
    // (lc also lists runs of minc outside the store while they last: other test files' runs, by temp dir path)
    const lc = (await store.marten(['lc', '-l'])).stdout.split('\n').slice(1).map((l) => l.split(/\s+/)[0]!).filter((id) => !id.startsWith('/'));
    for (const c of lc) {
      const rm = await store.marten(['rm', c]);
      expect(rm.exitCode, rm.stderr).toBe(0);
    }
    const rmi = await store.marten(['rmi', 'committed']);
    expect(rmi.exitCode, rmi.stderr).toBe(0);
    expect((await store.marten(['tag', 'three:v1', 'renamed'])).exitCode).toBe(0);
    expect((await store.marten(['li'])).stdout).toMatch(/[ ,/]three:v1( \(three:v1\))?,(.*,)?renamed$/m);
    expect((await store.marten(['renamei', 'renamed', 'only'])).exitCode).toBe(0);
    expect((await store.marten(['li'])).stdout).toMatch(/ only$/m);
    expect((await store.marten(['inspect', 'three:v1'])).exitCode).not.toBe(0);
  });

  it('rejects an unknown image or container for minc with one line, creating no container', async () => {
    const before = store.snapshot();
    let r = await store.minc(['-r', 'no-such-image', 'true']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/^minc: --rootdir 'no-such-image': no such directory, and no such image: no-such-image$/);
    r = await store.minc(['-t', 'no-such-container', 'true']);
    expect(r.stderr).toMatch(/^minc: --tempdir 'no-such-container': no such directory, and no such container/);
    expect(store.snapshot()).toEqual(before);
  });
});

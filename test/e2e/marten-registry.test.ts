/**
 * marten against a real registry on loopback (Debian's docker-registry):
 * push, pull back, run with minc -r, commit and push a sandbox, a
 * two-platform index, skopeo as an independent client both ways, errors
 * that leave the store unchanged, and MINCS's test.d/02_marten cases.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ociLayoutTar, sha, threeLayerImage } from '../helpers/images.js';
import { lastLine, type Run, type TestStore, ok, storePool } from '../helpers/marten.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';
import { freePort, startRegistry, type Registry } from '../helpers/registry.js';
import { SECRET, startAuthProxy, USER } from '../helpers/authproxy.js';

let reg: Registry;
let src: TestStore;
const pool = storePool();
let work: string;

const fresh = pool.fresh;
/** One error line (progress lines, `marten: <digest>: ...`, may come before it), non-zero status. */
function oneLineError(r: Run, re: RegExp): void {
  expect(r.exitCode).not.toBe(0);
  expect(r.stderr.trim().split('\n').filter((l) => !/^marten: [0-9a-f]{12}: /.test(l))).toHaveLength(1);
  expect(r.stderr).toMatch(/^marten: /);
  expect(r.stderr).toMatch(re);
}
const skopeo = (...args: string[]): string => execFileSync('skopeo', args, { encoding: 'utf8', env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } });

beforeAll(async () => {
  reg = await startRegistry();
  src = fresh();
  work = mkdtempSync('/tmp/marten-test-work-');
  const tar = join(work, 'three.tar');
  ociLayoutTar(threeLayerImage(), tar, { gzip: [true, true, false] });
  ok(await src.marten(['import', tar, '--name', 'three']));
});
afterAll(async () => {
  await reg?.stop();
  pool.removeAll();
  rmSync(work, { recursive: true, force: true });
});

async function runsThreeLayers(s: TestStore, name: string): Promise<void> {
  const r = await s.minc(['-r', name, 'sh', '-c', 'cat /etc/motd /keep /data/new; test -e /etc/gone && echo gone-present; test -e /data/old && echo old-present; echo end']);
  expect(r.stdout).toBe('three layers\nkept\nnew\nend');
  expect(r.exitCode).toBe(0);
}

describe('marten push and pull', () => {
  it('pushes a 3-layer image that skopeo reads, and pulls it back into an empty store', async () => {
    const r = ok(await src.marten(['push', 'three', `${reg.host}/test/three:v1`]));
    expect(lastLine(r.stdout)).toMatch(new RegExp(`^${reg.host}/test/three:v1@sha256:[0-9a-f]{64}$`));
    const info = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${reg.host}/test/three:v1`)) as { Layers: string[]; Env: string[]; Architecture: string };
    expect(info.Layers).toHaveLength(3);
    expect(info.Env).toContain('GREETING=hello');
    const dst = fresh();
    const p = ok(await dst.marten(['pull', `${reg.host}/test/three:v1`]));
    expect(p.stderr).toMatch(/: pull /);
    expect((await dst.marten(['li'])).stdout).toMatch(/ \S+\/test\/three:v1 \(three:v1\)$/m); // the full reference, and the short name
    await runsThreeLayers(dst, 'three:v1');
    expect((await dst.minc(['-r', 'three:v1'])).stdout).toBe('hello from /data');
    // a second pull fetches nothing
    const again = ok(await dst.marten(['pull', `${reg.host}/test/three:v1`]));
    expect(again.stderr).not.toMatch(/: pull /);
    expect(again.stderr).toMatch(/already in the store/);
    // by digest too
    const digest = lastLine(r.stdout).split('@')[1]!;
    ok(await dst.marten(['pull', `${reg.host}/test/three@${digest}`, '--name', 'bydigest']));
    await runsThreeLayers(dst, 'bydigest');
  });

  it('stores pulled layers as verified blobs, unpacked on first use (minc -r, marten unpack) with whiteouts converted', async () => {
    ok(await src.marten(['push', 'three', `${reg.host}/test/lazy:v1`]));
    const dst = fresh();
    const id = lastLine(ok(await dst.marten(['pull', `${reg.host}/test/lazy:v1`])).stdout);
    const layers = (JSON.parse(ok(await dst.marten(['inspect', id])).stdout) as { layers: { id: string; digest: string }[] }).layers;
    expect(layers).toHaveLength(3);
    const root = (l: string): string => join(dst.dir, 'images', l, 'root');
    for (const l of layers) {
      expect(existsSync(root(l.id))).toBe(false);
      expect(existsSync(join(dst.dir, 'blobs/sha256', l.digest.slice(7)))).toBe(true);
    }
    expect((await dst.marten(['li'])).stdout).toMatch(/\(packed\) .*\/lazy:v1 \(lazy:v1\)$/m);
    // a blob that does not unpack to its DiffID: one line, the layers stay packed
    const blob = (i: number): string => join(dst.dir, 'blobs/sha256', layers[i]!.digest.slice(7));
    const good = readFileSync(blob(0));
    copyFileSync(blob(1), blob(0));
    const bad = await dst.minc(['-r', 'lazy:v1', 'true']);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/its content is sha256:[0-9a-f]{64}, the config says/);
    for (const l of layers) expect(existsSync(root(l.id))).toBe(false);
    expect(readdirSync(join(dst.dir, 'tmp'))).toEqual([]);
    writeFileSync(blob(0), good);
    // first use unpacks them all, whiteouts in overlayfs form
    await runsThreeLayers(dst, 'lazy:v1');
    for (const l of layers) expect(existsSync(root(l.id))).toBe(true);
    expect((await dst.marten(['li'])).stdout).not.toMatch(/packed/);
    const whiteouts = execFileSync('find', layers.map((l) => root(l.id)), { encoding: 'utf8' }).split('\n').filter((p) => p.includes('.wh.'));
    expect(whiteouts).toEqual([]);
    const gone = lstatSync(join(root(layers[1]!.id), 'etc/gone'));
    expect(gone.isCharacterDevice() && gone.rdev === 0).toBe(true);
    expect(execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', join(root(layers[1]!.id), 'data')]).toString()).toBe('y');
    // marten unpack does it ahead of use; a no-op when done
    const other = fresh();
    ok(await other.marten(['pull', `${reg.host}/test/lazy:v1`]));
    expect(lastLine(ok(await other.marten(['unpack', 'lazy:v1'])).stdout)).toBe(id);
    for (const l of layers) expect(existsSync(join(other.dir, 'images', l.id, 'root'))).toBe(true);
    expect(lastLine(ok(await other.marten(['unpack', 'lazy:v1'])).stdout)).toBe(id);
    await runsThreeLayers(other, 'lazy:v1');
  });

  it('pushes a committed sandbox: what it deleted is an OCI whiteout and stays deleted after a pull', async () => {
    const c = await src.minc(['-r', 'three', '--name', 'sandbox', 'sh', '-c', 'rm /keep /data/new; echo added > /added']);
    expect(c.exitCode, c.stderr).toBe(0);
    ok(await src.marten(['commit', 'sandbox', '--name', 'sandboxed']));
    ok(await src.marten(['push', 'sandboxed', `${reg.host}/test/sandboxed`]));
    const oci = join(work, 'skopeo-oci');
    skopeo('copy', '--src-tls-verify=false', `docker://${reg.host}/test/sandboxed:latest`, `oci:${oci}`);
    const index = JSON.parse(execFileSync('cat', [join(oci, 'index.json')], { encoding: 'utf8' })) as { manifests: { digest: string }[] };
    const manifest = JSON.parse(execFileSync('cat', [join(oci, 'blobs/sha256', index.manifests[0]!.digest.slice(7))], { encoding: 'utf8' })) as { layers: { digest: string }[] };
    expect(manifest.layers).toHaveLength(4);
    const top = execFileSync('tar', ['-tzf', join(oci, 'blobs/sha256', manifest.layers[3]!.digest.slice(7))], { encoding: 'utf8' }).split('\n');
    expect(top).toEqual(expect.arrayContaining(['.wh.keep', 'data/.wh.new', 'added']));
    const dst = fresh();
    ok(await dst.marten(['pull', `${reg.host}/test/sandboxed`]));
    const r = await dst.minc(['-r', 'sandboxed', 'sh', '-c', 'cat /added /etc/motd; ls /data; test -e /keep || echo no-keep']);
    expect(r.stdout).toBe('added\nthree layers\nno-keep');
  });

  it('pulls an image that skopeo pushed', async () => {
    const dir = join(work, 'oci-src');
    execFileSync('mkdir', ['-p', dir]);
    const tar = join(work, 'src.tar');
    ociLayoutTar(threeLayerImage(), tar, { gzip: [true, false, true] });
    execFileSync('tar', ['-xf', tar, '-C', dir]);
    skopeo('copy', '--dest-tls-verify=false', `oci:${dir}`, `docker://${reg.host}/skopeo/three:s1`);
    const dst = fresh();
    ok(await dst.marten(['pull', `${reg.host}/skopeo/three:s1`]));
    await runsThreeLayers(dst, 'three:s1');
  });

  it('picks the host platform from a two-platform index, or the one --platform names', async () => {
    const arm = join(work, 'arm.tar');
    ociLayoutTar(threeLayerImage('arm64'), arm, { gzip: [true, true, true] });
    ok(await src.marten(['import', arm, '--name', 'three-arm']));
    const amdRef = lastLine(ok(await src.marten(['push', 'three', `${reg.host}/multi/three:amd64`])).stdout);
    const armRef = lastLine(ok(await src.marten(['push', 'three-arm', `${reg.host}/multi/three:arm64`])).stdout);
    const desc = async (ref: string, architecture: string): Promise<object> => {
      const digest = ref.split('@')[1]!;
      const res = await fetch(`http://${reg.host}/v2/multi/three/manifests/${digest}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: Number(res.headers.get('content-length')), platform: { os: 'linux', architecture } };
    };
    const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [await desc(armRef, 'arm64'), await desc(amdRef, 'amd64')] });
    const put = await fetch(`http://${reg.host}/v2/multi/three/manifests/latest`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index });
    expect(put.status).toBe(201);
    const dst = fresh();
    ok(await dst.marten(['pull', `${reg.host}/multi/three`]));
    const amd = JSON.parse((await dst.marten(['inspect', 'three'])).stdout) as { config: { architecture: string } };
    expect(amd.config.architecture).toBe('amd64');
    ok(await dst.marten(['pull', '--platform', 'linux/arm64', `${reg.host}/multi/three`, '--name', 'three-arm']));
    const armInfo = JSON.parse((await dst.marten(['inspect', 'three-arm'])).stdout) as { config: { architecture: string }; layers: unknown[] };
    expect(armInfo.config.architecture).toBe('arm64');
    const before = dst.snapshot();
    oneLineError(await dst.marten(['pull', '--platform', 'linux/s390x', `${reg.host}/multi/three`]), /no image for linux\/s390x \(it has linux\/arm64, linux\/amd64; choose with --platform\)/);
    expect(dst.snapshot()).toEqual(before);
    expect(sha(index)).toMatch(/^sha256:/);
  });
});

describe('marten pull and push errors: one line, non-zero, store unchanged', () => {
  it('a missing tag, a closed port, an unknown host, a bad reference', async () => {
    const dst = fresh();
    ok(await dst.marten(['pull', `${reg.host}/test/three:v1`]));
    const before = dst.snapshot();
    oneLineError(await dst.marten(['pull', `${reg.host}/test/three:nope`]), /404 Not Found.*MANIFEST_UNKNOWN/);
    oneLineError(await dst.marten(['pull', `${reg.host}/test/nothere`]), /404 Not Found/);
    oneLineError(await dst.marten(['pull', `127.0.0.1:${await freePort()}/test/x`]), /ECONNREFUSED/);
    oneLineError(await dst.marten(['pull', 'no-such-host.invalid/test/x']), /ENOTFOUND|EAI_AGAIN/);
    oneLineError(await dst.marten(['pull', 'UPPER/case']), /not an image reference/);
    oneLineError(await dst.marten(['push', 'nosuchimage', `${reg.host}/x/y`]), /no such image: nosuchimage/);
    expect(dst.snapshot()).toEqual(before);
    expect(readdirSync(join(dst.dir, 'tmp'))).toEqual([]);
  });

  it('a blob whose content does not match its digest', async () => {
    const rootfs = makeBusyboxRootfs();
    writeFileSync(join(rootfs.dir, 'payload'), 'x'.repeat(100_000));
    ok(await src.marten(['import', rootfs.dir, '--name', 'victim']));
    rootfs.remove();
    ok(await src.marten(['push', 'victim', `${reg.host}/test/victim`]));
    const info = JSON.parse((await src.marten(['inspect', 'victim'])).stdout) as { layers: { digest: string }[] };
    const digest = info.layers[0]!.digest.slice(7);
    const data = join(reg.dir, 'data/docker/registry/v2/blobs/sha256', digest.slice(0, 2), digest, 'data');
    execFileSync('sh', ['-c', `printf 'corrupt' | dd of=${data} bs=1 seek=5000 conv=notrunc 2>/dev/null`]);
    const dst = fresh();
    ok(await dst.marten(['pull', `${reg.host}/test/three:v1`]));
    const before = dst.snapshot();
    oneLineError(await dst.marten(['pull', `${reg.host}/test/victim`]), /digest mismatch|unexpected end|invalid|incorrect/);
    expect(dst.snapshot()).toEqual(before);
    expect(readdirSync(join(dst.dir, 'tmp'))).toEqual([]);
  });
});

describe('registry auth: bearer token challenge, basic credentials from $DOCKER_CONFIG/config.json', () => {
  it('pushes and pulls through a token-auth front with the credentials, and fails in one line without them', async () => {
    const proxy = await startAuthProxy(reg.host);
    const cfg = mkdtempSync('/tmp/marten-test-dockercfg-');
    try {
      writeFileSync(join(cfg, 'config.json'), JSON.stringify({ auths: { [proxy.host]: { auth: Buffer.from(`${USER}:${SECRET}`).toString('base64') } } }));
      const env = { DOCKER_CONFIG: cfg };
      ok(await src.marten(['push', 'three', `${proxy.host}/auth/three:a1`], { env }));
      expect(proxy.scopes).toContain('repository:auth/three:pull,push');
      const dst = fresh();
      ok(await dst.marten(['pull', `${proxy.host}/auth/three:a1`], { env }));
      expect(proxy.scopes.at(-1)).toBe('repository:auth/three:pull');
      await runsThreeLayers(dst, 'three:a1');
      const before = dst.snapshot();
      oneLineError(await dst.marten(['pull', `${proxy.host}/auth/three:a1`, '--name', 'x'], { env: { DOCKER_CONFIG: join(cfg, 'none') } }),
        /getting a token from http:\/\/127\.0\.0\.1:\d+: 401/);
      expect(dst.snapshot()).toEqual(before);
    } finally {
      await proxy.stop();
      rmSync(cfg, { recursive: true, force: true });
    }
  });
});

describe('marten export compresses nothing; push compresses (issue 12)', () => {
  /** Every file under dir (names and sizes): what the store holds. */
  const listing = (dir: string): string[] => execFileSync('find', [dir, '-printf', '%P %s\n'], { encoding: 'utf8' }).split('\n').sort();
  const inspect = (ref: string): { Layers: string[] } => JSON.parse(skopeo('inspect', ref)) as { Layers: string[] };
  const diffIds = (ref: string): string[] => (JSON.parse(skopeo('inspect', '--config', ref)) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;

  it('exports a never-exported image with no gzip blob left behind; skopeo reads it both ways; push and a pulled export still work', async () => {
    const s = fresh();
    const tar = join(work, 'three-export.tar');
    ociLayoutTar(threeLayerImage(), tar, { gzip: [true, false, true], name: 'exp:v1' });
    ok(await s.marten(['import', tar]));
    const c = await s.minc(['-r', 'exp:v1', '--name', 'expbox', 'sh', '-c', 'rm /keep; echo more > /more']);
    expect(c.exitCode, c.stderr).toBe(0);
    ok(await s.marten(['commit', 'expbox', '--name', 'expc']));
    const before = listing(s.dir);
    const out = join(work, 'expc.tar');
    ok(await s.marten(['export', 'expc', '-o', out]));
    // nothing packed into the store: no blob, no layer.json rewritten, no temp file
    expect(listing(s.dir)).toEqual(before);
    expect(readdirSync(join(s.dir, 'blobs/sha256'))).toEqual([]);
    // the tar's layers are plain (no gzip magic) and named by what they hash to
    expect(inspect(`docker-archive:${out}`).Layers).toEqual(diffIds(`docker-archive:${out}`));
    expect(inspect(`oci-archive:${out}`).Layers).toEqual(diffIds(`docker-archive:${out}`));
    expect(diffIds(`oci-archive:${out}`)).toHaveLength(4);
    const x = mkdtempSync(join(work, 'expc-x-'));
    execFileSync('tar', ['-xf', out, '-C', x]);
    for (const d of diffIds(`oci-archive:${out}`)) {
      const body = readFileSync(join(x, 'blobs/sha256', d.slice(7)));
      expect(sha(body)).toBe(d);
      expect(body.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))).toBe(false);
    }
    expect(execFileSync('tar', ['-tf', join(x, 'blobs/sha256', diffIds(`oci-archive:${out}`)[3]!.slice(7))], { encoding: 'utf8' }).split('\n'))
      .toEqual(expect.arrayContaining(['.wh.keep', 'more']));
    // a push gzips (now, not before) and keeps the blobs; a pull of it runs
    ok(await s.marten(['push', 'expc', `${reg.host}/test/expc:v1`]));
    expect(readdirSync(join(s.dir, 'blobs/sha256'))).toHaveLength(4);
    expect((JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${reg.host}/test/expc:v1`)) as { Layers: string[] }).Layers).toHaveLength(4);
    // the same layers: the pushed config names the DiffIDs the export had
    expect((JSON.parse(skopeo('inspect', '--tls-verify=false', '--config', `docker://${reg.host}/test/expc:v1`)) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids).toEqual(diffIds(`oci-archive:${out}`));
    const dst = fresh();
    ok(await dst.marten(['pull', `${reg.host}/test/expc:v1`]));
    // an export of a pulled (still packed) image gunzips its stored blobs: the same DiffIDs, nothing unpacked
    const out2 = join(work, 'pulled.tar');
    const held = listing(dst.dir);
    ok(await dst.marten(['export', 'expc:v1', '-o', out2]));
    expect(listing(dst.dir)).toEqual(held);
    expect(inspect(`oci-archive:${out2}`).Layers).toEqual(diffIds(`oci-archive:${out}`));
    const r = await dst.minc(['-r', 'expc:v1', 'sh', '-c', 'cat /more; test -e /keep || echo no-keep']);
    expect(r.stdout).toBe('more\nno-keep');
  });

  it('an export whose stored blob does not unpack to its DiffID fails in one line and leaves no file', async () => {
    const dst = fresh();
    const id = lastLine(ok(await dst.marten(['pull', `${reg.host}/test/expc:v1`])).stdout);
    const layers = (JSON.parse(ok(await dst.marten(['inspect', id])).stdout) as { layers: { digest: string }[] }).layers;
    const blob = (i: number): string => join(dst.dir, 'blobs/sha256', layers[i]!.digest.slice(7));
    copyFileSync(blob(2), blob(1));
    const out = join(work, 'bad-export.tar');
    oneLineError(await dst.marten(['export', 'expc:v1', '-o', out]), /does not unpack to its DiffID/);
    expect(readdirSync(work).filter((f) => f.includes('bad-export'))).toEqual([]);
  });
});

describe("MINCS's test.d/02_marten against the loopback registry", () => {
  const mincs = fresh;
  let store: TestStore;
  beforeAll(async () => {
    store = mincs();
    const rootfs = makeBusyboxRootfs();
    ok(await src.marten(['import', rootfs.dir, '--name', 'alpine-like']));
    rootfs.remove();
    ok(await src.marten(['push', 'alpine-like', `${reg.host}/library/alpine`]));
  });
  it('00_pull: pulls an image, which lists as alpine', async () => {
    ok(await store.marten(['pull', `${reg.host}/library/alpine`]));
    expect((await store.marten(['li'])).stdout).toMatch(/\/library\/alpine:latest \(alpine\)$/m);
  });
  it('01_run: runs the pulled image', async () => {
    expect((await store.marten(['li'])).stdout).toMatch(/alpine/);
    const r = await store.minc(['--debug', '-r', 'alpine', 'ls']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual(expect.arrayContaining(['bin', 'etc']));
  });
});

/**
 * Issue 8, the store's side: hostile archives, layers and containers against
 * marten's store, import, commit and export (as root, real tools).  Every
 * fixture is built here (tar-stream); canaries live under dirs made here.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MARTEN, MINC_BIN, lastLine } from '../helpers/marten.js';
import { sha, tarOf } from '../helpers/images.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';
import { startRegistry } from '../helpers/registry.js';
import { END, encodeHeader, padding } from '../../src/marten/layers/tarwriter.js';
import { freezeV2 } from '../../src/marten/freeze.js';
import { tarBuffer, type TarEntry } from '../helpers/tarball.js';

let work: string;
const env = (dir: string): NodeJS.ProcessEnv => ({ ...process.env, MINCS_DIR: dir });

beforeAll(() => {
  work = mkdtempSync('/tmp/marten-sec-');
  chmodSync(work, 0o755); // an unprivileged user may walk up to the store: only the store's own mode keeps it out
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function marten(store: string, args: string[], timeout = 60_000): { status: number | null; stdout: string; stderr: string; signal: string | null } {
  const r = spawnSync(MARTEN, args, { env: env(store), encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

/** One line on stderr starting marten:, non-zero status. */
function oneLineError(r: { status: number | null; stderr: string }, re: RegExp): void {
  expect(r.status, r.stderr).not.toBe(0);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(/^marten: /);
  expect(r.stderr).toMatch(re);
}

/** A docker save tarball (manifest.json form) of these layers. */
function saveTar(layers: Buffer[], extra: TarEntry[] = [], config?: Record<string, unknown>): Promise<Buffer> {
  const cfg = JSON.stringify(config ?? { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => sha(l)) } });
  const files: TarEntry[] = [
    { name: 'config.json', body: cfg },
    ...layers.map((l, i): TarEntry => ({ name: `l${i}/layer.tar`, body: l })),
    { name: 'manifest.json', body: JSON.stringify([{ Config: 'config.json', RepoTags: ['sec:latest'], Layers: layers.map((_, i) => `l${i}/layer.tar`) }]) },
  ];
  return tarBuffer([...files.filter((f) => !extra.some((e) => e.name === f.name)), ...extra]);
}

const asNobody = (cmd: string): { status: number | null; stderr: string; stdout: string } => {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'sh', '-c', cmd], { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
};

describe('the store is 0700 (issue 8 item 2)', () => {
  it("keeps a layer's setuid-root file and 0666 device out of other users' reach", async () => {
    const store = join(work, 'store-perm');
    const layer = await tarBuffer([
      { name: 'bin', type: 'directory', mode: 0o755 },
      { name: 'bin/busybox', body: readFileSync('/bin/busybox'), mode: 0o4755 },
      { name: 'dev', type: 'directory', mode: 0o755 },
      { name: 'dev/evil', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 },
    ]);
    const tar = join(work, 'perm.tar');
    writeFileSync(tar, await saveTar([layer]));
    const r = marten(store, ['import', tar]);
    expect(r.status, r.stderr).toBe(0);
    const id = lastLine(r.stdout);
    const root = join(store, 'images', id, 'root');
    expect(statSync(join(root, 'bin/busybox')).mode & 0o7777).toBe(0o4755); // the image keeps it (root's to use)
    for (const d of ['', 'images', 'containers', 'blobs', 'tmp']) expect((statSync(join(store, d)).mode & 0o777).toString(8), d).toBe('700');
    const run = asNobody(`${root}/bin/busybox true && echo RAN`);
    expect(run.stdout).not.toContain('RAN');
    expect(run.stderr).toMatch(/Permission denied/);
    const open = asNobody(`exec 3>${root}/dev/evil && echo OPENED`);
    expect(open.stdout).not.toContain('OPENED');
    expect(open.stderr).toMatch(/Permission denied/);
    expect(asNobody(`ls ${store}/images`).status).not.toBe(0);
  });

  it("fixes an existing store's too-open modes on the next marten command", () => {
    const store = join(work, 'store-old');
    for (const d of ['images', 'containers', 'blobs/sha256', 'tmp']) mkdirSync(join(store, d), { recursive: true, mode: 0o755 });
    chmodSync(store, 0o755);
    const r = marten(store, ['li']);
    expect(r.status, r.stderr).toBe(0);
    for (const d of ['', 'images', 'containers', 'blobs', 'tmp']) expect((statSync(join(store, d)).mode & 0o777).toString(8), d).toBe('700');
  });
});

describe('docker save / OCI layout import trusts nothing in the outer archive (issue 8 items 4, 7, 9)', () => {
  const store = (): string => join(work, 'store-import');
  let layer: Buffer;
  let secretTar: string;
  let creds: string;
  beforeAll(async () => {
    layer = await tarBuffer([{ name: 'hello', body: 'hi\n' }]);
    // host files an archive must never reach: a valid layer tar and a JSON config
    secretTar = join(work, 'host-secret.tar');
    writeFileSync(secretTar, await tarBuffer([{ name: 'HOST-SECRET', body: 'secret\n' }]));
    creds = join(work, 'creds.json');
    writeFileSync(creds, JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: ['TOKEN=HOSTCREDS'] }, rootfs: { type: 'layers', diff_ids: [sha(readFileSync(secretTar))] } }));
  });
  const importing = async (name: string, bytes: Buffer | Promise<Buffer>, re: RegExp): Promise<string> => {
    const tar = join(work, `${name}.tar`);
    writeFileSync(tar, await bytes);
    const r = marten(store(), ['import', tar]);
    oneLineError(r, re);
    expect(r.stderr).not.toMatch(/HOST|secret|TOKEN/);
    expect(marten(store(), ['li']).stdout.trim().split('\n')).toHaveLength(1);
    expect(statSync(join(store(), 'tmp')).isDirectory() ? readdirNames(join(store(), 'tmp')) : []).toEqual([]);
    return r.stderr;
  };
  it('refuses a layer.tar that is a symlink to a host file', async () => {
    await importing('sym-layer', saveTar([layer], [{ name: 'l0/layer.tar', type: 'symlink', linkname: secretTar }]), /l0\/layer\.tar.* symlink/);
  });
  it('refuses a config.json that is a symlink (or a hard link) to a host file', async () => {
    await importing('sym-config', saveTar([layer], [{ name: 'config.json', type: 'symlink', linkname: creds }]), /config\.json.* symlink/);
    await importing('hard-config', saveTar([layer], [{ name: 'config.json', type: 'link', linkname: creds }]), /config\.json.* hard link/);
  });
  it("refuses a symlink member that climbs out of the archive, names a directory, or loops (podman's relative links to members are taken)", async () => {
    await importing('sym-climb', saveTar([layer], [{ name: 'l0/layer.tar', type: 'symlink', linkname: `../../../../../../..${secretTar}` }]), /l0\/layer\.tar is a symlink out of it/);
    await importing('sym-dir', saveTar([layer], [{ name: 'd/x', body: 'x' }, { name: 'l0/layer.tar', type: 'symlink', linkname: '../d' }]), /l0\/layer\.tar is a symlink to d, which is not a file/);
    await importing('sym-loop', saveTar([layer], [{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }]), /symlinks loop/);
    // podman save --format docker-archive: <id>/layer.tar -> ../<digest>.tar
    const ok = join(work, 'sym-member.tar');
    writeFileSync(ok, await saveTar([layer], [{ name: 'blob.tar', body: layer }, { name: 'l0/layer.tar', type: 'symlink', linkname: '../blob.tar' }]));
    const r = marten(store(), ['import', ok, '--name', 'linked']);
    expect(r.status, r.stderr).toBe(0);
    expect(marten(store(), ['rmi', 'linked']).status).toBe(0);
  });
  it('refuses a member that is a device or a fifo (no endless read, no hang)', async () => {
    await importing('zero', saveTar([layer], [{ name: 'l0/layer.tar', type: 'character-device', devmajor: 1, devminor: 5 }]), /l0\/layer\.tar.* device/);
    await importing('fifo', saveTar([layer], [{ name: 'l0/layer.tar', type: 'fifo' }]), /l0\/layer\.tar.* fifo/);
  });
  it('refuses a non-JSON member without echoing it', async () => {
    const text = 'HOST secret line: not json at all';
    await importing('notjson', saveTar([layer], [{ name: 'config.json', body: text }]), /config\.json.* not (valid )?JSON/);
  });
  it('refuses JSON members over 4 MiB', async () => {
    const big = JSON.stringify({ architecture: 'amd64', os: 'linux', pad: 'x'.repeat(5 << 20), rootfs: { type: 'layers', diff_ids: [sha(layer)] } });
    await importing('bigjson', saveTar([layer], [{ name: 'config.json', body: big }]), /config\.json.*maximum allowed size \(4 MiB\)/);
  });
  it('refuses an archive whose config has no DiffIDs, or other ones, in every form', async () => {
    await importing('nodiff', saveTar([layer], [], { architecture: 'amd64', os: 'linux', config: {} }), /DiffID|diff_ids/);
    await importing('otherdiff', saveTar([layer], [], { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha('x')] } }), /DiffID/);
    // the legacy form (repositories + <id>/json): no diff_ids at all
    const id = 'a'.repeat(64);
    await importing('legacy-nodiff', tarBuffer([
      { name: 'repositories', body: JSON.stringify({ old: { latest: id } }) },
      { name: `${id}/json`, body: JSON.stringify({ id, config: {} }) },
      { name: `${id}/layer.tar`, body: layer },
    ]), /DiffID|diff_ids/);
    // an OCI layout whose config lists none
    const cfg = JSON.stringify({ architecture: 'amd64', os: 'linux' });
    const blob = (b: string | Buffer): TarEntry => ({ name: `blobs/sha256/${sha(b).slice(7)}`, body: b });
    const manifest = JSON.stringify({ schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(cfg), size: cfg.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }] });
    await importing('oci-nodiff', tarBuffer([
      { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
      { name: 'index.json', body: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length }] }) },
      blob(cfg), blob(manifest), blob(layer),
    ]), /DiffID|diff_ids/);
  });
  it('an OCI layout blob whose bytes are not its digest: one line saying so (it read "Digest already called")', async () => {
    const other = Buffer.concat([layer, Buffer.alloc(1024)]);
    const cfg = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } });
    const manifest = JSON.stringify({ schemaVersion: 2, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(cfg), size: cfg.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }] });
    const e = await importing('oci-badblob', tarBuffer([
      { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
      { name: 'index.json', body: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length }] }) },
      { name: `blobs/sha256/${sha(cfg).slice(7)}`, body: cfg }, { name: `blobs/sha256/${sha(manifest).slice(7)}`, body: manifest },
      { name: `blobs/sha256/${sha(layer).slice(7)}`, body: other },
    ]), /digest mismatch|size|DiffID/);
    expect(e).not.toMatch(/already called/);
  });
  it('says which field of a wrongly shaped manifest.json is wrong, with no JavaScript internals', async () => {
    const e = await importing('shape', saveTar([layer], [{ name: 'manifest.json', body: JSON.stringify([{ Config: 7, Layers: [null] }]) }]), /manifest\.json.*Config/);
    expect(e).not.toMatch(/argument|undefined|null|Cannot read/);
    await importing('shape2', saveTar([layer], [{ name: 'manifest.json', body: '{"a":1}' }]), /manifest\.json.* (an array|must be)/);
  });
  it('refuses to import a fifo or a device named on the command line', () => {
    const fifo = join(work, 'a-fifo');
    execFileSync('mkfifo', [fifo]);
    const r = marten(store(), ['import', fifo], 15_000);
    expect(r.signal).toBeNull(); // not hung
    oneLineError(r, /not a regular file/);
    oneLineError(marten(store(), ['import', '/dev/zero'], 15_000), /not a regular file/);
  });
});

function readdirNames(d: string): string[] {
  return execFileSync('ls', ['-A', d]).toString().split('\n').filter(Boolean);
}

describe('marten export writes through no predictable name (issue 8 item 6)', () => {
  it("leaves a root-owned file that symlinks at the old temp names point to unchanged", async () => {
    const store = join(work, 'store-export');
    const tar = join(work, 'export-src.tar');
    writeFileSync(tar, await saveTar([await tarBuffer([{ name: 'f', body: 'data\n' }])]));
    expect(marten(store, ['import', tar, '--name', 'exp']).status).toBe(0);
    const dir = mkdtempSync(join(work, 'out-'));
    const canary = join(dir, 'canary');
    writeFileSync(canary, 'CANARY\n', { mode: 0o644 });
    const out = join(dir, 'image.tar');
    // the pid is marten's own: sh execs env, which execs node
    const r = spawnSync('sh', ['-c', `for n in "${out}.marten-$$" "${out}.tmp-$$" "${out}.$$"; do ln -s "${canary}" "$n"; done; exec "$0" export exp -o "${out}"`, MARTEN],
      { env: env(store), encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(canary, 'utf8')).toBe('CANARY\n');
    expect(statSync(out).isFile()).toBe(true);
    expect(execFileSync('tar', ['-tf', out]).toString()).toContain('manifest.json');
    // nothing left beside it but the planted links
    expect(readdirNames(dir).filter((n) => !n.startsWith('image.tar.') && n !== 'canary')).toEqual(['image.tar']);
  });
});

describe('marten commit of a running container copies no host file (issue 8 item 3)', () => {
  const store = (): string => join(work, 'store-commit');
  let canaryDir: string;
  let racer: string; // python3 swapping a dir and a symlink to canaryDir inside the container, as fast as it can
  beforeAll(async () => {
    canaryDir = mkdtempSync(join(work, 'canary-dir-'));
    writeFileSync(join(canaryDir, 'CANARY-FILE'), 'HOSTCANARY\n');
    const rootfs = makeBusyboxRootfs(work);
    execFileSync('sh', ['-c', `cd ${rootfs.dir} && mkdir usr && ln -s usr/lib lib && ln -s usr/lib64 lib64`]);
    const tar = join(work, 'bb.tar');
    writeFileSync(tar, await saveTar([tarOf(rootfs.dir)]));
    rootfs.remove();
    const r = marten(store(), ['import', tar, '--name', 'bb']);
    expect(r.status, r.stderr).toBe(0);
    racer = [
      'import ctypes, os',
      'libc = ctypes.CDLL(None, use_errno=True)',
      "os.makedirs('/race/d', exist_ok=True)",
      "for i in range(20): open('/race/d/f%d' % i, 'w').write('inner')",
      `os.symlink(${JSON.stringify(canaryDir)}, '/race/l')`,
      "open('/race/started', 'w').close()",
      'while True:',
      "  if libc.renameat2(-100, b'/race/d', -100, b'/race/l', 2) != 0: raise OSError(ctypes.get_errno(), 'renameat2')",
    ].join('\n');
  });

  /** Start the racer in a new container of bb; resolves when it swaps. */
  async function startRacer(extra: string[]): Promise<{ dir: string; minc: ReturnType<typeof spawn>; stop: () => Promise<void> }> {
    const f = spawnSync(MINC_BIN, ['-r', 'bb', 'true'], { env: env(store()), encoding: 'utf8' });
    expect(f.status, f.stderr).toBe(0);
    const short = /^([0-9a-f]{12})$/m.exec(f.stderr)![1]!;
    const dir = join(store(), 'containers', readdirNames(join(store(), 'containers')).find((n) => n.startsWith(short))!);
    const minc = spawn(MINC_BIN, [...extra, '-t', short, '-b', '/usr:/usr:ro', '/usr/bin/python3', '-c', racer], { env: env(store()), stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    minc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const ended = new Promise<void>((res) => minc.on('close', () => res()));
    for (let i = 0; !existsSync(join(dir, 'storage/race/started')); i++) {
      if (i > 300 || minc.exitCode !== null) throw new Error(`the racer did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { dir, minc, stop: async () => {
      minc.kill('SIGTERM');
      await ended;
    } };
  }

  const noCanary = (id: string): void => {
    const root = join(store(), 'images', id, 'root');
    const hits = spawnSync('grep', ['-rl', 'HOSTCANARY', root], { encoding: 'utf8' }).stdout;
    expect(hits).toBe('');
    expect(spawnSync('find', [root, '-name', 'CANARY-FILE'], { encoding: 'utf8' }).stdout).toBe('');
    expect(existsSync(join(root, 'race'))).toBe(true);
  };

  it('refuses a running container without a cgroup unless --pause; with --pause, never the host files, and it runs on after', async () => {
    const r = await startRacer([]);
    try {
      oneLineError(marten(store(), ['commit', basenameOf(r.dir)]), /is running and has no cgroup.*--pause/);
      for (let i = 0; i < 6; i++) {
        const c = marten(store(), ['commit', '--pause', basenameOf(r.dir)]);
        expect(c.status, c.stderr).toBe(0);
        noCanary(lastLine(c.stdout));
      }
      // thawed: the racer is still running, not stopped
      const pid = Number(readFileSync(join(r.dir, 'pid'), 'utf8'));
      const children = execFileSync('sh', ['-c', `ps -o stat= --ppid ${pid}; ps -o stat= -p ${pid}`]).toString();
      expect(children).not.toMatch(/^T/m);
    } finally {
      await r.stop();
    }
  });

  it('freezes a run that has a cgroup (--mem-limit) without --pause', async () => {
    const r = await startRacer(['--mem-limit', '256M']);
    try {
      for (let i = 0; i < 6; i++) {
        const c = marten(store(), ['commit', basenameOf(r.dir)]);
        expect(c.status, c.stderr).toBe(0);
        noCanary(lastLine(c.stdout));
      }
    } finally {
      await r.stop();
    }
  });
});

const basenameOf = (p: string): string => p.slice(p.lastIndexOf('/') + 1);

describe('names that are not UTF-8 keep their bytes (issue 8 item 8)', () => {
  it('through commit, export and push', async () => {
    const store = join(work, 'store-bytes');
    const rootfs = makeBusyboxRootfs(work);
    const tar = join(work, 'bb-bytes.tar');
    writeFileSync(tar, await saveTar([tarOf(rootfs.dir)]));
    rootfs.remove();
    expect(marten(store, ['import', tar, '--name', 'bb']).status).toBe(0);
    // a name with byte 0xff, a long one (pax) with it, and a whiteout of a name with it
    const long = `d/${'y'.repeat(120)}\\377z`;
    const run = spawnSync(MINC_BIN, ['-r', 'bb', 'sh', '-c', `touch "$(printf "/\\377x")" && mkdir /d && touch "$(printf "/${long}")" && rm "$(printf "/bin/\\377nope")" 2>/dev/null; ln -s "$(printf "/\\377x")" /lnk; true`],
      { env: env(store), encoding: 'buffer' });
    expect(run.status, run.stderr.toString()).toBe(0);
    const short = /^([0-9a-f]{12})$/m.exec(run.stderr.toString())![1]!;
    const c = marten(store, ['commit', short, '--name', 'bytes']);
    expect(c.status, c.stderr).toBe(0);
    const id = lastLine(c.stdout);
    const name = Buffer.from([0xff, 0x78]);
    expect(spawnSync('ls', ['-1', join(store, 'images', id, 'root')], { encoding: 'buffer' }).stdout.includes(name)).toBe(true);
    const out = join(work, 'bytes-export.tar');
    const e = marten(store, ['export', 'bytes', '-o', out]);
    expect(e.status, e.stderr).toBe(0);
    const x = mkdtempSync(join(work, 'bytes-x-'));
    execFileSync('tar', ['-xf', out, '-C', x]);
    const manifest = JSON.parse(readFileSync(join(x, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
    const top = join(x, manifest[0]!.Layers.at(-1)!);
    const names = execFileSync('tar', ['--quoting-style=literal', '-tf', top]).toString('latin1').split('\n');
    expect(names).toEqual(expect.arrayContaining(['\xffx', 'lnk', `d/${'y'.repeat(120)}\xffz`]));
    const links = execFileSync('tar', ['--quoting-style=literal', '-tvf', top]).toString('latin1');
    expect(links).toContain('lnk -> /\xffx');
    // push packs the same layer: the blob it stored under blobs/ (gzip) has the same names
    // (export packs nothing into the store: the layer is packed only now)
    const reg = await startRegistry();
    try {
      const p = marten(store, ['push', 'bytes', `${reg.host}/bytes:1`]);
      expect(p.status, p.stderr).toBe(0);
      const info = JSON.parse(readFileSync(join(store, 'images', id, 'layer.json'), 'utf8')) as { digest: string };
      const blob = join(reg.dir, 'data/docker/registry/v2/blobs/sha256', info.digest.slice(7, 9), info.digest.slice(7), 'data');
      expect(execFileSync('tar', ['--quoting-style=literal', '-tzf', blob]).toString('latin1').split('\n')).toEqual(expect.arrayContaining(['\xffx', `d/${'y'.repeat(120)}\xffz`]));
    } finally {
      await reg.stop();
    }
  });
});

describe('names that are not UTF-8 keep their bytes on import too (issue 8 item 8)', () => {
  it('turns a whiteout named with byte 0xff into the overlayfs whiteout of that name', async () => {
    const store = join(work, 'store-bytes-import');
    const h = (name: string, size = 0): Buffer => encodeHeader({ name: Buffer.from(name, 'latin1'), type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size });
    const layer = Buffer.concat([h('\xffx', 3), Buffer.from('hi\n'), padding(3), h('.wh.\xffy'), END]);
    const tar = join(work, 'bytes-import.tar');
    writeFileSync(tar, await saveTar([layer]));
    const r = marten(store, ['import', tar]);
    expect(r.status, r.stderr).toBe(0);
    const root = join(store, 'images', lastLine(r.stdout), 'root');
    expect(readFileSync(Buffer.from(`${root}/\xffx`, 'latin1'), 'utf8')).toBe('hi\n');
    const wh = statSync(Buffer.from(`${root}/\xffy`, 'latin1'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(execFileSync('ls', ['-A', root]).toString('latin1').split('\n').filter(Boolean).sort()).toEqual(['\xffx', '\xffy']);
  });
});

describe('marten prune removes leftovers named with bytes that are not UTF-8 (issue 8 item 8)', () => {
  it('removes a dead run staging dir named with byte 0xff', () => {
    const store = join(work, 'store-bytes-prune');
    mkdirSync(join(store, 'tmp'), { recursive: true });
    const dead = Buffer.from(`${store}/tmp/999999999-\xff`, 'latin1');
    mkdirSync(dead);
    writeFileSync(Buffer.concat([dead, Buffer.from('/\xffz', 'latin1')]), 'x');
    const r = marten(store, ['prune']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('removed tmp/999999999-');
    expect(existsSync(dead)).toBe(false);
  });
});

describe("tar's real error, said once (issue 8 item 9)", () => {
  it('shows the error behind a warning, without a doubled prefix', async () => {
    const store = join(work, 'store-tarerr');
    const whole = await tarBuffer([{ name: '../evil', body: 'x'.repeat(3000) }, { name: 'after', body: 'y'.repeat(3000) }]);
    const layer = whole.subarray(0, 2048); // cut inside a member: tar ends with an error
    const tar = join(work, 'tarerr.tar');
    writeFileSync(tar, await saveTar([layer]));
    const r = marten(store, ['import', tar]);
    oneLineError(r, /unpacking: tar: (\.\.\/evil: Member name contains|Unexpected EOF)/);
    expect(r.stderr).not.toMatch(/tar: tar:|Removing leading/);
  });
});

describe('a gzip bomb in a layer (issue 8, Also)', () => {
  let reg: Awaited<ReturnType<typeof startRegistry>>;
  let ref: string;
  let small: string;
  beforeAll(async () => {
    reg = await startRegistry();
    // 64 MiB of zeros: a 64 KiB gzip blob
    const layer = await tarBuffer([{ name: 'zeros', body: Buffer.alloc(64 << 20) }]);
    const gz = gzipSync(layer);
    const dir = mkdtempSync(join(work, 'bomb-oci-'));
    mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
    const put = (b: Buffer | string): string => {
      const d = sha(b);
      writeFileSync(join(dir, 'blobs/sha256', d.slice(7)), b);
      return d;
    };
    const cfg = JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha(layer)] } });
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(cfg), size: cfg.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(gz), size: gz.length }] });
    writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: put(manifest), size: manifest.length }] }));
    ref = `${reg.host}/bomb:1`;
    execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${dir}`, `docker://${ref}`]);
    small = mkdtempSync(join(work, 'small-'));
  });
  afterAll(async () => {
    spawnSync('umount', [small]);
    await reg?.stop();
  });

  it('unpack --max-layer-size stops a layer larger than that, leaving it packed', () => {
    const store = join(work, 'store-bomb');
    const p = marten(store, ['pull', ref]);
    expect(p.status, p.stderr).toBe(0);
    const id = lastLine(p.stdout);
    oneLineError(marten(store, ['unpack', 'bomb:1', '--max-layer-size', '16M']), /larger than 16M uncompressed \(--max-layer-size\)/);
    expect(existsSync(join(store, 'images', id, 'root'))).toBe(false);
    expect(readdirNames(join(store, 'tmp'))).toEqual([]);
    oneLineError(marten(store, ['unpack', 'bomb:1', '--max-layer-size', 'lots']), /--max-layer-size 'lots': expected a size such as 512M/);
    // under the limit it unpacks
    const u = marten(store, ['unpack', 'bomb:1', '--max-layer-size', '1G']);
    expect(u.status, u.stderr).toBe(0);
    expect(statSync(join(store, 'images', id, 'root', 'zeros')).size).toBe(64 << 20);
  });

  it('pull --max-layer-size unpacks at once under that bound', () => {
    const store = join(work, 'store-bomb-pull');
    // pull's progress lines come first (not a terminal: plain lines); then the one error line
    const r = marten(store, ['pull', ref, '--max-layer-size', '8M']);
    expect(r.status).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^marten: .*larger than 8M uncompressed/);
    expect(lines.slice(0, -1).every((l) => /^marten: [0-9a-f]{12}: (pull \S+|done)$/.test(l)), r.stderr).toBe(true);
    const ok = marten(store, ['pull', ref, '--max-layer-size', '100M']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(statSync(join(store, 'images', lastLine(ok.stdout), 'root', 'zeros')).size).toBe(64 << 20);
  });

  it('says "no space left on device" when the store fills up', () => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', small]);
    try {
      const store = join(small, 'store');
      const p = marten(store, ['pull', ref]);
      expect(p.status, p.stderr).toBe(0);
      const r = marten(store, ['unpack', 'bomb:1']);
      oneLineError(r, /no space left on device/);
      expect(r.stderr).not.toMatch(/Wrote only|tar: tar:/);
      expect(readdirNames(join(store, 'tmp'))).toEqual([]);
    } finally {
      execFileSync('umount', [small]);
    }
  });
});

describe('the cgroup v2 freezer of marten commit (issue 8 item 3)', () => {
  it('holds every process of the group still until thawed', async () => {
    const v2 = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => / - cgroup2 /.test(l))?.split(' ')[4];
    expect(v2, 'a cgroup2 hierarchy').toBeTruthy();
    const dir = mkdtempSync(join(v2!, 'marten-test-freeze-'));
    const busy = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
    const cpu = (): number => {
      const f = readFileSync(`/proc/${busy.pid}/stat`, 'utf8');
      const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
      return Number(x[11]) + Number(x[12]);
    };
    try {
      writeFileSync(join(dir, 'cgroup.procs'), String(busy.pid));
      const thaw = await freezeV2(dir);
      const a = cpu();
      await new Promise((r) => setTimeout(r, 300));
      expect(cpu()).toBe(a);
      thaw();
      await new Promise((r) => setTimeout(r, 300));
      expect(cpu()).toBeGreaterThan(a);
    } finally {
      busy.kill('SIGKILL');
      await new Promise((r) => busy.on('close', r));
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(dir);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
  });
});

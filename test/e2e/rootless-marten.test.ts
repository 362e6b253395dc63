/**
 * marten for an ordinary user (issue 11), run as a real unprivileged user the
 * test makes (test/helpers/rootless.ts): its own store under
 * ~/.local/share/mincs, imports and pulls unpacked without root, commits,
 * exports and pushes of its containers, removals of trees its subordinate ids
 * own.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerSaveTar, ociLayoutTar, sha, type Fixture } from '../helpers/images.js';
import { startRegistry, type Registry } from '../helpers/registry.js';
import { MARTEN, MINC_BIN } from '../helpers/marten.js';
import { asUser, makeUser as makeTestUser, removeUser, type TestUser } from '../helpers/rootless.js';

interface Run {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}
type RunOpts = { extraEnv?: Record<string, string> };

/** The test user, with what this file runs as it: commands in its home, extra environment through env(1). */
interface RootlessUser extends TestUser {
  readonly subgid: number | null;
  run(file: string, args: readonly string[], opts?: RunOpts): Promise<Run>;
  marten(args: readonly string[], opts?: RunOpts): Promise<Run>;
  minc(args: readonly string[], opts?: RunOpts): Promise<Run>;
}

async function makeUser(): Promise<RootlessUser> {
  const u = await makeTestUser();
  const sub = readFileSync('/etc/subgid', 'utf8').split('\n').find((l) => l.startsWith(`${u.name}:`));
  const run = async (file: string, args: readonly string[], opts: RunOpts = {}): Promise<Run> => {
    const extra = Object.entries(opts.extraEnv ?? {}).map(([k, v]) => `${k}=${v}`);
    const r = await asUser(u, 'env', [...extra, file, ...args], { cwd: u.home, timeout: 120_000 });
    return { exitCode: r.exitCode ?? 128, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  };
  return {
    ...u,
    subgid: sub ? Number(sub.split(':')[1]) : null,
    run,
    marten: (args, opts) => run(MARTEN, args, opts),
    minc: (args, opts) => run(MINC_BIN, args, opts),
  };
}
import { makeBusyboxRootfs } from '../helpers/rootfs.js';

let user: RootlessUser;
let work: string;
let reg: Registry;

beforeAll(async () => {
  user = await makeUser();
  work = mkdtempSync('/tmp/marten-rootless-');
  execFileSync('chmod', ['755', work]);
  reg = await startRegistry();
});

afterAll(async () => {
  await reg?.stop();
  if (user) await removeUser(user);
  if (work) rmSync(work, { recursive: true, force: true });
});

const sh = (script: string): string => execFileSync('sh', ['-ec', script], { encoding: 'utf8' });
/** A file of the test's, readable by the user. */
const shared = (name: string): string => join(work, name);

/**
 * Two layers made as root: the first with device nodes (a char and a block
 * device, which a user cannot make), /etc/gone, /data/old, /hostile/x; the
 * second deletes /etc/gone (.wh.), makes /data opaque (.wh..wh..opq) and
 * brings /hostile again carrying user.overlay.opaque=y as a plain xattr
 * (hostile: kernel overlayfs with userxattr would hide /hostile/x).
 */
function deviceImage(): Fixture {
  const d = mkdtempSync(join(work, 'fx-'));
  sh(`cd ${d}; mkdir -p l1/etc l1/data l1/dev l1/hostile l2/etc l2/data l2/hostile
    echo gone > l1/etc/gone; echo old > l1/data/old; echo x > l1/hostile/x; echo keep > l1/keep
    mknod l1/dev/null c 1 3; mknod l1/dev/loop7 b 7 7
    : > l2/etc/.wh.gone; : > l2/data/.wh..wh..opq; echo new > l2/data/new; echo y > l2/hostile/y
    setfattr -n user.overlay.opaque -v y l2/hostile; setfattr -n user.fuseoverlayfs.opaque -v y l2/hostile; setfattr -n user.mine -v 1 l2/hostile`);
  const tar = (dir: string): Buffer => execFileSync('tar', ['-C', dir, '--xattrs', '--xattrs-include=user.*', '--numeric-owner', '--sort=name', '-cf', '-', '.'], { maxBuffer: 1 << 28 });
  const layers = [tar(join(d, 'l1')), tar(join(d, 'l2'))];
  rmSync(d, { recursive: true, force: true });
  return {
    layers,
    config: { architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: layers.map(sha) } },
    remove: () => undefined,
  };
}

interface Layer { id: string; overlay?: string; diffId?: string }
const layersOf = async (ref: string, env?: Record<string, string>): Promise<{ dir: string; layers: Layer[] }> => {
  const r = await user.marten(['inspect', ref], { extraEnv: env });
  expect(r.exitCode, r.stderr).toBe(0);
  const j = JSON.parse(r.stdout) as { dir: string; layers: Layer[] };
  return { dir: join(j.dir, '..'), layers: j.layers };
};

/** getfattr's value of name on path ('' when absent), read as root. */
const xattr = (path: string, name: string): string => {
  try {
    return execFileSync('getfattr', ['--only-values', '-n', name, '--', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
};

/** The checks of a device image unpacked in the user's store (images dir, layers top first). */
function checkUnpacked(images: string, layers: Layer[]): void {
  expect(layers).toHaveLength(2);
  for (const l of layers) expect(l.overlay).toBe('user');
  const [top, bottom] = layers.map((l) => join(images, l.id, 'root'));
  // every file the user's, no device but the whiteouts
  expect(sh(`find ${top} ${bottom} ! -user ${user.uid} -o ! -group ${user.gid}`)).toBe('');
  expect(sh(`find ${top} ${bottom} -type b`)).toBe('');
  expect(sh(`find ${bottom} -type c`)).toBe('');
  expect(sh(`stat -c '%F %t:%T' ${top}/etc/gone`).trim()).toBe('character special file 0:0');
  expect(xattr(`${top}/data`, 'user.overlay.opaque')).toBe('y');
  expect(xattr(`${top}/data`, 'trusted.overlay.opaque')).toBe('');
  // the layer's own user.* xattrs come in; overlayfs's never do
  expect(xattr(`${top}/hostile`, 'user.mine')).toBe('1');
  expect(xattr(`${top}/hostile`, 'user.overlay.opaque')).toBe('');
  expect(xattr(`${top}/hostile`, 'user.fuseoverlayfs.opaque')).toBe('');
  expect(sh(`cat ${bottom}/keep ${top}/data/new`)).toBe('keep\nnew\n');
}

/** One warning line for the layer with device nodes, and no other line. */
function oneDeviceWarning(stderr: string): void {
  const lines = stderr.trim().split('\n').filter(Boolean);
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^marten: layer sha256:[0-9a-f]{12}: 2 device nodes skipped \(a user cannot make them\): \/dev\/(loop7|null), \/dev\/(loop7|null)$/);
}

/** One `marten: ...` line on stderr, and a failure status. */
const refusedCleanly = (r: { exitCode: number; stderr: string }, re: RegExp): void => {
  expect(r.exitCode, r.stderr).not.toBe(0);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^marten: /);
  expect(lines[0]).toMatch(re);
};

describe('a user\'s store', () => {
  it('is ~/.local/share/mincs (0700, the user\'s), or $XDG_DATA_HOME/mincs; root\'s store is not touched', async () => {
    const rootStore = existsSync('/var/lib/mincs') ? statSync('/var/lib/mincs').mtimeMs : null;
    const r = await user.marten(['images']);
    expect(r.exitCode, r.stderr).toBe(0);
    const store = join(user.home, '.local/share/mincs');
    expect(existsSync(store)).toBe(false); // listing makes nothing
    expect((await user.run('sh', ['-c', 'mkdir -p r/etc && echo x > r/etc/x'])).exitCode).toBe(0);
    const imp = await user.marten(['import', join(user.home, 'r'), '--name', 'mine']);
    expect(imp.exitCode, imp.stderr).toBe(0);
    expect((await user.marten(['images'])).stdout).toMatch(/mine/);
    const st = statSync(store);
    expect(st.uid).toBe(user.uid);
    expect(st.mode & 0o777).toBe(0o700);
    const xdg = mkdtempSync(join(work, 'xdg-'));
    execFileSync('chown', [`${user.uid}:${user.gid}`, xdg]);
    expect((await user.marten(['import', join(user.home, 'r'), '--name', 'other'], { extraEnv: { XDG_DATA_HOME: xdg } })).exitCode).toBe(0);
    expect(statSync(join(xdg, 'mincs')).uid).toBe(user.uid);
    expect((await user.marten(['images'], { extraEnv: { XDG_DATA_HOME: xdg } })).stdout).not.toMatch(/mine/);
    expect(existsSync('/var/lib/mincs') ? statSync('/var/lib/mincs').mtimeMs : null).toBe(rootStore);
  });

  it('refuses another user\'s store (root\'s) named by MINCS_DIR with one line, reading and writing alike', async () => {
    // a store as root keeps it: root-owned, 0700, with an image in it
    const rootStore = mkdtempSync(join(work, 'root-store-'));
    execFileSync('chmod', ['700', rootStore]);
    const env = { MINCS_DIR: rootStore };
    refusedCleanly(await user.marten(['images'], { extraEnv: env }), /belongs to uid 0, not to you/);
    refusedCleanly(await user.marten(['lc'], { extraEnv: env }), /belongs to uid 0/);
    refusedCleanly(await user.marten(['prune'], { extraEnv: env }), /belongs to uid 0/);
    // even one open to others is not the user's to change
    execFileSync('chmod', ['755', rootStore]);
    refusedCleanly(await user.marten(['import', user.home, '--name', 'x'], { extraEnv: env }), /belongs to uid 0/);
    expect(execFileSync('ls', ['-A', rootStore], { encoding: 'utf8' })).toBe('');
  });
});

describe('a user\'s imports and pulls', () => {
  let fx: Fixture;
  beforeAll(() => {
    fx = deviceImage();
  });

  it('imports a docker-save tarball: files the user\'s, device nodes skipped with one line, whiteouts 0/0, opaque dirs user.overlay.opaque', async () => {
    const tarball = shared('save.tar');
    dockerSaveTar(fx, tarball, 'dev/image:1');
    const r = await user.marten(['import', tarball, '--name', 'devsave']);
    expect(r.exitCode, r.stderr).toBe(0);
    oneDeviceWarning(r.stderr);
    const { dir, layers } = await layersOf('devsave');
    checkUnpacked(dir, layers);
  });

  it('imports an OCI layout directory and a rootfs tarball alike', async () => {
    const layoutTar = shared('layout.tar');
    ociLayoutTar(fx, layoutTar, { gzip: [true, false] });
    const layout = shared('layout');
    sh(`mkdir ${layout} && tar -C ${layout} -xf ${layoutTar} && chmod -R a+rX ${layout}`);
    // another store, so the layers are unpacked again
    const env = { XDG_DATA_HOME: join(user.home, 'other') };
    const r = await user.marten(['import', layout, '--name', 'devlayout'], { extraEnv: env });
    expect(r.exitCode, r.stderr).toBe(0);
    oneDeviceWarning(r.stderr);
    const { dir, layers } = await layersOf('devlayout', env);
    checkUnpacked(dir, layers);

    const rootfs = shared('rootfs.tar');
    writeFileSync(rootfs, fx.layers[0]!);
    const f = await user.marten(['import', rootfs, '--name', 'devroot'], { extraEnv: env });
    expect(f.exitCode, f.stderr).toBe(0);
    oneDeviceWarning(f.stderr);
    const one = await layersOf('devroot', env);
    expect(one.layers).toHaveLength(1);
    expect(one.layers[0]!.overlay).toBe('user');
    expect(sh(`find ${one.dir}/${one.layers[0]!.id}/root ! -user ${user.uid}`)).toBe('');
  });

  it('pulls from a registry and unpacks as the user', async () => {
    const layoutTar = shared('pull.tar');
    ociLayoutTar(fx, layoutTar, { gzip: [true, true] });
    const layout = shared('pull-layout');
    sh(`mkdir ${layout} && tar -C ${layout} -xf ${layoutTar}`);
    execFileSync('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}`, `docker://${reg.host}/dev/pulled:1`], { stdio: 'ignore' });
    const env = { XDG_DATA_HOME: join(user.home, 'pulls') };
    const p = await user.marten(['pull', `${reg.host}/dev/pulled:1`], { extraEnv: env });
    expect(p.exitCode, p.stderr).toBe(0);
    const u = await user.marten(['unpack', `${reg.host}/dev/pulled:1`], { extraEnv: env });
    expect(u.exitCode, u.stderr).toBe(0);
    oneDeviceWarning(u.stderr);
    const { dir, layers } = await layersOf(`${reg.host}/dev/pulled:1`, env);
    checkUnpacked(dir, layers);
    // the record of the form survives a later pack (push packs no pulled layer again: its blob is kept)
    for (const l of layers) expect(l.diffId).toMatch(/^sha256:/);
  });

  it('exports a user\'s image with root as the owner and the whiteouts back in OCI form', async () => {
    const out = join(user.home, 'export.tar');
    const r = await user.marten(['export', 'devsave', '-o', out]);
    expect(r.exitCode, r.stderr).toBe(0);
    const x = mkdtempSync(join(work, 'exp-'));
    sh(`tar -C ${x} -xf ${out}`);
    const index = JSON.parse(execFileSync('cat', [join(x, 'manifest.json')], { encoding: 'utf8' })) as { Layers: string[] }[];
    const listing = index[0]!.Layers.map((l) => execFileSync('tar', ['--numeric-owner', '-tvf', join(x, l)], { encoding: 'utf8' })).join('');
    expect(listing).toMatch(/ 0\/0 .* \.?\/?etc\/\.wh\.gone/);
    expect(listing).toMatch(/data\/\.wh\.\.wh\.\.opq/);
    expect(listing).not.toMatch(new RegExp(` ${user.uid}/`));
    expect(listing).not.toMatch(/hostile\/\.wh\.\.wh\.\.opq/);
  });
});

describe('removing what the user\'s subordinate ids own', () => {
  /** A dir below path owned by the user's first subordinate id, 0700, with a file in it: the user alone cannot remove it. */
  const plant = (path: string): void => {
    const sub = user.subuid!;
    sh(`mkdir -p ${path} && chown ${user.uid}:${user.gid} ${path} && mkdir ${path}/own && echo x > ${path}/own/x && chown -R ${sub}:${user.subgid!} ${path}/own && chmod 700 ${path}/own`);
  };

  it('rm, rmi and prune remove them (in a user namespace with the user\'s map)', async () => {
    expect(user.subuid, 'useradd gave the user no subordinate ids').toBeTypeOf('number');
    const env = { XDG_DATA_HOME: join(user.home, 'rm') };
    const store = join(user.home, 'rm/mincs');
    expect((await user.run('sh', ['-c', 'mkdir -p rmbase/etc && echo x > rmbase/etc/x'])).exitCode).toBe(0);
    const imp = await user.marten(['import', join(user.home, 'rmbase'), '--name', 'base'], { extraEnv: env });
    expect(imp.exitCode, imp.stderr).toBe(0);
    const { layers } = await layersOf('base', env);
    const base = layers[0]!.id;
    // a container as a rootless run leaves one: a chown inside put its files on a subordinate id
    const cid = 'c'.repeat(64);
    sh(`mkdir -p ${store}/containers/${cid}/storage ${store}/containers/${cid}/work && echo ${base} > ${store}/containers/${cid}/baseid && chown -R ${user.uid}:${user.gid} ${store}/containers/${cid}`);
    plant(`${store}/containers/${cid}/storage`);
    // and its work dir keeps such a dir too (prune empties it), and a dead run's staging dir
    plant(`${store}/containers/${cid}/work/w`);
    sh(`mkdir -p ${store}/tmp/999999999-dead && chown ${user.uid}:${user.gid} ${store}/tmp/999999999-dead`);
    plant(`${store}/tmp/999999999-dead`);
    // a user cannot remove them as itself
    expect((await user.run('rm', ['-rf', `${store}/tmp/999999999-dead`])).exitCode).not.toBe(0);

    const p = await user.marten(['prune'], { extraEnv: env });
    expect(p.exitCode, p.stderr).toBe(0);
    expect(existsSync(`${store}/tmp/999999999-dead`)).toBe(false);
    expect(sh(`ls -A ${store}/containers/${cid}/work`)).toBe('');

    const rm = await user.marten(['rm', cid.slice(0, 12)], { extraEnv: env });
    expect(rm.exitCode, rm.stderr).toBe(0);
    expect(existsSync(`${store}/containers/${cid}`)).toBe(false);

    plant(`${store}/images/${base}/root/etc`);
    const rmi = await user.marten(['rmi', 'base'], { extraEnv: env });
    expect(rmi.exitCode, rmi.stderr).toBe(0);
    expect(sh(`ls -A ${store}/images ${store}/tmp`)).toMatch(/^[^\n]*images:\n\n[^\n]*tmp:\n$/);
  });
});

describe('a user\'s container, of a rootless minc -r IMAGE run', () => {
  const env = (): Record<string, string> => ({ XDG_DATA_HOME: join(user.home, 'runs') });
  let base: string;

  beforeAll(async () => {
    const fs = makeBusyboxRootfs(work);
    sh(`cd ${fs.dir}; mkdir data; echo old > data/old; echo keep > keep; chmod 755 .; chown -R ${user.uid}:${user.gid} .`);
    const r = await user.marten(['import', fs.dir, '--name', 'bbx'], { extraEnv: env() });
    expect(r.exitCode, r.stderr).toBe(0);
    base = (await layersOf('bbx', env())).layers[0]!.id;
  });

  it('diff, commit, run, export, push and rm: the new image shows what the run wrote, chowns inside and all', async () => {
    const run = await user.minc(['-r', 'bbx', '--name', 'c5', '-k', 'sh', '-c',
      'echo hi > /f; rm -r /data; mkdir /data; echo n > /data/n; rm /keep; chown 33:33 /f; chmod 600 /f; mkdir /own; echo x > /own/x; chown -R 44:44 /own; chmod 700 /own'], { extraEnv: env() });
    expect(run.exitCode, run.stderr).toBe(0);
    const store = join(user.home, 'runs/mincs');
    const cdir = sh(`ls -d ${store}/containers/*`).trim();
    // the run's chowns put files on the user's subordinate ids, /own closed to the user
    expect(statSync(join(cdir, 'storage/f')).uid).toBe(user.subuid! + 32);
    expect(statSync(join(cdir, 'storage/own')).uid).toBe(user.subuid! + 43);

    const diff = await user.marten(['diff', 'c5'], { extraEnv: env() });
    expect(diff.exitCode, diff.stderr).toBe(0);
    expect(diff.stdout.trim().split('\n')).toEqual(['C /data', 'A /data/n', 'D /data/old', 'A /f', 'D /keep', 'A /own', 'A /own/x']);

    const commit = await user.marten(['commit', 'c5', '--name', 'c5img'], { extraEnv: env() });
    expect(commit.exitCode, commit.stderr).toBe(0);
    const { dir: images, layers } = await layersOf('c5img', env());
    expect(layers).toHaveLength(2);
    expect(layers[0]!.overlay).toBe('user');
    const top = join(images, layers[0]!.id, 'root');
    expect(sh(`find ${top} ! -user ${user.uid}`)).toBe('');
    expect(xattr(`${top}/data`, 'user.overlay.opaque')).toBe('y');
    expect(sh(`stat -c '%F %t:%T' ${top}/keep`).trim()).toBe('character special file 0:0');

    const shown = await user.minc(['-r', 'c5img', '--rm', 'sh', '-c', 'cat /f /data/n /own/x; ls /data; test -e /keep || echo no keep'], { extraEnv: env() });
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toBe('hi\nn\nx\nn\nno keep');

    const out = join(user.home, 'c5.tar');
    const ex = await user.marten(['export', 'c5img', '-o', out], { extraEnv: env() });
    expect(ex.exitCode, ex.stderr).toBe(0);
    const x = mkdtempSync(join(work, 'c5-'));
    sh(`tar -C ${x} -xf ${out}`);
    const manifest = JSON.parse(sh(`cat ${x}/manifest.json`)) as { Layers: string[] }[];
    const listing = execFileSync('tar', ['--numeric-owner', '-tvf', join(x, manifest[0]!.Layers.at(-1)!)], { encoding: 'utf8' });
    expect(listing).toMatch(/ 0\/0 +0 .* \.?\/?\.wh\.keep\n/);
    expect(listing).toMatch(/data\/\.wh\.\.wh\.\.opq\n/);
    expect(listing).toMatch(/own\/x\n/);
    expect(listing).not.toMatch(new RegExp(` ${user.uid}/`));

    const push = await user.marten(['push', 'c5img', `${reg.host}/rootless/c5:1`], { extraEnv: env() });
    expect(push.exitCode, push.stderr).toBe(0);
    const info = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/rootless/c5:1`], { encoding: 'utf8' })) as { Layers: string[] };
    expect(info.Layers).toHaveLength(2);

    const rm = await user.marten(['rm', 'c5'], { extraEnv: env() });
    expect(rm.exitCode, rm.stderr).toBe(0);
    expect(existsSync(cdir)).toBe(false);
  });

  it('commits an upper fuse-overlayfs wrote in a user namespace: its opaque marks and marker entries become one opaque dir', async () => {
    const store = join(user.home, 'runs/mincs');
    const cid = 'f'.repeat(64);
    const c = join(store, 'containers', cid);
    const lower = join(store, 'images', base, 'root');
    const made = await user.run('sh', ['-ec', `mkdir -p ${c}/storage ${c}/work ${c}/m; echo ${base} > ${c}/baseid
      unshare --user --map-root-user --map-auto --mount sh -ec 'fuse-overlayfs -o lowerdir=${lower},upperdir=${c}/storage,workdir=${c}/work ${c}/m
        rm -r ${c}/m/data; mkdir ${c}/m/data; echo n > ${c}/m/data/n; rm ${c}/m/keep; fusermount3 -u ${c}/m'
      rmdir ${c}/m`]);
    expect(made.exitCode, made.stderr).toBe(0);
    // what fuse-overlayfs wrote (the shape upperforms.test.ts reads)
    expect(xattr(`${c}/storage/data`, 'user.fuseoverlayfs.opaque')).toBe('y');
    expect(sh(`ls -A ${c}/storage/data`).split('\n')).toEqual(expect.arrayContaining(['.wh..wh..opq']));

    const commit = await user.marten(['commit', cid.slice(0, 12), '--name', 'fuseimg'], { extraEnv: env() });
    expect(commit.exitCode, commit.stderr).toBe(0);
    const { dir: images, layers } = await layersOf('fuseimg', env());
    const top = join(images, layers[0]!.id, 'root');
    expect(sh(`ls -A ${top}/data`)).toBe('n\n');
    expect(xattr(`${top}/data`, 'user.overlay.opaque')).toBe('y');
    expect(xattr(`${top}/data`, 'user.fuseoverlayfs.opaque')).toBe('');
    const shown = await user.minc(['-r', 'fuseimg', '--rm', 'sh', '-c', 'ls -A /data; test -e /keep || echo no keep'], { extraEnv: env() });
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toBe('n\nno keep');
  });
});

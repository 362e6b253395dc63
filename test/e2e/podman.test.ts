/**
 * podman beside marten (issue 10): marten export -> podman load -> podman
 * run; podman save (docker-archive, oci-archive, oci-dir) -> marten import;
 * a podman build image with a whiteout, pushed to a loopback registry and
 * pulled by marten.  podman runs with a private root and runroot under the
 * test's dir, so nothing of it stays behind.
 *
 * How podman is run here, and why: `--runtime runc` (crun refuses this
 * host's hybrid cgroups: "cgroups in hybrid mode not supported");
 * `--cgroup-manager cgroupfs` (no systemd); `--storage-driver vfs`; no
 * network (`--network none`); and a containers.conf with
 * `default_ulimits = []`: podman raises RLIMIT_NOFILE/NPROC for root's
 * containers, which needs CAP_SYS_RESOURCE, and this sandbox lacks it.
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastLine, makeStore, type Run, type TestStore } from '../helpers/marten.js';
import { makeBusyboxRootfs } from '../helpers/rootfs.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

let work: string;
let reg: Registry;
let rootfs: { dir: string; remove: () => void };
let store: TestStore;

const ok = (r: Run): Run => {
  expect(r.exitCode, r.stderr).toBe(0);
  return r;
};

async function podman(args: readonly string[]): Promise<Run> {
  const r = await execa('podman', [
    '--root', join(work, 'podman/root'), '--runroot', join(work, 'podman/run'), '--storage-driver', 'vfs',
    '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', '--runtime', 'runc', ...args,
  ], { reject: false, stdin: 'ignore', timeout: 180_000, env: { ...process.env, CONTAINERS_CONF: join(work, 'containers.conf'), TMPDIR: join(work, 'tmp') } });
  return { exitCode: r.exitCode ?? 128, stdout: String(r.stdout), stderr: String(r.stderr) };
}

beforeAll(async () => {
  work = mkdtempSync('/tmp/marten-test-podman-');
  mkdirSync(join(work, 'tmp'));
  writeFileSync(join(work, 'containers.conf'), '[containers]\ndefault_ulimits = []\n');
  reg = await startRegistry();
  rootfs = makeBusyboxRootfs();
  writeFileSync(join(rootfs.dir, 'WHO'), 'marten\n');
  writeFileSync(join(rootfs.dir, 'etc/gone'), 'to be deleted\n');
  store = makeStore();
  ok(await store.marten(['import', rootfs.dir, '--name', 'bbx']));
});

afterAll(async () => {
  await podman(['system', 'reset', '--force']).catch(() => undefined);
  await reg?.stop();
  store?.remove();
  rootfs?.remove();
  rmSync(work, { recursive: true, force: true });
});

describe('podman and marten', () => {
  it('marten export -> podman load -> podman run', async () => {
    const tar = join(work, 'bbx.tar');
    ok(await store.marten(['export', 'bbx', '-o', tar]));
    const load = ok(await podman(['load', '-i', tar]));
    expect(load.stdout).toMatch(/Loaded image.*bbx/);
    const run = ok(await podman(['run', '--rm', '--network', 'none', 'bbx', '/bin/sh', '-c', 'cat /WHO; test -e /etc/gone && echo has-gone']));
    expect(run.stdout).toBe('marten\nhas-gone');
  });

  it.each(['docker-archive', 'oci-archive', 'oci-dir'])('podman save --format %s -> marten import -> minc -r', async (format) => {
    const out = join(work, `saved-${format}`);
    ok(await podman(['save', '--format', format, '-o', out, 'bbx']));
    const s = makeStore();
    try {
      const id = lastLine(ok(await s.marten(['import', out, '--name', `from-${format}`])).stdout);
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      const r = ok(await s.minc(['--rm', '-r', `from-${format}`, 'sh', '-c', 'cat /WHO; ls /blobs 2>/dev/null | wc -l']));
      expect(r.stdout).toBe('marten\n0');
    } finally {
      s.remove();
    }
  });

  it('a podman build image with a whiteout, pushed to the registry, pulled by marten: the deleted file stays deleted', async () => {
    const ctx = join(work, 'ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Containerfile'), 'FROM localhost/bbx:latest\nRUN rm /etc/gone && echo built > /BUILT\n');
    ok(await podman(['build', '--network', 'none', '-t', 'built', '-f', join(ctx, 'Containerfile'), ctx]));
    ok(await podman(['push', '--tls-verify=false', 'built', `docker://${reg.host}/pod/built:1`]));
    const s = makeStore();
    try {
      ok(await s.marten(['pull', `${reg.host}/pod/built:1`]));
      const r = ok(await s.minc(['--rm', '-r', 'built:1', 'sh', '-c', 'cat /WHO /BUILT; test -e /etc/gone && echo gone-present; echo end']));
      expect(r.stdout).toBe('marten\nbuilt\nend');
      // the whiteout is an overlayfs one in the pulled layer (a 0/0 character device)
      const layers = readdirSync(join(s.dir, 'images')).map((l) => join(s.dir, 'images', l, 'root', 'etc', 'gone')).filter((p) => existsSync(p));
      expect(layers.length).toBeGreaterThan(0);
    } finally {
      s.remove();
    }
  });
});

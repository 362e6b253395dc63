/**
 * Issue 8, the store's side: hostile archives, layers and containers against
 * marten's store, import, commit and export (as root, real tools).  Every
 * fixture is built here (tar-stream); canaries live under dirs made here.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MARTEN, lastLine } from '../helpers/marten.js';
import { sha } from '../helpers/images.js';
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

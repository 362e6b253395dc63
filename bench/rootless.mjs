// npm run bench: minc without root (issue 11).  As a user this bench makes
// (useradd, with subordinate ids), interleaved, medians:
//   root `minc true`, rootless `minc true` (fuse-overlayfs over the host's /),
//   rootless `minc -r DIR true` (a rootfs of the user's own: kernel overlayfs, userxattr; the same
//   rootfs owned by root: fuse-overlayfs), and `cat` of 1,000 small files under each,
//   bubblewrap `bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true` (no copy-on-write view),
//   podman `run --rm --rootfs /:O true` as the same user (with fuse-overlayfs as its mount_program:
//   kernel overlayfs refuses `/` as a lower in a user namespace).
// Target: rootless `minc true` within 1.2x of root `minc true`.
// BENCH_ROUNDS (default 31) and BENCH_WARMUP (default 2) change the counts.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 31);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
if (process.getuid?.() !== 0) {
  console.error('bench: this bench makes a user to run minc as (try: sudo npm run bench)');
  process.exit(2);
}
const name = `mincsb${process.pid.toString(36)}`;
execFileSync('useradd', ['-m', '-s', '/bin/sh', name]);
const [uid, gid] = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`)).split(':').slice(2, 4).map(Number);
const runtime = `/run/user/${uid}`;
mkdirSync(runtime, { recursive: true, mode: 0o700 });
// a tmpfs, as pam_systemd mounts it at login (this machine's /run is on a disk)
execFileSync('mount', ['-t', 'tmpfs', '-o', `mode=700,uid=${uid},gid=${gid},size=64m`, 'bench-runtime', runtime]);
// /dev/fuse and /dev/net/tun as udev makes them (0666; a machine without udev has them 0600), as the tests' setup does
for (const dev of ['/dev/fuse', '/dev/net/tun']) if (existsSync(dev) && (statSync(dev).mode & 0o666) !== 0o666) chmodSync(dev, 0o666);
chownSync(runtime, uid, gid);
const rootfs = mkdtempSync('/var/tmp/minc-bench-rlfs-');
for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp']) mkdirSync(`${rootfs}/${d}`);
cpSync('/bin/busybox', `${rootfs}/bin/busybox`);
for (const a of ['sh', 'true', 'cat']) symlinkSync('busybox', `${rootfs}/bin/${a}`);
// many small files: a walk of them shows what fuse-overlayfs costs against kernel overlayfs
mkdirSync(`${rootfs}/files`);
for (let i = 0; i < 1000; i++) writeFileSync(`${rootfs}/files/f${i}`, `${i}\n`);
// the same root owned by root: a user's run takes it by fuse-overlayfs
const rootOwned = mkdtempSync('/var/tmp/minc-bench-rlfs-root-');
execFileSync('cp', ['-a', `${rootfs}/.`, rootOwned]);
chmodSync(rootOwned, 0o755);
execFileSync('chown', ['-R', `${uid}:${gid}`, rootfs]);
chmodSync(rootfs, 0o755);

// podman's rootless storage: fuse-overlayfs for --rootfs /:O (kernel overlayfs refuses / as a lower in a user
// namespace: "invalid argument"), runc (crun refuses this machine's hybrid cgroups)
mkdirSync(`/home/${name}/.config/containers`, { recursive: true });
writeFileSync(`/home/${name}/.config/containers/storage.conf`, '[storage]\ndriver = "overlay"\n[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"\n');
execFileSync('chown', ['-R', `${uid}:${gid}`, `/home/${name}/.config`]);
const userEnv = ['--reuid', String(uid), '--regid', String(gid), '--init-groups', '--reset-env', '--', 'env', `HOME=/home/${name}`, `XDG_RUNTIME_DIR=${runtime}`, 'PATH=/usr/local/bin:/usr/bin:/bin'];
const rootEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_EXTRA_CA_CERTS' && !k.startsWith('MINC_')));
// the clock runs inside the user's own shell: setpriv's own start is not counted
const timed = (cmd) => `s=$(date +%s%N); ${cmd} >/dev/null 2>&1; r=$?; e=$(date +%s%N); echo $(( (e - s) / 1000 )) $r`;
const cases = {
  'root minc true': ['sh', ['-c', timed(`${ROOT}bin/minc true`)], rootEnv],
  'rootless minc true': ['setpriv', [...userEnv, 'sh', '-c', timed(`${ROOT}bin/minc true`)]],
  'rootless minc -r DIR true': ['setpriv', [...userEnv, 'sh', '-c', timed(`${ROOT}bin/minc -r ${rootfs} true`)]],
  'rootless minc -r DIR true, fuse': ['setpriv', [...userEnv, 'sh', '-c', timed(`${ROOT}bin/minc -r ${rootOwned} true`)]],
  'cat 1000 files, kernel overlay': ['setpriv', [...userEnv, 'sh', '-c', timed(`${ROOT}bin/minc -r ${rootfs} sh -c 'cat /files/*'`)]],
  'cat 1000 files, fuse-overlayfs': ['setpriv', [...userEnv, 'sh', '-c', timed(`${ROOT}bin/minc -r ${rootOwned} sh -c 'cat /files/*'`)]],
  'bwrap (no overlay)': ['setpriv', [...userEnv, 'sh', '-c', timed('bwrap --unshare-all --ro-bind / / --proc /proc --dev /dev true')]],
  'podman --rootfs /:O (fuse)': ['setpriv', [...userEnv, 'sh', '-c', timed('podman --runtime runc run --rm --network none --rootfs /:O true')]],
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const failed = new Set();
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
try {
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    // (the order reversed every other round, as bench/run.mjs does: no case always runs right after podman's)
    for (const [label, [file, args, env]] of i % 2 ? Object.entries(cases).reverse() : Object.entries(cases)) {
      if (failed.has(label)) continue;
      const r = spawnSync(file, args, { encoding: 'utf8', cwd: '/', ...(env ? { env } : {}) });
      const [us, status] = (r.stdout ?? '').trim().split(' ').map(Number);
      if (r.status !== 0 || status !== 0) {
        failed.add(label);
        continue;
      }
      if (i >= WARMUP) times[label].push(us / 1000);
    }
  }
} finally {
  spawnSync('pkill', ['-KILL', '-u', String(uid)]);
  spawnSync('userdel', ['-r', '-f', name]);
  for (const f of ['/etc/subuid', '/etc/subgid']) spawnSync('sed', ['-i', `/^${name}:/d`, f]);
  spawnSync('umount', [runtime]);
  rmSync(runtime, { recursive: true, force: true });
  rmSync(rootfs, { recursive: true, force: true });
  rmSync(rootOwned, { recursive: true, force: true });
}
console.log(`\nminc without root (${ROUNDS} interleaved rounds, medians)`);
for (const [label, xs] of Object.entries(times)) {
  console.log(`  ${label.padEnd(34)} ${failed.has(label) ? 'fails here' : `${median(xs).toFixed(1)} ms`}`);
}
// the ratio of each round's two runs (next to each other in every round's order): the machine's own drift over
// the bench (its root figure moved 25% between runs here) moves both alike; the ratio of the medians is shown too
const [rl, rt] = [times['rootless minc true'], times['root minc true']];
const ratio = rl.length === rt.length ? median(rl.map((x, j) => x / rt[j])) : NaN;
const ofMedians = median(rl) / median(rt);
console.log(`  rootless / root minc true        ${ratio.toFixed(2)}x, the median of each round's ratio (of the medians: ${ofMedians.toFixed(2)}x)  (target <= 1.2x: ${ratio <= 1.2 ? 'met' : 'NOT met'})`);
console.log("  (podman's rootless --rootfs /:O runs only with fuse-overlayfs as its mount_program: kernel overlayfs refuses / as a lower in a user namespace)");

// node bench/rootless-net.mjs: the network of a rootless run (issue 11), as
// an ordinary user this bench makes (useradd, with subordinate ids; removed
// at the end), side by side with podman's rootless run of the same command:
//
//   minc true                              rootless, no network (for scale)
//   minc --net dens true                   rootless, pasta (the default)
//   MINC_USERNET=slirp4netns minc --net dens true
//   podman run --rm --network slirp4netns --rootfs /:O true
//   podman run --rm --network pasta --rootfs /:O true   (where podman has pasta)
//
// Target: rootless `minc --net dens true` faster than podman's rootless
// --rootfs run.  podman here is given what it needs to run at all as a
// user: fuse-overlayfs as its overlay mount program (kernel overlayfs cannot
// take lowerdir=/ in a user namespace: "invalid argument"), and runc (crun
// refuses hybrid cgroup hosts).  Rounds interleave the commands; medians.
// Build first (npm run build).  BENCH_ROUNDS (default 15), BENCH_WARMUP (2).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MINC = `${ROOT}bin/minc`;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);

if (process.getuid?.() !== 0) {
  console.error('bench: this bench makes a user to run as (try: sudo node bench/rootless-net.mjs)');
  process.exit(2);
}

const name = `mincbench${process.pid}`;
execFileSync('useradd', ['-m', '-s', '/bin/sh', name]);
const pw = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`)).split(':');
const uid = Number(pw[2]);
const gid = Number(pw[3]);
const home = `/home/${name}`;
const runtime = `/run/user/${uid}`;

function cleanup() {
  spawnSync('pkill', ['-KILL', '-u', String(uid)]); // (only the bench's own user's processes: podman's pause process)
  spawnSync('userdel', ['-r', '-f', name], { stdio: 'ignore' });
  spawnSync('umount', [runtime], { stdio: 'ignore' });
  rmSync(runtime, { recursive: true, force: true });
  for (const f of ['/etc/subuid', '/etc/subgid']) spawnSync('sed', ['-i', `/^${name}:/d`, f]);
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

mkdirSync(runtime, { recursive: true, mode: 0o700 });
// a tmpfs, as pam_systemd mounts it at login (this machine's /run is on a disk)
execFileSync('mount', ['-t', 'tmpfs', '-o', `mode=700,uid=${uid},gid=${gid},size=64m`, 'bench-runtime', runtime]);
// /dev/fuse and /dev/net/tun as udev makes them (0666; a machine without udev has them 0600), as the tests' setup does
for (const dev of ['/dev/fuse', '/dev/net/tun']) if (existsSync(dev) && (statSync(dev).mode & 0o666) !== 0o666) chmodSync(dev, 0o666);
chownSync(runtime, uid, gid);
chmodSync(runtime, 0o700);
// podman's rootless storage: fuse-overlayfs for --rootfs /:O (see above)
mkdirSync(`${home}/.config/containers`, { recursive: true });
writeFileSync(`${home}/.config/containers/storage.conf`, '[storage]\ndriver = "overlay"\n[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"\n');
execFileSync('chown', ['-R', `${uid}:${gid}`, `${home}/.config`]);

// no NODE_EXTRA_CA_CERTS (it adds ~140 ms to every node start) nor MINC_*: the user's own environment
const userEnv = { HOME: home, USER: name, LOGNAME: name, XDG_RUNTIME_DIR: runtime, PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', LANG: 'C.UTF-8' };
const asUser = (env, argv) => ['setpriv', '--reuid', String(uid), '--regid', String(gid), '--init-groups', '--reset-env', '--', 'env',
  ...Object.entries({ ...userEnv, ...env }).map(([k, v]) => `${k}=${v}`), ...argv];

function run(argv, { check = true } = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], cwd: '/' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (check && (r.error || r.status !== 0)) throw new Error(`'${argv.join(' ')}' failed (status ${r.status}): ${r.error?.message ?? String(r.stderr).trim()}`);
  return { ms, status: r.status, stderr: String(r.stderr ?? '').trim() };
}

const podman = (network) => asUser({}, ['podman', '--runtime', 'runc', 'run', '--rm', '--network', network, '--rootfs', '/:O', 'true']);
const cases = [
  ['rootless minc true', asUser({}, [MINC, 'true'])],
  ['rootless minc --net dens true (pasta)', asUser({}, [MINC, '--net', 'dens', 'true'])],
  ['rootless minc --net dens true (slirp4netns)', asUser({ MINC_USERNET: 'slirp4netns' }, [MINC, '--net', 'dens', 'true'])],
  ['podman run --rm --network slirp4netns --rootfs /:O true', podman('slirp4netns')],
];
const notes = [];
// podman's pasta network: only where this podman has it (4.4 and later)
const probe = run(podman('pasta'), { check: false });
if (probe.status === 0) cases.push(['podman run --rm --network pasta --rootfs /:O true', podman('pasta')]);
else notes.push(`podman run --network pasta: not run here: ${probe.stderr.split('\n').filter((l) => !/level=warning/.test(l)).join(' ')} (podman ${execFileSync('podman', ['--version'], { encoding: 'utf8' }).trim().split(' ').at(-1)}; pasta came with podman 4.4)`);

const times = cases.map(() => []);
try {
  for (let i = 0; i < WARMUP + ROUNDS; i++) {
    // (the order reversed every other round: no case always runs right after another's)
    const order = cases.map((_, c) => c);
    for (const c of i % 2 ? order.reverse() : order) {
      const { ms } = run(cases[c][1]);
      if (i >= WARMUP) times[c].push(ms);
    }
  }
} catch (err) {
  console.error(`bench: ${err.message}`);
  process.exit(1);
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
};
const fmt = (ms) => `${ms.toFixed(0).padStart(5)} ms`;
console.log(`rootless network (issue 11), ${ROUNDS} rounds, medians, as user ${name}`);
cases.forEach(([label], c) => console.log(`  ${fmt(median(times[c]))}  ${label}`));
for (const n of notes) console.log(`  (${n})`);
const dens = median(times[1]);
const pod = median(times[3]);
console.log(`target: rootless minc --net dens true faster than podman's rootless --rootfs run: ${dens.toFixed(0)} ms vs ${pod.toFixed(0)} ms (${(pod / dens).toFixed(2)}x) ${dens < pod ? 'ok' : 'MISSED'}`);

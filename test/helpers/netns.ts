/**
 * A network namespace of the test's own for the network tests: minc runs in
 * it (`ip netns exec NS bin/minc ...`, or nsenter when the test needs the
 * host's mount namespace, e.g. /sys/fs/cgroup), so its bridge, veths and
 * iptables rules never touch the host's.
 */
import { execa, type Options } from 'execa';
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { track, type Outcome, type Running } from './e2e.js';
import { MINC } from './minc.js';

let n = 0;

export class TestNetns {
  private constructor(readonly name: string, readonly ino: string) {}

  static create(): TestNetns {
    const name = `mtest${process.pid}n${++n}`;
    execFileSync('ip', ['netns', 'add', name]);
    const ino = execFileSync('ip', ['netns', 'exec', name, 'stat', '-L', '-c', '%i', '/proc/self/ns/net'], { encoding: 'utf8' }).trim();
    return new TestNetns(name, ino);
  }

  /** Run argv inside (never rejects). */
  run(argv: readonly string[], opts: Options = {}): Running {
    return execa('ip', ['netns', 'exec', this.name, ...argv], { reject: false, stdin: 'ignore', timeout: 60_000, encoding: 'utf8', ...opts }) as unknown as Running;
  }

  /** Start bin/minc inside (ip netns exec execs it: the pid is minc's). */
  minc(args: readonly string[], opts: Options = {}): Running {
    const p = this.run([MINC, ...args], opts);
    track(p.pid);
    return p;
  }

  /** Run bin/minc inside to the end; the result carries minc's pid. */
  async mincDone(args: readonly string[], opts: Options = {}): Promise<Outcome & { pid?: number }> {
    const p = this.minc(args, opts);
    return { ...(await p), pid: p.pid };
  }

  /** Start bin/minc inside with nsenter: the host's mount namespace (cgroupfs, /run/netns) stays. */
  mincNsenter(args: readonly string[], opts: Options = {}): Running {
    const p = execa('nsenter', [`--net=/run/netns/${this.name}`, '--', MINC, ...args], { reject: false, stdin: 'ignore', timeout: 60_000, encoding: 'utf8', ...opts }) as unknown as Running;
    track(p.pid);
    return p;
  }

  sh(script: string): string {
    return execFileSync('ip', ['netns', 'exec', this.name, 'sh', '-c', script], { encoding: 'utf8' });
  }

  /** Interface names in the namespace. */
  links(): string[] {
    return this.sh('ip -o link show').split('\n').filter(Boolean).map((l) => l.split(':')[1]!.trim().split('@')[0]!);
  }

  /** iptables rules (iptables-save lines) that mention minc. */
  mincRules(): string[] {
    return this.sh('iptables-save 2>/dev/null || true').split('\n').filter((l) => /minc/i.test(l));
  }

  get stateDir(): string {
    return `/run/mincs/net/${this.ino}`;
  }

  leases(): string[] {
    try {
      return readdirSync(`${this.stateDir}/leases`);
    } catch {
      return [];
    }
  }

  remove(): void {
    try {
      execFileSync('ip', ['netns', 'del', this.name]);
    } finally {
      rmSync(this.stateDir, { recursive: true, force: true });
    }
  }
}

/** Named network namespaces made by minc runs (minc<pid>-XXXXXX) of the given pids. */
export function mincNetns(pids: readonly (number | undefined)[]): string[] {
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    return [];
  }
  return names.filter((x) => pids.some((p) => p && x.startsWith(`minc${p}-`)));
}

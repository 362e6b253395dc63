import { spawnSync, type StdioOptions } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleSnippet, cleanEnv, runNode } from '../support/child.js';

// The child reports, as JSON, what inheritedFds sees and, as the oracle, which
// descriptors above 2 a program it execs really gets (`ls -l /proc/$$/fd` of a
// shell it starts), before and after closeInheritedFds(KEEP).
const snippet = `
  import { execFileSync } from 'node:child_process';
  import { closeInheritedFds, inheritedFds } from './src/run/fds.js';
  const survivors = () => Object.fromEntries(
    execFileSync('/bin/sh', ['-c', 'ls -l /proc/$$/fd'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\\n').map((l) => / (\\d+) -> (.*)$/.exec(l)).filter((m) => m && Number(m[1]) > 2).map((m) => [m[1], m[2]]));
  const keep = Number(process.argv[2]);
  const out = { seen: inheritedFds(0), seenKeep: inheritedFds(keep), before: survivors() };
  closeInheritedFds(keep);
  out.after = survivors();
  out.seenAfter = inheritedFds(0);
  console.log(JSON.stringify(out));
`;

interface Report {
  seen: number[];
  seenKeep: number[];
  before: Record<string, string>;
  after: Record<string, string>;
  seenAfter: number[];
}

let dir: string;
let child: Awaited<ReturnType<typeof bundleSnippet>>;
let marker: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'minc-fds-'));
  marker = join(dir, 'inherited-marker');
  writeFileSync(marker, 'x');
  child = await bundleSnippet(snippet);
});
afterAll(() => {
  child.remove();
  rmSync(dir, { recursive: true, force: true });
});

function parse(r: { status: number | null; stdout: string; stderr: string }): Report {
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as Report;
}
const fdsTo = (m: Record<string, string>, path: string): number[] => Object.entries(m).filter(([, t]) => t === path).map(([fd]) => Number(fd));
const sorted = (a: readonly (number | string)[]): number[] => a.map(Number).sort((x, y) => x - y);

/** Run the child from sh with `exec N<marker` for each N; node is exec'd, so it inherits them. */
function fromShell(fds: number[], keep: number): Report {
  const redirs = fds.map((fd) => `${fd}<"$1"`).join(' ');
  const r = spawnSync('/bin/bash', ['-c', `exec ${redirs}; exec "$2" "$3" "$4"`, 'sh', marker, process.execPath, child.file, String(keep)], {
    encoding: 'utf8', env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000,
  });
  return parse({ status: r.status, stdout: r.stdout, stderr: r.stderr });
}

describe('inheritedFds / closeInheritedFds', () => {
  it("sees exactly the descriptors an exec'd program would get, and closing them leaves none", () => {
    // a shell caller's `exec 200<FILE` (node itself marks low inherited descriptors close-on-exec at start)
    const rep = fromShell([200], 0);
    expect(fdsTo(rep.before, marker)).toEqual([200]);
    expect(sorted(rep.seen)).toEqual(sorted(Object.keys(rep.before)));
    expect(rep.seen).toContain(200);
    expect(rep.after).toEqual({});
    expect(rep.seenAfter).toEqual([]);
  });

  it('sees a descriptor node spawn passes to a child node process', () => {
    const fd = openSync(marker, 'r');
    let rep: Report;
    try {
      const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', ...Array<'ignore'>(197).fill('ignore'), fd];
      rep = parse(runNode(child.file, ['0'], { stdio }));
    } finally {
      closeSync(fd);
    }
    expect(fdsTo(rep.before, marker)).toEqual([200]);
    expect(sorted(rep.seen)).toEqual(sorted(Object.keys(rep.before)));
    expect(rep.after).toEqual({});
  });

  it('agrees with exec for low descriptors too (fd 3 as node spawn passes it)', () => {
    const fd = openSync(marker, 'r');
    let rep: Report;
    try {
      rep = parse(runNode(child.file, ['0'], { stdio: ['ignore', 'pipe', 'pipe', fd] }));
    } finally {
      closeSync(fd);
    }
    expect(sorted(rep.seen)).toEqual(sorted(Object.keys(rep.before)));
    expect(fdsTo(rep.after, marker)).toEqual([]);
  });

  it('keeps 3 .. 2+KEEP (--preserve-fds) and closes the rest', () => {
    const rep = fromShell([200, 230], 198);
    expect(sorted(fdsTo(rep.before, marker))).toEqual([200, 230]);
    expect(rep.seen).toEqual(expect.arrayContaining([200, 230]));
    // 3 + 198 = 201: fd 200 is kept, fd 230 is not
    expect(rep.seenKeep).not.toContain(200);
    expect(rep.seenKeep).toContain(230);
    expect(fdsTo(rep.after, marker)).toEqual([200]);
    expect(Object.keys(rep.after).every((fd) => Number(fd) < 201)).toBe(true);
  });

  it('sees no marker when the caller passed nothing', () => {
    const rep = parse(runNode(child.file, ['0'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    expect(fdsTo(rep.before, marker)).toEqual([]);
    expect(sorted(rep.seen)).toEqual(sorted(Object.keys(rep.before)));
    expect(rep.after).toEqual({});
  });
});

describe('callerFd (--preserve-fds takes only what the caller passed)', () => {
  // The child reports, for each of its descriptors above 2, what it is and what callerFd says.
  const probe = `
    import { readdirSync, readlinkSync } from 'node:fs';
    import { callerFd } from './src/run/fds.js';
    // a little of node's own machinery running, as in minc (timers, a child's pipes are not needed)
    setTimeout(() => {}, 1);
    const out = {};
    for (const name of readdirSync('/proc/self/fd')) {
      const fd = Number(name);
      if (fd < 3) continue;
      let target;
      try { target = readlinkSync('/proc/self/fd/' + fd); } catch { continue; }
      out[fd] = { target, caller: callerFd(fd) };
    }
    out.closed = callerFd(999);
    console.log(JSON.stringify(out));
  `;
  let probeChild: Awaited<ReturnType<typeof bundleSnippet>>;
  beforeAll(async () => {
    probeChild = await bundleSnippet(probe);
  });
  afterAll(() => probeChild.remove());

  type Probe = Record<string, { target: string; caller: boolean }> & { closed: boolean };
  /**
   * Run the probe from bash: `setup` opens what the caller passes, every other
   * descriptor above 2 is closed first (this test runner may itself have
   * inherited some without close-on-exec, which a child would get too).
   */
  const run = (setup: string): Probe => {
    const script = `for f in /proc/$$/fd/*; do n=\${f##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done; ${setup}; exec "$0" "$1"`;
    const r = spawnSync('/bin/bash', ['-c', script, process.execPath, probeChild.file], {
      encoding: 'utf8', env: cleanEnv({ MARKER: marker }), stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return JSON.parse(r.stdout) as Probe;
  };
  const fdsOf = (p: Probe): [number, { target: string; caller: boolean }][] =>
    Object.entries(p).filter(([k]) => k !== 'closed').map(([k, v]) => [Number(k), v as { target: string; caller: boolean }]);
  const callers = (p: Probe): number[] => fdsOf(p).filter(([, v]) => v.caller).map(([n]) => n);

  it('the runner passes the probe only what it opens (the harness is clean)', () => {
    const p = run(':');
    expect(fdsOf(p).some(([, v]) => v.target === marker)).toBe(false);
  });

  it("counts none of node's own descriptors (eventpoll, eventfd, self-pipes) when the caller passed nothing", () => {
    const p = run(':');
    const own = fdsOf(p);
    // node does hold descriptors above 2 of its own: the check is not vacuous
    expect(own.length).toBeGreaterThan(0);
    expect(own.some(([, v]) => v.target.startsWith('anon_inode:'))).toBe(true);
    expect(own.filter(([, v]) => v.caller)).toEqual([]);
    // both ends of node's self-pipes are held: that is what tells them from a caller's pipe
    expect(own.some(([, v]) => v.target.startsWith('pipe:'))).toBe(true);
    expect(p.closed).toBe(false);
    // so fd 3 is not taken for the caller's
    expect(p['3']?.caller ?? false).toBe(false);
  });

  it('counts a file the caller passed as fd 3, and only that one', () => {
    const p = run('exec 3<"$MARKER"');
    expect(p['3']).toEqual({ target: marker, caller: true });
    expect(callers(p)).toEqual([3]);
  });

  it('counts a pipe the caller passed as fd 3 (one end only here, unlike a self-pipe)', () => {
    const p = run('exec 3< <(:)');
    expect(p['3']?.target).toMatch(/^pipe:/);
    expect(p['3']?.caller).toBe(true);
    expect(callers(p)).toEqual([3]);
  });

  it('counts a descriptor node spawn passes as fd 3 (minc run by a node program)', () => {
    const fd = openSync(marker, 'r');
    let r: ReturnType<typeof runNode>;
    try {
      r = runNode(probeChild.file, [], { stdio: ['ignore', 'pipe', 'pipe', fd] });
    } finally {
      closeSync(fd);
    }
    expect(r.stderr).toBe('');
    const p = JSON.parse(r.stdout) as Probe;
    expect(p['3']).toEqual({ target: marker, caller: true });
  });
});

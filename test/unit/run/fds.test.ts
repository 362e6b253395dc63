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

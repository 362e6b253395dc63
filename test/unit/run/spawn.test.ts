import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inheritedFds } from '../../../src/run/fds.js';
import { describe, expect, it } from 'vitest';
import { startInherited } from '../../../src/run/spawn.js';

const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: '/usr/bin:/bin', ...extra });

// process_wrap's Process where node exposes it, and child_process.spawn (MINC_SPAWN=child_process): the same contract
describe.each([['process_wrap', undefined], ['child_process', 'child_process']])('startInherited (%s)', (_name, mode) => {
  const withMode = <T>(fn: () => T): T => {
    const saved = process.env.MINC_SPAWN;
    if (mode) process.env.MINC_SPAWN = mode;
    else delete process.env.MINC_SPAWN;
    try {
      return fn();
    } finally {
      if (saved === undefined) delete process.env.MINC_SPAWN;
      else process.env.MINC_SPAWN = saved;
    }
  };

  it('resolves to the exit code, passes args and env, and has the pid', async () => {
    const c = withMode(() => startInherited('/bin/sh', ['-c', 'exit "$X"', 'sh'], env({ X: '7' }), 3));
    expect(c.pid).toBeGreaterThan(0);
    expect(await c.status).toBe(7);
  });

  it('with a go channel: the child reads what go() writes on its descriptor after the inherited ones, then end of file; go() without text is end of file only', async () => {
    const read = 'IFS= read -r a <&3; r=$?; IFS= read -r b <&3; echo "$r:$a:$?:$b" > "$0"';
    const dir = mkdtempSync(join(tmpdir(), 'mincs-go-'));
    try {
      const c = withMode(() => startInherited('/bin/sh', ['-c', read, `${dir}/out`], env(), 3, true));
      c.go('go\n');
      c.go('again\n'); // (once only)
      expect(await c.status).toBe(0);
      expect(readFileSync(`${dir}/out`, 'utf8')).toBe('0:go:1:\n');
      const d = withMode(() => startInherited('/bin/sh', ['-c', read, `${dir}/out2`], env(), 3, true));
      d.go();
      expect(await d.status).toBe(0);
      expect(readFileSync(`${dir}/out2`, 'utf8')).toBe('1::1:\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts the child in /', async () => {
    const c = withMode(() => startInherited('/bin/sh', ['-c', 'test "$(pwd -P)" = /'], env(), 3));
    expect(await c.status).toBe(0);
  });

  it("go() to a child that is gone (killed while minc built the plan) does not throw: the child's status says what happened", async () => {
    const c = withMode(() => startInherited('/bin/sh', ['-c', 'exec 3<&-; sleep 5'], env(), 3, true));
    c.kill('SIGKILL');
    expect(await c.status).toBe(137);
    expect(() => c.go('go\n')).not.toThrow();
  });

  it('resolves to 128+N for a child killed by signal N, and kill() sends it', async () => {
    const c = withMode(() => startInherited('/bin/sh', ['-c', 'sleep 5'], env(), 3));
    c.kill('SIGTERM');
    expect(await c.status).toBe(143);
  });

  it("passes 0 1 2 and nothing of node's own (only what node's caller left open without close-on-exec)", async () => {
    const c = withMode(() => startInherited('/bin/sleep', ['5'], env(), 3));
    const deadline = Date.now() + 5000;
    while (!readlinkSync(`/proc/${c.pid}/exe`).endsWith('/sleep') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const fds = readdirSync(`/proc/${c.pid}/fd`).map(Number).sort((a, b) => a - b);
    c.kill('SIGKILL');
    expect(await c.status).toBe(137);
    // (under vitest's forks child_process also passes the worker's own IPC channel: not minc's case)
    const ipc = mode ? ((process.channel as { fd?: number } | undefined)?.fd ?? -1) : -1;
    expect(fds.filter((fd) => fd !== ipc)).toEqual([...new Set([0, 1, 2, ...inheritedFds(0)])].sort((a, b) => a - b));
  });

  it('a missing program is an error naming it', async () => {
    await expect((async () => withMode(() => startInherited('/nonexistent/prog', [], env(), 3)).status)()).rejects.toThrow(/starting \/nonexistent\/prog: .*ENOENT/);
  });
});

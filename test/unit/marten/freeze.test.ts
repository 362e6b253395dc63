/** The SIGSTOP fallback of marten commit --pause: every process of a forking tree stopped, then all continued. */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { processState, stopAll } from '../../../src/marten/freeze.js';

const state = processState;
const ppid = (pid: number): number => {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
};
/** pid and its descendants */
function tree(root: number): number[] {
  const all = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
  const out = [root];
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of all) {
      try {
        if (!out.includes(p) && out.includes(ppid(p))) {
          out.push(p);
          grew = true;
        }
      } catch {
        /* gone */
      }
    }
  }
  return out.filter((p) => state(p) !== null);
}

describe('stopAll', () => {
  it('stops a tree that keeps forking, and continues it after', async () => {
    const sh = spawn('sh', ['-c', 'while :; do sleep 0.01 & wait; done'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 100));
      const thaw = await stopAll(() => tree(sh.pid!));
      const stopped = tree(sh.pid!);
      expect(stopped.length).toBeGreaterThan(0);
      expect(stopped.map(state).filter((s) => s !== 'T' && s !== 'Z')).toEqual([]);
      await new Promise((r) => setTimeout(r, 100));
      expect(tree(sh.pid!).map(state).filter((s) => s !== 'T' && s !== 'Z')).toEqual([]); // still held
      thaw();
      await new Promise((r) => setTimeout(r, 100));
      expect(state(sh.pid!)).not.toBe('T');
    } finally {
      for (const p of tree(sh.pid!)) process.kill(p, 'SIGKILL');
    }
  });
});

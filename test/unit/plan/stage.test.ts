/** Functions of libexec/minc-stage on their own (sourced by a plain sh, no namespaces). */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const STAGE = readFileSync(fileURLToPath(new URL('../../../libexec/minc-stage', import.meta.url)), 'utf8');

/** sh: the stage's functions, then script */
const sh = (script: string) => spawnSync('/bin/sh', ['-c', `${STAGE}\nMINC_DEBUG=0\n${script}`], { encoding: 'utf8' });

describe('step', () => {
  it('runs the step and goes on when it succeeds', () => {
    const r = sh(`step 'first' true; echo after`);
    expect(r.stdout).toBe('after\n');
    expect(r.status).toBe(0);
  });

  it('a failed step ends the run with 125 and one line naming it', () => {
    const r = sh(`step 'Mount the thing' sh -c 'exit 3'; echo after`);
    expect(r.stdout).toBe('');
    expect(r.status).toBe(125);
    expect(r.stderr).toBe("minc: Mount the thing: 'sh -c exit 3' failed (status 3)\n");
  });

  for (const [sig, status] of [['HUP', 129], ['INT', 130], ['QUIT', 131], ['TERM', 143]] as const) {
    it(`a step killed by ${sig} (the user stopping the set-up) ends the run with ${status} and no message of minc's`, () => {
      const r = sh(`step 'Mount the thing' sh -c 'kill -${sig} $$'; echo after`);
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toMatch(/minc:/); // (sh's own word for the signal aside)
      expect(r.status).toBe(status);
    });
  }

  it('a step killed by KILL (the OOM killer, say) is a failure with a message', () => {
    const r = sh(`step 'Mount the thing' sh -c 'kill -KILL $$'`);
    expect(r.status).toBe(125);
    expect(r.stderr).toMatch(/^minc: Mount the thing: .* failed \(status 137\)$/m);
  });
});

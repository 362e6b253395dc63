import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Config } from '../../../src/options/validate.js';
import { buildPlan } from '../../../src/plan/build.js';
import { TOOLS, type Tool } from '../../../src/plan/paths.js';
import { fstabLine } from '../../../src/plan/table.js';
import { describeStep, renderScript, shQuote } from '../../../src/plan/render.js';
import type { Plan } from '../../../src/plan/types.js';
import type { Facts } from '../../../src/run/facts.js';
import { which } from '../../../src/run/facts.js';
import { ROOT } from '../support/child.js';

const NASTY = [
  '', ' ', 'plain', "'", "''", "a'b", '"', 'a"b', '\\', 'a\\nb', '$HOME', '${x:-y}', '$(id)', '`id`', '*', '?', '[a]', '~', '~root',
  '#x', 'a#b', ';', '&&', '|', '<', '>', '(', ')', '{', '}', '!', '!!', '-n', '--', '-e', 'a b', ' lead', 'trail ', '\t', '\n',
  'line1\nline2', "it's \"quoted\" \\ $x `y`", 'é ü 中文 🙂', '\x01\x02\x7f', 'a=b', 'x=$(id)', '%s', '%', '@', ':', ',', '.', '/',
  '-', 'a\u00a0b', "'\\''", 'x'.repeat(5000),
];

/** Shells to check with: sh (dash on Debian) and bash if present. */
const SHELLS = ['/bin/sh', which('bash')].filter((s): s is string => Boolean(s));

describe('shQuote', () => {
  for (const shell of SHELLS) {
    it(`round-trips nasty strings through ${shell} as one word`, () => {
      for (const s of NASTY) {
        const q = shQuote(s);
        // the quoted word is parsed by the shell and comes out as the same single argument
        const out = execFileSync(shell, ['-c', `set -- ${q}; printf '%s|%s' "$#" "$1"`], { encoding: 'utf8' });
        expect(out, JSON.stringify(s)).toBe(`1|${s}`);
        // and it comes through the way minc's stage passes argv on: sh -c '...' "$1"
        const viaArg = execFileSync(shell, ['-c', `eval "set -- $1"; printf %s "$1"`, 'sh', q], { encoding: 'utf8' });
        expect(viaArg, JSON.stringify(s)).toBe(s);
      }
    });
  }

  it('leaves plain words alone and quotes the rest', () => {
    expect(shQuote('/usr/bin/mount')).toBe('/usr/bin/mount');
    expect(shQuote('lowerdir=/,upperdir=/run/x')).toBe('lowerdir=/,upperdir=/run/x');
    expect(shQuote('a b')).toBe("'a b'");
    expect(shQuote('')).toBe("''");
  });
});

const toolPath = (t: Tool): string => `/usr/bin/${t}`;
const facts: Facts = {
  tools: Object.fromEntries(TOOLS.map((t) => [t, toolPath(t)])),
  ldso: '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
  libpath: '/usr/lib/x86_64-linux-gnu:/usr/lib',
  tty: "/dev/pts/1'$x",
  ttyMode: true,
  existing: new Map([['/proc/sys', 'dir'], ['/proc/kcore', 'file']]),
  hostname: 'h',
};
const config: Config = {
  command: ['sh', '-c', 'echo "$1"', "it's"], rootdir: "/srv/root dir'$(x)", direct: false, keep: false,
  binds: [{ source: '/srv/a "b" `c`', target: "/mnt/it's here", readonly: true }], usedev: false,
  name: 'box', user: { uid: 1, gid: 2 }, nocaps: ['cap_net_raw'], asPid1: false, preserveFds: 1, debug: true, dryRun: false,
};
const TEMP = "/run/minc1-ab c'd$e";
const plan: Plan = buildPlan({ config, facts, tempdir: TEMP, colour: { on: '\x1b[36m', off: '\x1b[39m' } });

describe('renderScript', () => {
  it('gives sh -n a script it parses, with the real stage', () => {
    const script = renderScript(readFileSync(`${ROOT}libexec/minc-stage`, 'utf8'), plan);
    const r = spawnSync('/bin/sh', ['-n'], { input: script, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('fails sh -n on a broken stage (the check can fail)', () => {
    const r = spawnSync('/bin/sh', ['-n'], { input: renderScript('if true; then', plan), encoding: 'utf8' });
    expect(r.status).not.toBe(0);
  });

  it('runs every step with exactly its argv and sets every variable to its value', () => {
    // a stub stage: `step` prints its arguments NUL-separated, one record per step
    // (lanes left out here: their order is the next test's)
    const stub = `MINC_FINAL='the final script'
step() { for a; do printf '%s\\0' "$a"; done; printf '\\036'; }
step_out() { step "$@"; }`;
    const dumpVars = Object.keys(plan.vars).map((k) => `printf '%s=%s\\0' ${k} "$${k}"`).join('\n');
    const flat = { ...plan, steps: plan.steps.map(({ lane: _lane, ...st }) => st) };
    const script = `${renderScript(stub, flat)}printf '\\035'\n${dumpVars}\n`;
    const out = execFileSync('/bin/sh', ['-c', script, 'minc-init', ...config.command], { encoding: 'utf8' });
    const [stepsText, varsText] = out.split('\x1d');
    const records = stepsText!.split('\x1e').slice(0, -1).map((r) => r.split('\0').slice(0, -1));
    // (a line of a mount table is not a step of its own: its mount_table step mounts it)
    const expected = plan.steps.filter((st) => !st.table).map((st) => [
      st.why,
      ...st.argv.flatMap((a) => {
        if (typeof a === 'string') return [a];
        if (a.sh === '"$@"') return config.command;
        if (a.sh === '"$MINC_FINAL"') return ['the final script'];
        throw new Error(`unknown raw word ${a.sh}`);
      }),
    ]);
    expect(records).toEqual(expected);
    const vars = Object.fromEntries(varsText!.split('\0').slice(0, -1).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
    expect(vars).toEqual(plan.vars);
  });

  it('runs a lane in a background subshell beside the steps after it, and join_lane waits for it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'minc-lane-'));
    try {
      const stub = `step() { case $1 in lane-step) sleep 0.3 ;; esac
  if [ "$2" = join_lane ]; then eval "wait \\"\\$minc_lane_$3\\""; fi
  printf '%s\\n' "$1" >> ${dir}/order; }`;
      const lanes = {
        vars: {},
        steps: [
          { why: 'lane-step', argv: ['x'], lane: 'L' },
          { why: 'main-step', argv: ['y'] },
          { why: 'joined', argv: ['join_lane', 'L'] },
        ],
      };
      const script = renderScript(stub, lanes);
      expect(script).toMatch(/\n  \(\n    minc_errf=\$MINC_TEMPDIR\/step-L\.err\n    step lane-step x\n  \) & minc_lane_L=\$!\n/);
      execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
      expect(readFileSync(join(dir, 'order'), 'utf8')).toBe('main-step\nlane-step\njoined\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('puts the stage first and the plan in a function minc_plan called with "$@"', () => {
    const script = renderScript('# STAGE', plan);
    expect(script.startsWith('# STAGE\n')).toBe(true);
    expect(script.trimEnd().endsWith('minc_plan "$@"')).toBe(true);
    expect(script).toMatch(/\nminc_plan\(\) \{\n/);
  });
});

describe('describeStep', () => {
  it("shows the reason in MINCS's form and the argv quoted", () => {
    expect(describeStep({ why: 'Do it', argv: ['/bin/mount', 'a b', { sh: '"$@"' }] })).toBe(`:;: Do it ;:\n+ /bin/mount 'a b' "$@"`);
  });

  it('gives lines a shell can run: the argv line parses back to the argv', () => {
    for (const st of plan.steps) {
      if (st.table) {
        // a line of a mount table shows as that line
        expect(describeStep(st)).toBe(`:;: ${st.why} ;:\n# ${st.table}: ${fstabLine(st.argv)}`);
        continue;
      }
      const [why, cmd] = describeStep(st).split('\n+ ');
      expect(why).toBe(`:;: ${st.why} ;:`);
      const strings = st.argv.filter((a): a is string => typeof a === 'string');
      if (strings.length !== st.argv.length) continue;
      const out = execFileSync('/bin/sh', ['-c', `set -- ${cmd}; for a; do printf '%s\\0' "$a"; done`], { encoding: 'utf8' });
      expect(out.split('\0').slice(0, -1)).toEqual(strings);
    }
  });
});

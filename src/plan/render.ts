/** Turning a plan into text: the script the stage runs, and lines for --debug and --dry-run. */
import { stepErrFile } from './paths.js';
import { fstabLine } from './table.js';
import type { Arg, Plan, Step } from './types.js';

/** Quote one word for POSIX sh. */
export function shQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const word = (a: Arg): string => (typeof a === 'string' ? shQuote(a) : a.sh);

const stepLine = (st: Step): string => `${st.userOutput ? 'step_out' : 'step'} ${shQuote(st.why)} ${st.argv.map(word).join(' ')}`;

/** Where a run of steps (the main one, or a lane) has its steps' stderr (libexec/minc-stage's step). */
const errFile = (lane?: string): string => `minc_errf=$MINC_TEMPDIR/${stepErrFile(lane)}`;

/**
 * The plan as sh: variables, then a function minc_plan of `step WHY ARGV...`
 * lines; a run of steps of one lane becomes a background subshell whose pid
 * `join_lane` waits for.
 */
export function renderScript(stage: string, plan: Plan): string {
  return `${stage}\n${renderPlanText(plan)}`;
}

/** The plan's part of renderScript's text: its variables and minc_plan, then the call. */
export function renderPlanText(plan: Plan): string {
  const vars = Object.entries(plan.vars).map(([k, v]) => `${k}=${shQuote(v)}`);
  const lines: string[] = [`  ${errFile()}`];
  for (let i = 0; i < plan.steps.length; ) {
    // a line of a mount table: its mount_table step mounts it
    if (plan.steps[i]!.table) {
      i++;
      continue;
    }
    const lane = plan.steps[i]!.lane;
    if (!lane) {
      lines.push(`  ${stepLine(plan.steps[i++]!)}`);
      continue;
    }
    lines.push('  (', `    ${errFile(lane)}`);
    for (; i < plan.steps.length && plan.steps[i]!.lane === lane; i++) if (!plan.steps[i]!.table) lines.push(`    ${stepLine(plan.steps[i]!)}`);
    lines.push(`  ) & minc_lane_${lane}=$!`);
  }
  return `${vars.join('\n')}\nminc_plan() {\n${lines.join('\n')}\n}\nminc_plan "$@"\n`;
}

/**
 * The plan as --dry-run lists it: two lines a step (MINCS's `:;: why ;:`
 * form, then the command), and a comment where a lane starts.
 */
export function describeSteps(steps: readonly Step[]): string[] {
  const out: string[] = [];
  steps.forEach((st, i) => {
    if (st.lane && steps[i - 1]?.lane !== st.lane) {
      out.push(`# lane ${st.lane}: the steps up to 'join_lane ${st.lane}' run in a background subshell, beside the ones after them`);
    }
    out.push(describeStep(st));
  });
  return out;
}

/** The two lines --debug and --dry-run show for a step (MINCS's `:;: why ;:` form); a line of a mount table as that line. */
export function describeStep(st: Step): string {
  if (st.table) return `:;: ${st.why} ;:\n# ${st.table}: ${fstabLine(st.argv)}`;
  return `:;: ${st.why} ;:\n+ ${st.argv.map(word).join(' ')}`;
}

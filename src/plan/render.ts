/** Turning a plan into text: the script the stage runs, and lines for --debug and --dry-run. */
import type { Arg, Plan, Step } from './types.js';

/** Quote one word for POSIX sh. */
export function shQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const word = (a: Arg): string => (typeof a === 'string' ? shQuote(a) : a.sh);

/** The plan as sh: variables, then a function minc_plan of `step WHY ARGV...` lines. */
export function renderScript(stage: string, plan: Plan): string {
  const vars = Object.entries(plan.vars).map(([k, v]) => `${k}=${shQuote(v)}`);
  const steps = plan.steps.map((st) => `  step ${shQuote(st.why)} ${st.argv.map(word).join(' ')}`);
  return `${stage}\n${vars.join('\n')}\nminc_plan() {\n${steps.join('\n')}\n}\nminc_plan "$@"\n`;
}

/** The two lines --debug and --dry-run show for a step (MINCS's `:;: why ;:` form). */
export function describeStep(st: Step): string {
  return `:;: ${st.why} ;:\n+ ${st.argv.map(word).join(' ')}`;
}

/**
 * Man pages and shell completion, made at build time (build.mjs) from the
 * tables the commands use: minc's OPTIONS and EXAMPLES (src/options), and
 * marten's yargs commands, read back from its own --help (the yargs
 * definitions in src/cli/marten.ts are its table).  Writes man/minc.1,
 * man/marten.1, completion/minc.bash (minc and marten) and completion/_minc
 * (zsh, minc and marten).  Other commands (polecat) can add a page with
 * manPage().
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DESCRIPTION, EXAMPLES, EXIT_STATUS, SUMMARY, USAGE } from '../options/help.js';
import { OPTIONS } from '../options/spec.js';
import { PACKAGE_ROOT } from '../where.js';
import { packageVersion } from '../version.js';
import { USAGE as POLECAT_USAGE } from '../polecat/options.js';

/** Text as roff: backslashes and leading dots escaped, '-' a real hyphen-minus. */
export const roff = (t: string): string => t.replace(/\\/g, '\\e').replace(/-/g, '\\-').replace(/^([.'])/gm, '\\&$1');

export interface Section {
  readonly title: string;
  /** paragraphs, or [term, text] items (.TP) */
  readonly body: readonly (string | readonly [string, string])[];
  /** body[0] is preformatted (.nf) */
  readonly literal?: boolean;
}

/** A man page (section 1). */
export function manPage(name: string, summary: string, sections: readonly Section[]): string {
  const out = [`.TH ${name.toUpperCase()} 1 "" "mincs-ts ${packageVersion()}" "User Commands"`, '.SH NAME', `${name} \\- ${roff(summary)}`];
  for (const s of sections) {
    out.push(`.SH ${s.title}`);
    if (s.literal) {
      out.push('.nf', roff(String(s.body[0] ?? '')), '.fi');
      continue;
    }
    for (const b of s.body) {
      if (typeof b === 'string') out.push('.PP', roff(b));
      else out.push('.TP', b[0], roff(b[1]));
    }
  }
  return `${out.join('\n')}\n`;
}

const optionTerm = (o: (typeof OPTIONS)[number]): string =>
  `${o.alias ? `\\fB\\-${o.alias}\\fR, ` : ''}\\fB\\-\\-${roff(o.name)}\\fR${o.value ? ` \\fI${roff(o.value)}\\fR` : ''}`;

export function mincPage(): string {
  return manPage('minc', SUMMARY, [
    { title: 'SYNOPSIS', body: [USAGE] },
    { title: 'DESCRIPTION', body: [DESCRIPTION] },
    { title: 'OPTIONS', body: OPTIONS.map((o) => [optionTerm(o), o.describe] as const) },
    { title: 'EXAMPLES', body: EXAMPLES.map(([cmd, what]) => [`\\fB${roff(cmd)}\\fR`, what] as const) },
    { title: 'EXIT STATUS', body: [EXIT_STATUS] },
    { title: 'SEE ALSO', body: ['marten(1); README.md of mincs-ts'] },
  ]);
}

/** marten's commands (name, argument words, text) as its --help lists them. */
export function martenCommands(help: string): { name: string; args: string; describe: string; aliases: string[] }[] {
  const lines = help.split('\n');
  const start = lines.indexOf('Commands:');
  const out: { name: string; args: string; describe: string; aliases: string[] }[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l.trim() === '') break;
    const m = /^ {2}marten (\S+)((?: [<[][^\s]+[>\]])*)\s{2,}(.*?)(?:\s+\[aliases: ([^\]]+)\])?$/.exec(l);
    if (m) out.push({ name: m[1]!, args: m[2]!.trim(), describe: `${m[3]!.trim()}${m[4] ? ` (also: ${m[4]})` : ''}`, aliases: m[4] ? m[4].split(/,\s*/) : [] });
    else if (out.length > 0) out.at(-1)!.describe += ` ${l.trim().replace(/\s*\[aliases: [^\]]+\]$/, '')}`;
  }
  return out;
}

export function martenPage(marten: (args: string[]) => string): string {
  const help = marten(['--help']);
  const cmds = martenCommands(help);
  return manPage('marten', 'manager of images and containers for minc', [
    { title: 'SYNOPSIS', body: ['marten [--debug] COMMAND [ARGS...]', 'marten help COMMAND'] },
    { title: 'DESCRIPTION', body: ['marten keeps images and containers for minc under $MINCS_DIR (else, for root, MINCS_DIR= in /etc/mincs.conf, else /var/lib/mincs; for any other user $XDG_DATA_HOME/mincs, else ~/.local/share/mincs): it pulls and pushes images of OCI registries, imports and exports docker and OCI archives, commits containers. minc -r IMAGE runs a new container of an image.'] },
    { title: 'COMMANDS', body: cmds.map((c) => [`\\fBmarten ${roff(c.name)}\\fR${c.args ? ` \\fI${roff(c.args)}\\fR` : ''}`, c.describe] as const) },
    ...cmds.map((c) => ({ title: `MARTEN ${c.name.toUpperCase()}`, body: [marten([c.name, '--help'])], literal: true })),
    { title: 'SEE ALSO', body: ['minc(1)'] },
  ]);
}

/** bash completion for minc and marten: options from OPTIONS, marten's commands, image and container names from marten. */
export function bashCompletion(martenCmds: readonly string[]): string {
  const opts = OPTIONS.flatMap((o) => [`--${o.name}`, ...(o.alias ? [`-${o.alias}`] : [])]).join(' ');
  const withValue = OPTIONS.filter((o) => o.value && !o.valueIf).flatMap((o) => [`--${o.name}`, ...(o.alias ? [`-${o.alias}`] : [])]).join('|');
  return `# bash completion for minc and marten (mincs-ts ${packageVersion()}); made by src/cli/docs.ts
_mincs_names() { # images|containers: the names and short ids marten lists
  local what=$1
  marten "$what" 2>/dev/null | awk 'NR > 1 { print $1; n = split($NF, a, ","); for (i = 1; i <= n; i++) if (a[i] !~ /^[(<]/) print a[i] }' | sed 's/ (.*//'
}
_minc() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      --) COMPREPLY=($(compgen -c -- "$cur")); return ;;
      -*) ;;
      *) case \${COMP_WORDS[i-1]} in ${withValue}) ;; *) COMPREPLY=($(compgen -f -- "$cur")); return ;; esac ;;
    esac
  done
  case $prev in
    -r|--rootdir) COMPREPLY=($(compgen -d -- "$cur") $(compgen -W "$(_mincs_names images)" -- "$cur")); return ;;
    -t|--tempdir|--stop) COMPREPLY=($(compgen -d -- "$cur") $(compgen -W "$(_mincs_names list)" -- "$cur")); return ;;
    -b|--bind|--ftrace) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    -n|--net) COMPREPLY=($(compgen -W "raw dens" -- "$cur")); return ;;
    ${withValue}) return ;;
  esac
  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "${opts}" -- "$cur")); else COMPREPLY=($(compgen -c -- "$cur")); fi
}
_marten() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd= i
  for ((i = 1; i < COMP_CWORD; i++)); do [[ \${COMP_WORDS[i]} != -* ]] && { cmd=\${COMP_WORDS[i]}; break; }; done
  if [[ -z $cmd ]]; then COMPREPLY=($(compgen -W "${martenCmds.join(' ')} help --debug --help --version" -- "$cur")); return; fi
  case $cmd in
    rmi|push|unpack|export|tag|renamei|inspect) COMPREPLY=($(compgen -W "$(_mincs_names images)" -- "$cur")) ;;
    rm|commit|rename|stop|logs) COMPREPLY=($(compgen -W "$(_mincs_names list)" -- "$cur")) ;;
    import) COMPREPLY=($(compgen -f -- "$cur")) ;;
    help) COMPREPLY=($(compgen -W "${martenCmds.join(' ')}" -- "$cur")) ;;
  esac
}
complete -F _minc minc
complete -F _marten marten
`;
}

/** zsh completion: minc's options with their texts (_arguments), marten's commands (_describe). */
export function zshCompletion(cmds: readonly { name: string; describe: string }[]): string {
  const q = (t: string): string => t.replace(/\\/g, '\\\\').replace(/'/g, "'\\''").replace(/[[\]:]/g, '\\$&');
  const specs = OPTIONS.map((o) => {
    const names = o.alias ? `{-${o.alias},--${o.name}}` : `--${o.name}`;
    const value = o.value ? `:${q(o.value)}:${o.name === 'rootdir' || o.name === 'tempdir' ? '_files -/' : o.name === 'bind' || o.name === 'ftrace' ? '_files' : ' '}` : '';
    return `    ${o.repeatable ? "'*'" : ''}${names}'[${q(o.describe.slice(0, 80))}]${value}'`;
  });
  return `#compdef minc marten
# zsh completion for minc and marten (mincs-ts ${packageVersion()}); made by src/cli/docs.ts
_minc_cmd() {
  _arguments -s -S \\
${specs.join(' \\\n')} \\
    '(-)*::command:_normal'
}
_marten_cmd() {
  local -a cmds
  cmds=(
${cmds.map((c) => `    '${q(c.name)}:${q(c.describe.slice(0, 70))}'`).join('\n')}
  )
  if (( CURRENT == 2 )); then _describe 'marten command' cmds; else _files; fi
}
case $service in
  minc) _minc_cmd "$@" ;;
  marten) _marten_cmd "$@" ;;
esac
`;
}

/** Write the man pages and completions into the package. */
export function writeDocs(root = PACKAGE_ROOT): void {
  const marten = (args: string[]): string => execFileSync(process.execPath, [join(root, 'bin/marten'), ...args], { encoding: 'utf8', env: { ...process.env, COLUMNS: '80' } }).trimEnd();
  const cmds = martenCommands(marten(['--help']));
  mkdirSync(join(root, 'man'), { recursive: true });
  mkdirSync(join(root, 'completion'), { recursive: true });
  writeFileSync(join(root, 'man/minc.1'), mincPage());
  writeFileSync(join(root, 'man/marten.1'), martenPage(marten));
  writeFileSync(join(root, 'man/polecat.1'), manPage('polecat', 'self-executable containered applications', [
    { title: 'SYNOPSIS AND OPTIONS', body: [POLECAT_USAGE], literal: true },
    { title: 'SEE ALSO', body: ['minc(1), marten(1); README.md of mincs-ts'] },
  ]));
  writeFileSync(join(root, 'completion/minc.bash'), bashCompletion(cmds.flatMap((c) => [c.name, ...c.aliases])));
  writeFileSync(join(root, 'completion/_minc'), zshCompletion(cmds.flatMap((c) => [c, ...c.aliases.map((a) => ({ name: a, describe: c.describe }))])));
}

writeDocs();

/**
 * Mount steps as a mount table (issue 12): each exec of mount(8) loads
 * libmount, libblkid and libselinux before its one mount(2), so the mounts
 * below the new root go into one fstab(5), mounted by one `mount --all
 * --fstab`.  The steps stay data, each with its why: a step marked with
 * `table` is a line of that table (the renderer leaves it out of the script;
 * --dry-run shows it as its fstab line), and one `mount_table` step mounts
 * the lot where the first of them stood.
 */
import type { Arg, Step } from './types.js';

/** fstab(5)'s escapes for a field. */
const field = (s: string): string => s.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);

/** The fstab(5) line of a mount(8) argv: `mount [-t TYPE] [-o OPTS] [--bind] [--] SOURCE TARGET`. */
export function fstabLine(argv: readonly Arg[]): string {
  let type = 'none';
  const opts: string[] = [];
  const words: string[] = [];
  let bind = false;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (typeof a !== 'string') throw new Error(`a mount table line cannot hold a shell word: ${JSON.stringify(a)}`);
    if (a === '-t') type = String(argv[++i]);
    else if (a === '-o') opts.push(String(argv[++i]));
    else if (a === '--bind') bind = true;
    else if (a === '--rbind') opts.unshift('rbind');
    else if (a !== '--') words.push(a);
  }
  if (words.length !== 2) throw new Error(`not a mount of one source on one target: ${argv.join(' ')}`);
  const options = [...(bind ? ['bind'] : []), ...opts].join(',') || 'defaults';
  return `${field(words[0]!)} ${field(words[1]!)} ${type} ${options} 0 0`;
}

/**
 * Steps with their table steps gathered: the first one of each table becomes
 * `mount_table TEMPDIR/NAME`, and every one stays in the list (marked) for
 * --dry-run; returns the tables' text too.
 */
export function gatherTables(steps: readonly Step[], tempdir: string): { steps: Step[]; files: Record<string, string> } {
  const files: Record<string, string> = {};
  const out: Step[] = [];
  for (const st of steps) {
    if (!st.table) {
      out.push(st);
      continue;
    }
    if (!(st.table in files)) {
      files[st.table] = '';
      const count = steps.filter((x) => x.table === st.table).length;
      out.push({ why: `Mount the ${count} file systems below (fstab ${st.table}) with one mount(8)`, argv: ['mount_table', `${tempdir}/${st.table}`] });
    }
    files[st.table] += `# ${st.why.replace(/\n/g, ' ')}\n${fstabLine(st.argv)}\n`;
    out.push(st);
  }
  return { steps: out, files };
}

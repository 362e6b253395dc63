import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.js';
import { defaultOutput, parseArgs } from '../../../src/polecat/options.js';

describe('polecat options', () => {
  it('takes options, then the source, then the command and its own options', () => {
    const o = parseArgs(['-o', 'x.sh', '-f', 'sfs', '--add', '/usr/lib/a', '--add=/b', 'root', 'ps', '-o', 'pid']);
    expect(o.output).toBe('x.sh');
    expect(o.format).toBe('squashfs');
    expect(o.add).toEqual(['/usr/lib/a', '/b']);
    expect(o.source).toBe('root');
    expect(o.command).toEqual(['ps', '-o', 'pid']);
  });

  it('defaults: sh, polecat-out.<ext>, 5 s of trap time', () => {
    const o = parseArgs(['/']);
    expect(o.format).toBe('sh');
    expect(o.trapTime).toBe(5);
    expect(o.command).toEqual([]);
    expect(defaultOutput('sh')).toBe('polecat-out.sh');
    expect(defaultOutput('tgz')).toBe('polecat-out.tgz');
    expect(defaultOutput('squashfs')).toBe('polecat-out.sfs');
  });

  it('-- ends the options (a source named like an option)', () => {
    expect(parseArgs(['--', '-weird', 'true']).source).toBe('-weird');
  });

  it.each([
    [['-f', 'zip', 'r'], /zip: unknown format/],
    [['--nope', 'r'], /--nope: unknown option/],
    [['-o'], /-o needs a value/],
    [[], /give a ROOTDIR or IMAGE/],
    [['--trap-time', '0', 'r'], /--trap-time 0/],
    [['--trap-time', 'x', 'r'], /--trap-time x/],
    [['-s', 'f.sh', 'r', 'cmd'], /-s takes its command from the script/],
    [['--debug=1', 'r'], /--debug takes no value/],
    [['--inspect', 'a', 'b'], /--inspect takes only FILE/],
  ])('refuses %j', (argv, says) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(says);
  });

  it('--inspect, --help and --version need no source', () => {
    expect(parseArgs(['--inspect', 'b.sh']).inspect).toBe('b.sh');
    expect(parseArgs(['-h']).help).toBe(true);
    expect(parseArgs(['--version']).version).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { tunProblem, userNetChecks } from '../../../src/net/doctor.js';

const find = (have: string[]) => (n: string): string | undefined => (have.includes(n) ? `/usr/bin/${n}` : undefined);

describe('--doctor without root: the user-mode network', () => {
  it('names the stack a run would use, and what to install when there is none', () => {
    const [stack] = userNetChecks(find(['slirp4netns']), undefined, { mode: 0o666, usable: true });
    expect(stack).toMatchObject({ ok: true, detail: 'slirp4netns (/usr/bin/slirp4netns) for --net dens and -p without root' });
    const [none] = userNetChecks(find([]), undefined, { mode: 0o666, usable: true });
    expect(none).toMatchObject({ ok: false, optional: true, fix: 'apt-get install passt' });
    const [asked] = userNetChecks(find(['pasta']), 'slirp4netns', { mode: 0o666, usable: true });
    expect(asked).toMatchObject({ ok: false, fix: 'apt-get install slirp4netns' });
  });

  it("names /dev/net/tun's mode as the cause, and its absence", () => {
    const [, tun] = userNetChecks(find(['pasta']), undefined, { mode: 0o600, usable: false });
    expect(tun).toMatchObject({ ok: false, fix: "chmod 0666 /dev/net/tun (as root; udev's rule does the same at boot)" });
    expect(tun!.detail).toMatch(/^mode 0600: this user cannot open it/);
    expect(userNetChecks(find(['pasta']), undefined, { mode: null, usable: false })[1]).toMatchObject({ ok: false, fix: 'modprobe tun' });
    expect(tunProblem({ mode: 0o600, usable: false })).toMatch(/mode 0600/);
  });
});

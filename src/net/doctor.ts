/**
 * minc --doctor, run by a user who is not root: what --net dens and -p need
 * without root (src/net/usermode.ts): pasta or slirp4netns, and a
 * /dev/net/tun the user may open (both make their tap device through it).
 * A machine without udev leaves /dev/net/tun at the kernel's 0600 where
 * udev's rules make it 0666: the mode is named as the cause.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { chooseUserNet } from './usermode.js';

/** One line of --doctor's report (src/doctor.ts's shape). */
export interface NetCheck {
  readonly what: string;
  readonly ok: boolean;
  readonly optional?: boolean;
  readonly detail: string;
  readonly fix?: string;
}

export interface TunFacts {
  /** its mode bits, null when it is missing */
  readonly mode: number | null;
  /** this user may open it for reading and writing */
  readonly usable: boolean;
}

export function tunFacts(path = '/dev/net/tun'): TunFacts {
  let mode: number | null;
  try {
    mode = statSync(path).mode & 0o7777;
  } catch {
    return { mode: null, usable: false };
  }
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return { mode, usable: true };
  } catch {
    return { mode, usable: false };
  }
}

/** Why tun cannot be used, in one clause (with what to do). */
export const tunProblem = (tun: TunFacts): string => tun.mode === null
  ? 'there is no /dev/net/tun (modprobe tun), which pasta and slirp4netns make their tap device through'
  : `/dev/net/tun is mode ${tun.mode.toString(8).padStart(4, '0')}: this user cannot open it to make the tap device (udev makes it 0666; without udev, as root: chmod 0666 /dev/net/tun)`;

export function userNetChecks(find: (name: string) => string | undefined, setting: string | undefined, tun: TunFacts): NetCheck[] {
  let stack: NetCheck;
  try {
    const { kind, path } = chooseUserNet(setting, find);
    const other = kind === 'pasta' ? find('slirp4netns') : find('pasta');
    stack = { what: 'user-mode network', ok: true, optional: true, detail: `${kind} (${path}) for --net dens and -p without root${other ? `; ${kind === 'pasta' ? 'slirp4netns' : 'pasta'} is there too (MINC_USERNET picks)` : ''}` };
  } catch (err) {
    stack = {
      what: 'user-mode network', ok: false, optional: true, detail: `${err instanceof Error ? err.message.replace(/^minc: /, '') : String(err)}`,
      fix: setting === 'slirp4netns' ? 'apt-get install slirp4netns' : 'apt-get install passt',
    };
  }
  const mode = tun.mode === null ? '' : tun.mode.toString(8).padStart(4, '0');
  const tunCheck: NetCheck = tun.usable
    ? { what: '/dev/net/tun', ok: true, optional: true, detail: `mode ${mode}: pasta and slirp4netns can make their tap device` }
    : tun.mode === null
      ? { what: '/dev/net/tun', ok: false, optional: true, detail: 'missing (needed for --net dens and -p without root)', fix: 'modprobe tun' }
      : {
        what: '/dev/net/tun', ok: false, optional: true,
        detail: `mode ${mode}: this user cannot open it, so pasta and slirp4netns cannot make their tap device (needed for --net dens and -p without root); udev makes it 0666: a machine without udev leaves the kernel's 0600`,
        fix: 'chmod 0666 /dev/net/tun (as root; udev\'s rule does the same at boot)',
      };
  return [stack, tunCheck];
}

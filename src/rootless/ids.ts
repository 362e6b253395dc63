/**
 * A rootless run's id map (issue 11).  The user is root inside: uid 0 maps to
 * them.  Where /etc/subuid and /etc/subgid give the user subordinate ranges,
 * util-linux's `unshare --map-auto` maps ids 1.. onto the first of them
 * (through the setuid newuidmap and newgidmap, as podman does), so a chown
 * inside, a package's own users and --user work; else the one mapping is all.
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';

export interface SubRange {
  readonly start: number;
  readonly count: number;
}

/**
 * The first range of subid(5) text for the user (by name or number), as
 * newuidmap reads it (`NAME:START:COUNT` lines); null when there is none.
 */
export function firstRange(text: string, name: string, id: number): SubRange | null {
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (who === undefined || start === undefined || count === undefined) continue;
    if (who !== name && who !== String(id)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && c > 0) return { start: s, count: c };
  }
  return null;
}

function readRange(file: string, name: string, id: number): SubRange | null {
  try {
    // (bounded: a subid file is a few lines; a huge one is no file of ours to parse whole)
    return firstRange(readFileSync(file, 'utf8').slice(0, 1 << 20), name, id);
  } catch {
    return null;
  }
}

export interface IdMap {
  /** the user has subordinate uids and gids: `unshare --map-auto` maps 1.. onto them */
  readonly mapAuto: boolean;
  readonly uid: number;
  readonly gid: number;
  readonly subuid: SubRange | null;
  readonly subgid: SubRange | null;
}

/** This user's id map for a rootless run. */
export function idMap(uid = process.getuid?.() ?? 0, gid = process.getgid?.() ?? 0): IdMap {
  let name = String(uid);
  try {
    name = userInfo().username;
  } catch {
    /* a uid with no passwd entry: its number is what subid(5) may name */
  }
  const subuid = readRange('/etc/subuid', name, uid);
  const subgid = readRange('/etc/subgid', name, uid);
  return { mapAuto: subuid !== null && subgid !== null, uid, gid, subuid, subgid };
}

let initialNs: boolean | undefined;
/** This process is in the initial user namespace (uid_map maps every id to itself). */
export function initialUserNs(): boolean {
  if (initialNs === undefined) {
    try {
      initialNs = /^\s*0\s+0\s+4294967295\s*$/.test(readFileSync('/proc/self/uid_map', 'utf8'));
    } catch {
      initialNs = true;
    }
  }
  return initialNs;
}

/** unshare's options that make the user namespace with this map. */
export const mapOptions = (map: { readonly mapAuto: boolean }): string[] => ['--user', '--map-root-user', ...(map.mapAuto ? ['--map-auto'] : [])];

/**
 * Owners as a layer tar gives them.  Root's layers keep their ids.  A user's
 * layers are the user's own files (marten unpacks them without chown), and the
 * rootless run maps the user to root: so the user's uid and gid are 0 in a
 * tar, and an id of the user's subordinate ranges (/etc/subuid, /etc/subgid)
 * is the id it is inside (`unshare --map-auto --map-root-user` maps the first
 * range to 1...).
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';

export interface IdMap {
  uid(id: number): number;
  gid(id: number): number;
}

const same: IdMap = { uid: (id) => id, gid: (id) => id };

/** The first range of user (by name or uid) in an /etc/subuid-form file. */
export function subRange(text: string, name: string, id: number): { start: number; count: number } | null {
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if ((who === name || who === String(id)) && /^\d+$/.test(start ?? '') && /^\d+$/.test(count ?? '')) return { start: Number(start), count: Number(count) };
  }
  return null;
}

const read = (file: string): string => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

/** One direction of the map: own -> 0, range.start + k -> 1 + k, any other id as it is. */
export function inside(own: number, range: { start: number; count: number } | null): (id: number) => number {
  return (id) => (id === own ? 0 : range && id >= range.start && id < range.start + range.count ? id - range.start + 1 : id);
}

/** The map for a layer: a user's layer (user) is mapped as the rootless run sees it; else ids as they are. */
export function ownerMap(user: boolean): IdMap {
  if (!user) return same;
  const me = userInfo();
  return {
    uid: inside(me.uid, subRange(read('/etc/subuid'), me.username, me.uid)),
    gid: inside(me.gid, subRange(read('/etc/subgid'), me.username, me.uid)),
  };
}

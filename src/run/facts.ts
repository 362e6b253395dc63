/**
 * What the plan needs to know about this host, gathered once (the plan
 * builders stay pure and take these as input).
 */
import { existsSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { DEVICES, MASKED, PROC_READONLY, TOOLS, type Tool } from '../plan/paths.js';
import { findTool } from '../host/tools.js';
import { isTerminal } from './tty.js';
import { submounts, type HostMount } from './mountinfo.js';
import { tempBase } from './tempdir.js';

export interface Facts {
  /** host paths of the tools the plan runs (symlinks resolved: they are used under the put_old prefix) */
  readonly tools: Readonly<Partial<Record<Tool, string>>>;
  /** the host's dynamic loader and library directories (for tools run after pivot_root) */
  readonly ldso: string;
  readonly libpath: string;
  /** the terminal on minc's stdio, if any (becomes /dev/console) */
  readonly tty?: string;
  /** minc is in the foreground of its controlling terminal: INT and QUIT reach the command from it */
  readonly ttyMode: boolean;
  /**
   * the host's /dev has every node of DEVICES as the character device it
   * should be: then one `cp -a` (mknod(2) for each) makes the container's own
   */
  readonly hostDevNodes?: boolean;
  /** which of the fixed /proc and /sys paths exist on this kernel, and their kind */
  readonly existing: ReadonlyMap<string, 'dir' | 'file'>;
  readonly hostname: string;
  /** the host's other mounts below / that a sandbox of the live host overlays (run/mountinfo.ts) */
  readonly mounts?: readonly HostMount[];
}

/** The host path of a system tool (src/host/tools.ts), symlinks resolved: it is used under the put_old prefix. */
export function which(name: string): string | undefined {
  const p = findTool(name);
  try {
    return p && realpathSync.native(p);
  } catch {
    return undefined;
  }
}

/** The loader and libc this node process was started with: the same ones the host tools use. */
export function loaderFacts(maps = readFileSync('/proc/self/maps', 'utf8')): { ldso: string; libpath: string } {
  let ldso = '';
  let libc = '';
  for (const line of maps.split('\n')) {
    const path = line.slice(line.indexOf('/'));
    if (!line.includes('/')) continue;
    if (!ldso && /\/ld-(linux|musl)[^/]*\.so/.test(path)) ldso = path;
    if (!libc && /\/libc(\.so|-[\d.]+\.so)/.test(path)) libc = path;
  }
  const dirs = new Set<string>();
  for (const p of [libc, ldso].filter(Boolean)) {
    dirs.add(dirname(realpathSync.native(p)));
  }
  for (const d of ['/usr/lib', '/lib']) if (existsSync(d)) dirs.add(realpathSync.native(d));
  return { ldso: ldso ? realpathSync.native(ldso) : '', libpath: [...dirs].join(':') };
}

/**
 * ttyMode: minc runs in the foreground of its controlling terminal (its
 * process group is the terminal's foreground group: fields 5 and 8 of
 * /proc/self/stat).  Then ^C and ^\ reach the command straight from the
 * terminal, and minc does not send them a second time.
 */
export function foregroundOfTty(stat = readFileSync('/proc/self/stat', 'utf8')): boolean {
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [pgrp, ttyNr, tpgid] = [Number(f[2]), Number(f[4]), Number(f[5])];
  return ttyNr !== 0 && tpgid > 0 && tpgid === pgrp;
}

function ttyFacts(): { tty?: string; ttyMode: boolean } {
  let tty: string | undefined;
  for (const fd of [0, 1, 2]) {
    if (isTerminal(fd)) {
      try {
        tty = readlinkSync(`/proc/self/fd/${fd}`);
        break;
      } catch {
        /* next */
      }
    }
  }
  return { tty, ttyMode: foregroundOfTty() };
}

/** The host's /dev/null, zero, ... are the character devices DEVICES says (major, minor). */
export function hostDevNodes(): boolean {
  return DEVICES.every(([name, major, minor]) => {
    try {
      const st = statSync(`/dev/${name}`);
      return st.isCharacterDevice() && Math.floor(st.rdev / 256) === major && st.rdev % 256 === minor;
    } catch {
      return false;
    }
  });
}

/** fn, called once: later calls give its first value. */
function once<V>(fn: () => V): () => V {
  let done = false;
  let value: V;
  return () => {
    if (!done) {
      value = fn();
      done = true;
    }
    return value;
  };
}

/** obj[key], computed on its first read, then kept. */
function lazy(obj: object, key: string, make: () => unknown): void {
  Object.defineProperty(obj, key, { enumerable: true, get: once(make) });
}

/** Which of the fixed /proc and /sys paths exist on this kernel, and their kind. */
function existingPaths(): Map<string, 'dir' | 'file'> {
  const existing = new Map<string, 'dir' | 'file'>();
  for (const p of [...PROC_READONLY, ...MASKED]) {
    try {
      const st = statSync(p, { throwIfNoEntry: false }); // undefined when not on this kernel (without a thrown error)
      if (st) existing.set(p, st.isDirectory() ? 'dir' : 'file');
    } catch {
      /* not for us to see */
    }
  }
  return existing;
}

/**
 * The host's facts, each gathered on first use: a run starts its launcher
 * (which needs the tools and the terminal) before the plan reads the rest
 * (src/run/container.ts), and a plain run needs about half of the tools.
 */
export function gatherFacts(): Facts {
  const tools = {};
  for (const t of TOOLS) lazy(tools, t, () => which(t));
  const facts = { tools };
  const loader = once(loaderFacts);
  const tty = once(ttyFacts);
  lazy(facts, 'ldso', () => loader().ldso);
  lazy(facts, 'libpath', () => loader().libpath);
  lazy(facts, 'tty', () => tty().tty);
  lazy(facts, 'ttyMode', () => tty().ttyMode);
  lazy(facts, 'existing', existingPaths);
  lazy(facts, 'mounts', () => {
    try {
      return submounts(readFileSync('/proc/self/mountinfo', 'utf8'), [tempBase()]);
    } catch {
      return []; // no /proc: the root alone
    }
  });
  lazy(facts, 'hostname', hostname);
  lazy(facts, 'hostDevNodes', hostDevNodes);
  return facts as Facts;
}

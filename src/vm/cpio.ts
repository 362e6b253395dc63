/** A newc cpio archive (the initramfs format) from a list of entries: a few lines, no cpio tool needed. */

export interface CpioEntry {
  readonly name: string;
  /** full st_mode: 0o100755 for an executable file, 0o40755 for a directory, 0o120777 for a link */
  readonly mode: number;
  /** file content, or a link's target */
  readonly data?: Buffer;
}

const hex = (n: number): string => n.toString(16).padStart(8, '0');
const pad4 = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);

function header(ino: number, e: CpioEntry, size: number, nameSize: number): string {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  return `070701${[ino, e.mode, 0, 0, e.mode & 0o40000 ? 2 : 1, 0, size, 0, 0, 0, 0, nameSize, 0].map(hex).join('')}`;
}

export function cpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const add = (ino: number, e: CpioEntry): void => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const head = Buffer.from(header(ino, e, data.length, name.length), 'latin1');
    parts.push(head, name, pad4(head.length + name.length), data, pad4(data.length));
  };
  entries.forEach((e, i) => add(i + 1, e));
  add(0, { name: 'TRAILER!!!', mode: 0 });
  return Buffer.concat(parts);
}

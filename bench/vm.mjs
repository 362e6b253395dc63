// minc --qemu figures: the cold first run (kernel ELF and initramfs made), warm runs of `true`,
// and `cat` of 1,000 small files over 9p against virtiofs.  Without a usable /dev/kvm
// (none, or a PVM one) it runs under TCG (--qemu-tcg) and says so.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const minc = new URL('../bin/minc', import.meta.url).pathname;
const kvm = existsSync('/dev/kvm') && !existsSync('/sys/module/kvm_pvm');
const q = kvm ? ['--qemu'] : ['--qemu', '--qemu-tcg'];
const cache = mkdtempSync('/var/tmp/minc-bench-vmcache-');
const time = (args, env = {}) => {
  const t = process.hrtime.bigint();
  execFileSync(minc, [...q, ...args], { env: { ...process.env, MINC_VM_CACHE: cache, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  return Number(process.hrtime.bigint() - t) / 1e6;
};
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// (the cache and the files are removed however the bench ends: a failed run throws out of time())
let files;
try {
  console.log(`minc --qemu (${kvm ? 'KVM' : 'TCG: no usable /dev/kvm here'})`);
  console.log(`  cold first run (true): ${time(['true']).toFixed(0)} ms`);
  console.log(`  warm run (true), median of 5: ${median(Array.from({ length: 5 }, () => time(['true']))).toFixed(0)} ms`);
  files = mkdtempSync('/tmp/minc-bench-files-');
  mkdirSync(join(files, 'd'));
  for (let i = 0; i < 1000; i++) writeFileSync(join(files, 'd', `f${i}`), `file ${i}\n`);
  for (const fs of ['9p', 'virtiofs']) {
    const base = median(Array.from({ length: 3 }, () => time(['true'], { MINC_QEMU_FS: fs })));
    const cat = median(Array.from({ length: 3 }, () => time(["sh", "-c", `cat ${files}/d/* > /dev/null`], { MINC_QEMU_FS: fs }))); // the files are in the root share
    console.log(`  ${fs}: true ${base.toFixed(0)} ms, cat of 1,000 small files ${cat.toFixed(0)} ms (${(cat - base).toFixed(0)} ms for the files)`);
  }
} finally {
  if (files) rmSync(files, { recursive: true, force: true });
  rmSync(cache, { recursive: true, force: true });
}

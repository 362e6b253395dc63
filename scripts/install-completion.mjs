#!/usr/bin/env node
// npm install -g: put the shell completions where bash-completion and zsh
// look under npm's prefix (as npm links the man pages to PREFIX/share/man):
// PREFIX/share/bash-completion/completions/{minc,marten} and
// PREFIX/share/zsh/site-functions/_minc.  A local install does nothing.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const prefix = process.env.npm_config_prefix;
if (process.env.npm_config_global === 'true' && prefix && existsSync(join(root, 'completion/minc.bash'))) {
  const bash = join(prefix, 'share/bash-completion/completions');
  const zsh = join(prefix, 'share/zsh/site-functions');
  try {
    mkdirSync(bash, { recursive: true });
    mkdirSync(zsh, { recursive: true });
    for (const cmd of ['minc', 'marten']) copyFileSync(join(root, 'completion/minc.bash'), join(bash, cmd));
    copyFileSync(join(root, 'completion/_minc'), join(zsh, '_minc'));
  } catch (err) {
    // not fatal: the commands work without completion
    console.error(`mincs-ts: shell completion not installed (${err instanceof Error ? err.message : String(err)}); see README`);
  }
}

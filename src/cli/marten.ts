/** marten [--debug] COMMAND: the image and container store (MINCS's marten). */
import { MincError } from '../errors.js';
import { Store } from '../marten/store.js';

const out = (line: string): void => void process.stdout.write(`${line}\n`);
const note = (line: string): void => void process.stderr.write(`marten: ${line}\n`);

/**
 * pull and unpack with plain arguments skip yargs (~100 ms to load); anything
 * else (--help, a typo) goes the yargs way, which also renders the help.
 */
async function fast(argv: string[]): Promise<boolean> {
  const flags: Record<string, string | true> = {};
  const pos: string[] = [];
  const valued = ['platform', 'name', 'max-layer-size'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (m) {
      const [, key, val] = m as unknown as [string, string, string | undefined];
      if (key === 'debug' || key === 'insecure') {
        if (val !== undefined) return false;
        flags[key] = true;
      } else if (valued.includes(key)) {
        const v = val ?? argv[++i];
        if (v === undefined || v === '') return false;
        flags[key] = v;
      } else return false;
    } else if (a.startsWith('-')) return false;
    else pos.push(a);
  }
  const [cmd, ref, ...rest] = pos;
  if (!ref || rest.length > 0) return false;
  const str = (k: string): string | undefined => (typeof flags[k] === 'string' ? (flags[k] as string) : undefined);
  if (cmd === 'pull') {
    await pullCmd(ref, { platform: str('platform'), insecure: Boolean(flags.insecure), name: str('name') }, str('max-layer-size'));
    return true;
  }
  if (cmd === 'unpack' && !flags.platform && !flags.name && !flags.insecure) {
    out(await unpack(ref, str('max-layer-size')));
    return true;
  }
  return false;
}

/** --max-layer-size SIZE (512M, 1G, ...) as unpack options. */
async function layerLimit(size: string | undefined): Promise<{ maxSize?: number; maxSizeText?: string }> {
  if (size === undefined) return {};
  const { parseSize } = await import('../cgroup/config.js');
  return { maxSize: parseSize('--max-layer-size', size), maxSizeText: size };
}

async function unpack(ref: string, maxLayerSize?: string, store = new Store()): Promise<string> {
  const limit = await layerLimit(maxLayerSize);
  const { resolveImage } = await import('../marten/model.js');
  const { unpackImage } = await import('../marten/layers/lazy.js');
  const img = resolveImage(store, ref);
  await unpackImage(store, img.id, limit);
  return img.id;
}

/** pull; with --max-layer-size the image is unpacked right away under that bound (else on first use, under the default). */
async function pullCmd(ref: string, opts: { platform?: string; insecure?: boolean; name?: string }, maxLayerSize?: string): Promise<void> {
  await layerLimit(maxLayerSize); // a bad size is refused before anything is fetched
  const store = new Store();
  const { pull } = await import('../marten/registry/pull.js');
  const id = await pull(store, ref, opts);
  if (maxLayerSize !== undefined) await unpack(id, maxLayerSize, store);
  out(id);
}

/** A user's diff and commit read the container's upper in a user namespace with the user's map (marten/userns.ts): true when done so. */
async function mapped(argv: readonly string[]): Promise<boolean> {
  const { rerunMapped } = await import('../marten/userns.js');
  const status = rerunMapped(new Store(), argv);
  if (status === null) return false;
  process.exitCode = status;
  return true;
}

async function main(argv: string[]): Promise<void> {
  if (argv.length === 1 && argv[0] === '--version') {
    const { packageVersion } = await import('../version.js');
    out(`marten ${packageVersion()}`);
    return;
  }
  // `marten help [CMD]` is `marten [CMD] --help`
  if (argv[0] === 'help' && argv.length <= 2) argv = [...argv.slice(1), '--help'];
  if (await fast(argv)) return;
  const store = (): Store => new Store();
  const { default: yargs } = await import('yargs');
  await yargs(argv)
    .scriptName('marten')
    .usage('$0 [--debug] COMMAND [ARGS...]\nManager of image archives and temporary containers (store: $MINCS_DIR, default /var/lib/mincs for root, $XDG_DATA_HOME/mincs or ~/.local/share/mincs for a user)')
    .option('debug', { type: 'boolean', describe: 'Show stack traces of errors' })
    .example('marten pull alpine:3', 'Pull an image from Docker Hub')
    .example('minc -r alpine:3 sh', 'Run a shell in a new container of it')
    .example('marten lc', 'List the containers')
    .example('marten commit CONTAINER --name mine', 'Its changes become the image mine')
    .example('marten help pull', "pull's options (as marten pull --help)")
    .command(['list', 'lc'], 'List containers', (y) => y.option('long', { alias: 'l', type: 'boolean', describe: 'Full ids' }),
      async (a) => {
        const { listContainersText } = await import('../marten/show.js');
        out(listContainersText(store(), Boolean(a.long)));
      })
    .command(['images', 'li'], 'List images', (y) => y.option('long', { alias: 'l', type: 'boolean', describe: 'Full ids' }), async (a) => {
      const { listImagesText } = await import('../marten/show.js');
      out(await listImagesText(store(), Boolean(a.long)));
    })
    .command('import <path>', 'Import a rootfs DIR or tarball, an OCI layout DIR or tarball, a docker save tarball or a polecat tgz/squashfs bundle as an image',
      (y) => y.positional('path', { type: 'string', demandOption: true }).option('name', { type: 'string', describe: 'Name the image' }), async (a) => {
        const { importPath } = await import('../marten/importer.js');
        out(await importPath(store(), a.path, { name: a.name }));
      })
    .command('pull <ref>', 'Pull [REGISTRY[:PORT]/]NAME[:TAG|@DIGEST] (default Docker Hub)',
      (y) => y.positional('ref', { type: 'string', demandOption: true })
        .option('platform', { type: 'string', describe: 'OS/ARCH[/VARIANT] to pick from a multi-platform image' })
        .option('insecure', { type: 'boolean', describe: 'Plain http (always allowed for localhost)' })
        .option('name', { type: 'string', describe: 'Name the image (default: NAME[:TAG], as MINCS)' })
        .option('max-layer-size', { type: 'string', describe: 'Unpack the layers now, stopping at a layer larger than SIZE uncompressed (512M, 1G; default 32G, on first use)' }),
      async (a) => {
        await pullCmd(a.ref, { platform: a.platform, insecure: a.insecure, name: a.name }, a['max-layer-size']);
      })
    .command('unpack <image>', 'Unpack the layers of a pulled image now (else done on its first use by minc -r)',
      (y) => y.positional('image', { type: 'string', demandOption: true })
        .option('max-layer-size', { type: 'string', describe: 'Stop at a layer larger than SIZE uncompressed (512M, 1G; default 32G): a gzip bomb' }), async (a) => {
        out(await unpack(a.image, a['max-layer-size']));
      })
    .command('push <image> [dest]', 'Push IMAGE as [REGISTRY/]NAME[:TAG] (default: its name)',
      (y) => y.positional('image', { type: 'string', demandOption: true }).positional('dest', { type: 'string' })
        .option('insecure', { type: 'boolean', describe: 'Plain http (always allowed for localhost)' }), async (a) => {
        const { push } = await import('../marten/registry/push.js');
        out(await push(store(), a.image, a.dest, { insecure: a.insecure }));
      })
    .command('commit <container>', 'Commit a container as a new image on top of its own (a running one is frozen meanwhile)',
      (y) => y.positional('container', { type: 'string', demandOption: true }).option('name', { type: 'string', describe: 'Name the image' })
        .option('pause', { type: 'boolean', describe: 'Commit a running container that has no cgroup: its processes are frozen (or stopped) meanwhile' }), async (a) => {
        if (await mapped(argv)) return;
        const { commitContainer } = await import('../marten/commit.js');
        out(await commitContainer(store(), a.container, { name: a.name, pause: a.pause }));
      })
    .command('export <image>', 'Write IMAGE as a docker-archive / OCI layout tarball',
      (y) => y.positional('image', { type: 'string', demandOption: true }).option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'FILE' }),
      async (a) => {
        const { exportImage } = await import('../marten/exporter.js');
        out(await exportImage(store(), a.image, a.output));
      })
    .command('diff <container>', "List a container's changes, as docker diff (A/C/D PATH; minc --summary)",
      (y) => y.positional('container', { type: 'string', demandOption: true }).option('json', { type: 'boolean', describe: 'Kind and what changed, as JSON' }),
      async (a) => {
        const { resolveContainer } = await import('../marten/model.js');
        const c = resolveContainer(store(), a.container);
        if (await mapped(argv)) return;
        const { summaryCommand } = await import('../review/cli.js');
        process.exitCode = summaryCommand(c.dir, { json: Boolean(a.json), exitCode: false, exclude: [] });
      })
    .command('inspect <ref>', 'Show an image or container as JSON', (y) => y.positional('ref', { type: 'string', demandOption: true }), async (a) => {
      const { inspect } = await import('../marten/show.js');
      out(JSON.stringify(inspect(store(), a.ref), null, 2));
    })
    .command('rm [containers..]', 'Remove containers', (y) => y.positional('containers', { type: 'string', array: true })
      .option('all-stopped', { type: 'boolean', describe: 'Remove every container that is not running' }), async (a) => {
      const { removeContainer, removeStopped } = await import('../marten/ops.js');
      if (a['all-stopped']) for (const id of await removeStopped(store())) out(id);
      else if (!a.containers?.length) throw new UsageErr('rm: give containers, or --all-stopped');
      for (const c of a.containers ?? []) out(await removeContainer(store(), c));
    })
    .command('stop <run>', 'Stop a running container or background run (ID or NAME as lc shows it, or its temp dir), as minc --stop',
      (y) => y.positional('run', { type: 'string', demandOption: true }), async (a) => {
        const { stop } = await import('../run/background.js');
        await stop(a.run);
      })
    .command('logs <run>', "A background run's output (its log; its debug file, minc's and the command's stderr, to stderr)",
      (y) => y.positional('run', { type: 'string', demandOption: true }), async (a) => {
        const { showLogs } = await import('../marten/logs.js');
        await showLogs(a.run);
      })
    .command('rmi <images..>', 'Remove images, and their nameless parents that nothing else uses', (y) => y.positional('images', { type: 'string', array: true, demandOption: true }), async (a) => {
      const { removeImage } = await import('../marten/ops.js');
      for (const i of a.images) for (const id of await removeImage(store(), i)) out(id);
    })
    .command('rename <container> <name>', 'Rename a container', (y) => y.positional('container', { type: 'string', demandOption: true })
      .positional('name', { type: 'string', demandOption: true }), async (a) => {
      const { renameContainer } = await import('../marten/ops.js');
      out(await renameContainer(store(), a.container, a.name));
    })
    .command('tag <image> <name>', 'Give an image one more name', (y) => y.positional('image', { type: 'string', demandOption: true })
      .positional('name', { type: 'string', demandOption: true }), async (a) => {
      const { tagImage } = await import('../marten/ops.js');
      out(await tagImage(store(), a.image, a.name));
    })
    .command('renamei <image> <name>', 'Rename an image (NAME becomes its only name)', (y) => y.positional('image', { type: 'string', demandOption: true })
      .positional('name', { type: 'string', demandOption: true }), async (a) => {
      const { tagImage } = await import('../marten/ops.js');
      out(await tagImage(store(), a.image, a.name, true));
    })
    .command('prune', "Remove dead runs' leftovers, nameless images nothing uses, and unreferenced blobs", () => undefined, async () => {
      const { prune } = await import('../marten/prune.js');
      const removed = await prune(store());
      for (const r of removed) out(`removed ${r}`);
      if (removed.length === 0) note('nothing to remove');
    })
    .demandCommand(1, 'marten: give a command (see marten --help)')
    .strict()
    .fail((msg, err) => {
      if (err) throw err;
      throw new UsageErr(msg);
    })
    .help()
    // (a lone --version is answered before yargs is loaded, as `marten VERSION`)
    .version('version', "Print marten's version", (await import('../version.js')).packageVersion())
    .parseAsync();
}

class UsageErr extends MincError {
  constructor(msg: string) {
    super(msg.replace(/^marten: /, ''), { status: 2 });
  }
}

const argv = process.argv.slice(2);

/**
 * Every error ends here: one `marten: ` line (its first, control characters shown as `?`:
 * a registry or an archive may have written them), the stack only with --debug.
 */
function report(err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`marten: ${(e.message.split('\n')[0] ?? '').replace(/[\0-\x1f\x7f]/g, '?')}\n`);
  if (argv.includes('--debug') && e.stack) process.stderr.write(`${e.stack}\n`);
  process.exitCode = err instanceof MincError ? err.status : 1;
}
// an error thrown outside main's promise (a stream's late 'error') gets the same one line, not node's trace
process.on('uncaughtException', (err) => {
  report(err);
  process.exit();
});
main(argv).then(() => undefined, report);

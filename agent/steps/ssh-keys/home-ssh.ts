// Writing private keys into `~/.ssh` of the primary container through a tar
// copy (never through the environment or a command line, where other
// processes could read them), owned by the container's user, as ssh demands.

import { Readable } from 'node:stream';
import tar from 'tar-stream';
import type { ContainerUser } from '../container-script.js';
import type { StepContext } from '../step.js';

export interface SshFile {
  /** name inside `~/.ssh` */
  name: string;
  contents: Buffer;
}

/** Puts `files` into `<home>/.ssh` (0700), each 0600. Returns their absolute paths. */
export async function installSshFiles(
  ctx: Pick<StepContext, 'executor' | 'signal' | 'home'>,
  files: SshFile[],
  owner: ContainerUser,
): Promise<string[]> {
  const pack = tar.pack();
  const now = new Date();
  const common = { uid: owner.uid, gid: owner.gid, mtime: now };
  pack.entry({ ...common, name: '.ssh', type: 'directory', mode: 0o700 });
  for (const file of files) {
    // The key ends with a newline: ssh rejects an OpenSSH key without one.
    const contents = file.contents.at(-1) === 0x0a ? file.contents : Buffer.concat([file.contents, Buffer.from('\n')]);
    pack.entry({ ...common, name: `.ssh/${file.name}`, type: 'file', mode: 0o600 }, contents);
  }
  pack.finalize();
  await ctx.executor.copyIn(ctx.home, Readable.from(pack, { objectMode: false }), ctx.signal);
  const base = ctx.home.endsWith('/') ? ctx.home : `${ctx.home}/`;
  return files.map((file) => `${base}.ssh/${file.name}`);
}

// The `checkout` step. From a local source it copies the developer's
// repository — work tree as git sees it, uncommitted changes included, and
// `.git` — into the checkout directory, so the image needs no git. From a git
// source it clones inside the container, as CircleCI does (over SSH with the
// checkout key, when the assignment names one).

import type { GitSource } from '../assignment/assignment.js';
import type { CheckoutStep } from '../jobspec/jobspec.js';
import { failureResult, StepFailure } from './container-script.js';
import { checkoutDirectory, inspectDestination, refuseOccupied, type Destination } from './checkout/destination.js';
import { localTree } from './checkout/local-tree.js';
import { LocalReadError, packTree, type PackStats } from './checkout/pack-tree.js';
import { parseCheckoutKey, remoteCheckout } from './checkout/remote.js';
import type { StepContext, StepHandler, StepResult } from './step.js';
import { formatBytes } from '../store/format-bytes.js';

export const checkoutStep: StepHandler<CheckoutStep> = async (step, ctx) => {
  const directory = checkoutDirectory(step.path, ctx.workingDirectory, ctx.home);
  const { source } = ctx.inputs;
  if (source.kind === 'local' && source.skipCheckout === true) {
    ctx.output.write('agent', `Checkout skipped (--skip-checkout): using ${directory} as it is\n`);
    return { status: 'success' };
  }
  try {
    const destination = await inspectDestination(ctx, directory);
    refuseOccupied(directory, destination.state);
    if (source.kind === 'git') return await fromRemote(step, ctx, source, directory, destination);
    return await fromLocal(ctx, source.path, directory, destination);
  } catch (error) {
    return failureResult(ctx, error);
  }
};

async function fromRemote(step: CheckoutStep, ctx: StepContext, source: GitSource, directory: string, destination: Destination): Promise<StepResult> {
  const key = ctx.inputs.checkoutKey ? parseCheckoutKey(ctx.inputs.checkoutKey) : undefined;
  const result = await remoteCheckout(ctx, { source, directory, method: step.method, user: destination.user, ...(key ? { key } : {}) });
  if (result.aborted) return { status: 'canceled', exitCode: result.exitCode, message: 'cancelled' };
  if (result.exitCode !== 0) {
    return { status: 'failed', exitCode: result.exitCode, message: `cloning ${source.url} failed (exit ${result.exitCode})` };
  }
  return { status: 'success', exitCode: 0 };
}

async function fromLocal(ctx: StepContext, repository: string, directory: string, destination: Destination): Promise<StepResult> {
  const started = performance.now();
  const tree = await localTree(repository);
  for (const note of tree.notes) ctx.output.write('agent', `${note}\n`);

  if (destination.state === 'git') {
    // The local .git replaces the old one whole, so no stale refs or index survive;
    // other files are overwritten, and untracked leftovers stay (as after a fetch).
    ctx.output.write('agent', `${directory} is already a git checkout: replacing its .git and its files\n`);
    await removeDotGit(ctx, directory);
  }
  const what = tree.kind === 'git' ? 'the work tree (tracked and untracked, not ignored) and .git of' : 'the folder';
  ctx.output.write('agent', `Copying ${what} ${tree.root} into ${directory}\n`);

  const packed = packTree(tree.root, tree.paths, destination.user);
  const [copied, stats] = await Promise.allSettled([ctx.executor.copyIn(directory, packed.stream, ctx.signal), packed.done]);
  // A failure to read a local file explains more than the broken copy it causes.
  if (stats.status === 'rejected' && (stats.reason instanceof LocalReadError || copied.status === 'fulfilled')) {
    throw new StepFailure(`checkout: cannot read the local repository: ${messageOf(stats.reason)}`);
  }
  if (copied.status === 'rejected') throw copied.reason;
  if (stats.status === 'rejected') throw stats.reason;

  ctx.output.write('agent', summary(stats.value, performance.now() - started));
  if (stats.value.skipped.length > 0) {
    ctx.output.write('agent', `Left out ${stats.value.skipped.length} special files (sockets, fifos, devices): ${stats.value.skipped.slice(0, 5).join(', ')}\n`);
  }
  return { status: 'success' };
}

async function removeDotGit(ctx: StepContext, directory: string): Promise<void> {
  const run = ctx.executor.exec({ command: ['rm', '-rf', '--', `${directory}/.git`], signal: ctx.signal });
  const errors: Buffer[] = [];
  run.stdout.resume();
  run.stderr.on('data', (chunk: Buffer) => errors.push(chunk));
  const { exitCode } = await run.exit;
  if (exitCode !== 0) {
    const said = Buffer.concat(errors).toString('utf8').replace(/\s+/g, ' ').trim();
    throw new StepFailure(`checkout: cannot replace ${directory}/.git in the primary container (${said || `rm exited with ${exitCode}`}); remove it, or check its permissions`);
  }
}

function summary(stats: PackStats, elapsedMs: number): string {
  const parts = [`${stats.files} files`, `${stats.directories} directories`];
  if (stats.symlinks > 0) parts.push(`${stats.symlinks} symlinks`);
  return `Copied ${parts.join(', ')} (${formatBytes(stats.bytes)}) in ${(elapsedMs / 1000).toFixed(1)}s\n`;
}


function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

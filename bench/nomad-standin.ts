/**
 * The harness's stand-in Nomad agent in run mode (nomad-plugin/harness/cmd/standin-nomad), built
 * with Go and started on loopback, for benchmarks of `deckhand serve --backend nomad`: each
 * dispatched task runs for real as `deckhand agent nomad-task`. Undefined when Go is missing.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { deckhandBin } from '../test/support/execute.js';
import { repo } from './support.js';

export interface StandInNomad {
  address: string;
  stop(): Promise<void>;
}

export async function startStandInNomad(dir: string): Promise<StandInNomad | undefined> {
  const binary = join(dir, 'standin-nomad');
  try {
    execFileSync('go', ['build', '-o', binary, './cmd/standin-nomad'], { cwd: join(repo, 'nomad-plugin', 'harness'), stdio: 'pipe' });
  } catch (err) {
    console.log(`the Nomad stand-in cannot be built (${(err as Error).message.split('\n')[0]}): no Nomad figures`);
    return undefined;
  }
  const child: ChildProcess = spawn(binary, ['--deckhand', deckhandBin, '--run-dir', join(dir, 'allocations')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`standin-nomad exited with ${code}`)));
  });
  return {
    address: (JSON.parse(line) as { address: string }).address,
    async stop() {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
  };
}

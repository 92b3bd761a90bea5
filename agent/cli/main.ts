/**
 * The `deckhand` command line. Each subcommand's module is imported only when it runs, so
 * `--help`, `--version` and `config validate` never load Docker, gRPC or SSH code.
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { packagePath } from '../package-root.js';
import type { ExecuteOptions } from '../runner/execute.js';
import { reportAndExit } from './errors.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

function version(): string {
  const pkg = JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command('deckhand')
    .description('Run CircleCI jobs locally and on Nomad: an open-source, CircleCI-compatible build agent')
    .version(version(), '-V, --version')
    .option('--debug', 'show stack traces and internal detail on errors')
    .showSuggestionAfterError(true)
    .exitOverride();

  const config = program.command('config').description('check and compile .circleci/config.yml');
  config
    .command('validate')
    .description('check a config: exit 0 if valid, else one FILE:LINE:COL line per problem and exit 1')
    .option('-c, --config <file>', 'config file', '.circleci/config.yml')
    .action(async (opts: { config: string }) => {
      const { validateCommand } = await import('./config-validate.js');
      process.exitCode = validateCommand(opts.config);
    });
  config
    .command('process')
    .description('print the processed 2.0 config (orbs, commands, parameters, matrix expanded), or one job\'s JobSpec')
    .option('-c, --config <file>', 'config file', '.circleci/config.yml')
    .option('--pipeline-parameters <file|json>', 'pipeline parameter values: a JSON/YAML file or inline JSON')
    .option('--branch <name>', 'pipeline.git.branch (default: the local repository\'s branch)')
    .option('--tag <name>', 'pipeline.git.tag')
    .option('--revision <sha>', 'pipeline.git.revision (default: the local repository\'s HEAD)')
    .option('--job <name>', 'one job: a workflow job name, or a job definition')
    .option('--workflow <name>', 'look the job up in this workflow')
    .option('--jobspec', 'print the JobSpec JSON of --job instead of YAML')
    .action(async (opts: ProcessFlags) => {
      const { processCommand } = await import('./config-process.js');
      process.exitCode = processCommand(opts);
    });

  program
    .command('execute')
    .description('run one job of a config locally in Docker, as CircleCI would')
    .option('--job <name>', 'the job: a workflow job name or a job definition', 'build')
    .option('-c, --config <file>', 'config file', '.circleci/config.yml')
    .option('--workflow <name>', 'look the job up in this workflow')
    .option('-e, --env <KEY=VALUE>', 'a project variable (repeatable; masked in output)', collect, [])
    .option('--env-file <file>', 'project variables from a KEY=VALUE file (masked in output)')
    .option('--context <name>', 'add a context from $DECKHAND_HOME/contexts.yml (repeatable)', collect, [])
    .option('--node-total <n>', 'CIRCLE_NODE_TOTAL: how many parallel nodes to simulate', toInt, 1)
    .option('--index <i>', 'CIRCLE_NODE_INDEX: which node this run is', toInt, 0)
    .addOption(new Option('--pull <policy>', 'when to pull images').choices(['always', 'missing', 'never']).default('missing'))
    .option('--skip-checkout', 'checkout uses what is already in the working directory')
    .option('--checkout-key <file>', 'private key for checking out CIRCLE_REPOSITORY_URL over SSH')
    .addOption(new Option('--output <format>', 'text for people, json for NDJSON events').choices(['text', 'json']).default('text'))
    .option('--log-file <file>', 'where to write the full log (default under $DECKHAND_HOME/logs)')
    .option('--isolate-network', 'give the job a Docker network of its own instead of the default bridge')
    .option('--pipeline-parameters <file|json>', 'pipeline parameter values: a JSON/YAML file or inline JSON')
    .option('--branch <name>', 'CIRCLE_BRANCH / pipeline.git.branch (default: the local branch)')
    .option('--tag <name>', 'CIRCLE_TAG / pipeline.git.tag')
    .option('--revision <sha>', 'CIRCLE_SHA1 / pipeline.git.revision (default: the local HEAD)')
    .action(async (opts: ExecuteFlags) => {
      const { executeCommand } = await import('./execute.js');
      process.exitCode = await executeCommand(opts, program.opts<{ color: boolean }>().color);
    });

  const orb = program.command('orb').description('the local orb registry (under DECKHAND_HOME, default ~/.deckhand)');
  orb
    .command('import <file>')
    .description('add an orb source file to the local registry')
    .requiredOption('--name <ns/name@version>', 'the reference configs use, e.g. circleci/node@5.1.0')
    .action(async (file: string, opts: { name: string }) => {
      const { orbImportCommand } = await import('./orb.js');
      process.exitCode = orbImportCommand(file, opts.name);
    });
  orb
    .command('list')
    .description('list the orbs in the local registry')
    .action(async () => {
      const { orbListCommand } = await import('./orb.js');
      process.exitCode = orbListCommand();
    });
  program.addOption(new Option('--no-color', 'disable colour output'));
  return program;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function toInt(value: string): number {
  return /^\d+$/.test(value) ? Number(value) : Number.NaN;
}

/** The execute flags as commander parses them: ExecuteOptions' own fields, plus the raw forms
 *  the command turns into options (`--pipeline-parameters` is still a file or JSON here). */
export type ExecuteFlags = Pick<
  ExecuteOptions,
  'job' | 'config' | 'workflow' | 'env' | 'envFile' | 'context' | 'nodeTotal' | 'index' | 'pull' | 'output' | 'checkoutKey' | 'logFile' | 'branch' | 'tag' | 'revision'
> & {
  skipCheckout?: boolean;
  isolateNetwork?: boolean;
  pipelineParameters?: string;
};

export interface ProcessFlags {
  config: string;
  pipelineParameters?: string;
  branch?: string;
  tag?: string;
  revision?: string;
  job?: string;
  workflow?: string;
  jobspec?: boolean;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; every other commander error is a usage error
      process.exitCode = err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
      return;
    }
    reportAndExit(err, debug);
  }
}

/**
 * The `deckhand` command line. Each subcommand's module is imported only when it runs, so
 * `--help`, `--version` and `config validate` never load Docker, gRPC or SSH code.
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { reportAndExit } from './errors.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
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

/**
 * The `deckhand` command line. Each subcommand's module is imported only when it runs, so
 * `--help`, `--version` and `config validate` never load Docker, gRPC or SSH code.
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { DEFAULT_ARTIFACTS_LISTEN } from '../artifacts/listen.js';
import { packagePath } from '../package-root.js';
import { EXIT_ERROR, EXIT_OK, UsageError } from '../errors.js';
import type { RetainedKind } from '../store/retention.js';
import type { AgentRunFlags, NomadTaskFlags } from './agent.js';
import type { ExecuteFlags } from './execute.js';
import { nodeReadEnvFile } from './node-env-file.js';
import { reportAndExit } from './report-error.js';
import type { OrbFlags } from './orb-access.js';
import type { RunFlags } from './run.js';

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
    .description('check a config: exit 0 if valid, else one FILE:LINE:COL line per problem (all of them) and exit 1; warnings do not fail it')
    .option('-c, --config <file>', 'config file', '.circleci/config.yml')
    .option(ORB_REGISTRY_FLAG, ORB_REGISTRY_HELP)
    .option('--offline', OFFLINE_HELP)
    .action(async (opts: { config: string } & OrbFlags) => {
      const { validateCommand } = await import('./config-validate.js');
      process.exitCode = await validateCommand(opts.config, opts);
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
    .option(ORB_REGISTRY_FLAG, ORB_REGISTRY_HELP)
    .option('--offline', OFFLINE_HELP)
    .action(async (opts: ProcessFlags) => {
      const { processCommand } = await import('./config-process.js');
      process.exitCode = await processCommand(opts);
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
    .addOption(machineProviderOption())
    .option('--machine-pool <file>', 'the static provider\'s pool of hosts (docs/machine.md)')
    .option('--machine-aws-config <file>', 'the aws provider\'s settings, JSON (docs/machine.md)')
    .option('--pipeline-parameters <file|json>', 'pipeline parameter values: a JSON/YAML file or inline JSON')
    .option('--branch <name>', 'CIRCLE_BRANCH / pipeline.git.branch (default: the local branch)')
    .option('--tag <name>', 'CIRCLE_TAG / pipeline.git.tag')
    .option('--revision <sha>', 'CIRCLE_SHA1 / pipeline.git.revision (default: the local HEAD)')
    .option('--store <dir|s3://bucket/prefix>', 'where caches, workspaces and artifacts go (default $DECKHAND_HOME/store; docs/storage.md)')
    // a workflow around this one job, as `deckhand run` gives it (tests, and scripts that chain jobs)
    .addOption(new Option('--workflow-run-id <id>', 'the workflow run this job belongs to (scopes workspaces)').hideHelp())
    .addOption(new Option('--job-run-id <id>', 'this job run\'s id (scopes its workspace layers and artifacts)').hideHelp())
    .addOption(new Option('--upstream-job-run-id <id>', 'a job run whose workspace layers attach_workspace applies (repeatable, in order)').hideHelp().argParser(collect).default([]))
    .option('--output-processor <host:port>', 'also stream the job\'s output over gRPC to this output processor (docs/output-streaming.md)')
    .option('--job-id <id>', 'the job\'s id at the output processor (default: a fresh UUID)')
    .option('--output-token <token>', 'the job\'s token for the output processor (default: $DECKHAND_OUTPUT_TOKEN)')
    .option('--output-secret-file <file>', 'the output processor\'s token secret (its DATA/secret): mint the job\'s token here, for any --job-id or the default one (default: $DECKHAND_OUTPUT_SECRET_FILE)')
    .option('--tls-ca <file>', 'CA certificate (PEM) that signed the output processor\'s certificate: use TLS')
    .option('--tls-cert <file>', 'client certificate (PEM) for an output processor that requires one (with --tls-key)')
    .option('--tls-key <file>', 'the client certificate\'s private key (PEM)')
    .option('--output-deadline <seconds>', 'how long to keep delivering output after the job ended (default 60)')
    .option('--output-url <base>', 'the output processor\'s HTTP address, to print the job\'s page (e.g. http://host:8080)')
    .addOption(logFormatOption())
    .option('--ssh', 'SSH into the job: print `ssh -p PORT USER@HOST`, and hold the job at its end while sessions are open (docs/ssh-into-builds.md)')
    .option('--ssh-authorized-keys <file>', 'public keys that may log in (repeatable; default ~/.ssh/*.pub)', collect, [])
    .option('--ssh-port <port|first-last>', 'the port to listen on, or the first free one of a range (default 64535-65535)')
    .option('--ssh-host <address>', 'the address printed in the ssh line (default: this machine\'s address on its default route)')
    .option('--ssh-wait <duration>', 'how long the end of the job waits for a first session (default 10m)')
    .option('--ssh-max-hold <duration>', 'how long the end of the job is held while sessions are open (default 2h)')
    .option('--print-assignment', 'print the job\'s assignment (JSON; secrets as references) and exit without running it: deckhand agent run takes it (docs/assignment.md)')
    .option(ORB_REGISTRY_FLAG, ORB_REGISTRY_HELP)
    .option('--offline', OFFLINE_HELP)
    .action(async (opts: ExecuteFlags) => {
      const { executeCommand } = await import('./execute.js');
      process.exitCode = await executeCommand(opts, program.opts<{ color: boolean }>().color);
    });

  program
    .command('run')
    .description('run a whole workflow locally in Docker: jobs in dependency order, in parallel up to the machine\'s capacity')
    .option('--workflow <name>', 'the workflow (default: the only one)')
    .option('-c, --config <file>', 'config file', '.circleci/config.yml')
    .option('--branch <name>', 'the branch filters see; CIRCLE_BRANCH (default: the local branch)')
    .option('--tag <name>', 'run for this tag: only jobs whose tags filter allows it run')
    .option('--revision <sha>', 'CIRCLE_SHA1 / pipeline.git.revision (default: the local HEAD)')
    .addOption(new Option('--approve <answer>', 'answer every approval job without asking (needed when not on a terminal)').choices(['all', 'none']))
    .option('--max-parallel <n>', 'run at most N jobs at once (default: what fits in this machine after keeping 2 CPUs and 4 GB back)', toInt)
    .option('--log-dir <dir>', 'write each job\'s log to DIR/<job>.log (default under $DECKHAND_HOME/logs)')
    .option('-e, --env <KEY=VALUE>', 'a project variable (repeatable; masked in output)', collect, [])
    .option('--env-file <file>', 'project variables from a KEY=VALUE file (masked in output)')
    .option('--context <name>', 'add a context from $DECKHAND_HOME/contexts.yml to every job (repeatable)', collect, [])
    .addOption(new Option('--pull <policy>', 'when to pull images').choices(['always', 'missing', 'never']).default('missing'))
    .option('--skip-checkout', 'checkout uses what is already in the working directory')
    .option('--checkout-key <file>', 'private key for checking out CIRCLE_REPOSITORY_URL over SSH')
    .option('--isolate-network', 'give each job a Docker network of its own instead of the default bridge')
    .addOption(machineProviderOption())
    .option('--machine-pool <file>', 'the static provider\'s pool of hosts (docs/machine.md)')
    .option('--machine-aws-config <file>', 'the aws provider\'s settings, JSON (docs/machine.md)')
    .option('--store <dir|s3://bucket/prefix>', 'where caches, workspaces and artifacts go (default $DECKHAND_HOME/store; docs/storage.md)')
    .option('--pipeline-parameters <file|json>', 'pipeline parameter values: a JSON/YAML file or inline JSON')
    .option(ORB_REGISTRY_FLAG, ORB_REGISTRY_HELP)
    .option('--offline', OFFLINE_HELP)
    .action(async (opts: RunFlags) => {
      const { runCommand } = await import('./run.js');
      process.exitCode = await runCommand(opts, program.opts<{ color: boolean }>().color);
    });

  program
    .command('clean')
    .description('remove the containers and networks of agents that died (killed, out of memory, a reboot); never what a running agent owns (docs/execute.md)')
    .option('--dry-run', 'only say what would be removed')
    .action(async (opts: { dryRun?: boolean }) => {
      const { cleanCommand } = await import('./reclaim.js');
      process.exitCode = await cleanCommand(opts);
    });

  const agent = program.command('agent').description('the build agent: run one job assignment, as a Nomad task or by hand (docs/assignment.md)');
  agent
    .command('run')
    .description('run one job assignment (JSON, as deckhand execute --print-assignment writes it); exit 0 success, 1 job failed, 2 error or output lost, 130/143 canceled')
    .requiredOption('--assignment <file|->', 'the assignment file, or - for standard input')
    .addOption(new Option('--output <format>', 'text for people, json for NDJSON events').choices(['text', 'json']).default('text'))
    .addOption(logFormatOption())
    .option('--log-file <file>', 'where to write the full log (default under $DECKHAND_HOME/logs)')
    .action(async (opts: AgentRunFlags) => {
      const { agentRunCommand } = await import('./agent.js');
      process.exitCode = await agentRunCommand(opts, program.opts<{ color: boolean }>().color);
    });
  agent
    .command('nomad-task')
    .description('the main task of a Nomad job: run the assignment of the dispatch payload ($NOMAD_TASK_DIR/payload), cancel gracefully on the kill signal (docs/assignment.md)')
    .option('--payload <file>', 'the payload file: the assignment as JSON or gzip, or {"assignmentUrl": URL, "tokenFile": FILE} (default $NOMAD_TASK_DIR/payload)')
    .option('--kill-timeout <duration>', 'the job\'s kill_timeout: a cancel ends within it (e.g. 30s, 1m30s)', '30s')
    .addOption(new Option('--output <format>', 'the job\'s output on stdout: text, or json for NDJSON events').choices(['text', 'json']).default('text'))
    .addOption(logFormatOption('json'))
    .option('--log-file <file>', 'where to write the full log (default $NOMAD_TASK_DIR/deckhand-job.log)')
    .option('--store <dir|s3://bucket/prefix>', 'the client\'s store: replaces the assignment\'s storage.url (docs/nomad.md)')
    .option('--output-processor <host:port>', 'the client\'s output processor: streams there (docs/nomad.md)')
    .option('--output-secret-file <file>', 'the output processor\'s secret, to mint the job\'s token when the assignment has none')
    .option('--output-url <base>', 'the output processor\'s HTTP address, to name the job\'s page')
    .option('--exit-file <file>', 'when the job ends, write {"exitCode": N} here (the task driver reads it)')
    .action(async (opts: NomadTaskFlags) => {
      const { agentNomadTaskCommand } = await import('./agent.js');
      process.exitCode = await agentNomadTaskCommand(opts);
    });

  const nomad = program.command('nomad').description('run Deckhand on a Nomad fleet: job files, client configuration, dispatch and drain (docs/nomad.md)');
  const connectionOptions = (cmd: Command): Command =>
    cmd
      .option('--address <url>', 'a Nomad agent\'s HTTP address (default $NOMAD_ADDR, else http://127.0.0.1:4646)')
      .option('--token <token>', 'ACL token (default $NOMAD_TOKEN)')
      .option('--namespace <ns>', 'namespace (default $NOMAD_NAMESPACE)')
      .option('--region <region>', 'region (default $NOMAD_REGION)')
      .option('--ca-cert <file>', 'CA certificate (PEM) of Nomad\'s HTTPS (default $NOMAD_CACERT)')
      .option('--client-cert <file>', 'client certificate (PEM) (default $NOMAD_CLIENT_CERT)')
      .option('--client-key <file>', 'client key (PEM) (default $NOMAD_CLIENT_KEY)')
      .option('--tls-server-name <name>', 'the name the server\'s certificate must carry (default $NOMAD_TLS_SERVER_NAME)');
  nomad
    .command('job')
    .description('print the parameterized batch job that runs jobs of one resource class (HCL for nomad job run, or the job API\'s JSON)')
    .requiredOption('--resource-class <class>', 'a CircleCI Docker resource class: small, medium, large, …')
    .addOption(new Option('--driver <driver>', 'deckhand (the task driver plugin) or raw_exec').choices(['deckhand', 'raw_exec']).default('deckhand'))
    .addOption(new Option('--format <format>', 'hcl or json').choices(['hcl', 'json']).default('hcl'))
    .option('--job-id <id>', 'the job\'s ID (default deckhand-<class>)')
    .option('--node-class <class>', 'run only on clients of this node class', 'deckhand')
    .option('--datacenters <list>', 'comma-separated datacenters', '*')
    .option('--kill-timeout <duration>', 'how long a canceled job has to stop', '25s')
    .option('--max-kill-timeout <duration>', 'the clients\' max_kill_timeout (kill-timeout must fit)', '30s')
    .option('--mhz-per-cpu <mhz>', 'MHz one CPU of the class counts for in Nomad\'s cpu', '2000')
    .option('--deckhand <command>', 'raw_exec: the deckhand command on the clients', 'deckhand')
    .action(async (opts: import('./nomad.js').NomadJobFlags) => {
      const { nomadJobCommand } = await import('./nomad.js');
      process.exitCode = nomadJobCommand(opts);
    });
  nomad
    .command('client-config')
    .description('print a Nomad client\'s configuration for Deckhand jobs, for this machine (reserved CPU in this machine\'s MHz)')
    .requiredOption('--servers <addresses>', 'the Nomad servers, HOST[:PORT],… (port 4647 when none is given)')
    .addOption(new Option('--format <format>', 'hcl or json').choices(['hcl', 'json']).default('hcl'))
    .option('--node-class <class>', 'the node class jobs are constrained to', 'deckhand')
    .option('--datacenter <dc>', 'the client\'s datacenter', 'dc1')
    .option('--data-dir <dir>', 'Nomad\'s data_dir', '/opt/nomad/data')
    .option('--plugin-dir <dir>', 'where the deckhand plugin file is', '/opt/nomad/plugins')
    .option('--deckhand <path>', 'the deckhand executable on the client', '/usr/local/bin/deckhand')
    .option('--docker-endpoint <url>', 'the Docker engine jobs run in', 'unix:///var/run/docker.sock')
    .option('--store <dir|s3://bucket/prefix>', 'the store every job on this client uses')
    .option('--output-processor <host:port>', 'where every job\'s output is streamed')
    .option('--output-secret-file <file>', 'the output processor\'s secret, to mint job tokens')
    .option('--reserved-cores <n>', 'CPU cores kept back from jobs', '2')
    .option('--reserved-memory <mb>', 'memory (MB) kept back from jobs', '4096')
    .option('--mhz-per-core <mhz>', 'MHz of one core (default: what this machine reports)')
    .option('--max-kill-timeout <duration>', 'the longest kill_timeout a job may have', '30s')
    .option('--drain-deadline <duration>', 'how long a shutdown waits for running jobs', '1h')
    .option('--tls-ca <file>', 'TLS: the CA file on the client (with --tls-cert, --tls-key)')
    .option('--tls-cert <file>', 'TLS: the client\'s certificate file')
    .option('--tls-key <file>', 'TLS: the client\'s key file')
    .action(async (opts: import('./nomad.js').NomadClientConfigFlags) => {
      const { nomadClientConfigCommand } = await import('./nomad.js');
      process.exitCode = nomadClientConfigCommand(opts);
    });
  connectionOptions(
    nomad
      .command('dispatch')
      .description('dispatch one job run (its assignment) to the parameterized job of its resource class; prints the dispatched job\'s ID')
      .requiredOption('--assignment <file|->', 'the assignment (deckhand execute --print-assignment), or a reference {"assignmentUrl": …}')
      .option('--wait', 'follow the allocation to its end and exit with the job\'s exit code')
      .option('--job <id>', 'the parameterized job (default deckhand-<the assignment\'s resource class>)')
      .option('--run-id <id>', 'a reference\'s run id (meta run_id)')
      .option('--idempotency-token <token>', 'default: the run\'s id'),
  ).action(async (opts: import('./nomad.js').NomadDispatchFlags) => {
    const { nomadDispatchCommand } = await import('./nomad.js');
    process.exitCode = await nomadDispatchCommand(opts);
  });
  connectionOptions(
    nomad
      .command('drain')
      .description('stop a client taking jobs and let running ones finish (an autoscaling lifecycle hook runs drain --self); waits for the drain unless --detach')
      .option('--self', 'the client whose agent the address names')
      .option('--node <id>', 'another client, by node ID')
      .option('--deadline <duration>', 'stop jobs still running after this long (none: no deadline)', '1h')
      .option('--detach', 'return once the drain has started'),
  ).action(async (opts: import('./nomad.js').NomadDrainFlags) => {
    const { nomadDrainCommand } = await import('./nomad.js');
    process.exitCode = await nomadDrainCommand(opts);
  });

  const outputProcessor = program
    .command('output-processor')
    .description('receive job output over gRPC (agents connect here), store it, serve it over HTTP (docs/output-processor.md)')
    .option('--listen <host:port>', 'gRPC address agents stream to (port 0: any free port)', '0.0.0.0:8585')
    .option('--data <dir>', 'where jobs are stored (required)')
    .option('--http <host:port>', 'serve the HTTP API and job pages here, e.g. 127.0.0.1:8080')
    .addOption(new Option('--http-auth <mode>', 'tokens: every HTTP route but /health-check wants a read token (output-processor token --read)').choices(['none', 'tokens']).default('none'))
    .option('--secret-file <file>', 'the secret job tokens are derived from (default DATA/secret, made on first start)')
    .option('--tls-cert <file>', 'PEM server certificate (without --tls-cert/--tls-key: plaintext)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--tls-client-ca <file>', 'require client certificates signed by this PEM CA')
    .option('--idle-timeout <seconds>', 'end a call that sends nothing for this long (default 600)', Number)
    .option('--abandon-timeout <seconds>', 'mark a running job incomplete when no agent has streamed to it for this long (default 1800)', Number)
    .action(async (opts: import('./output-processor.js').OutputProcessorFlags) => {
      const { outputProcessorCommand } = await import('./output-processor.js');
      process.exitCode = await outputProcessorCommand({ ...opts, debug: program.opts<{ debug?: boolean }>().debug });
    });
  outputProcessor
    .command('token [job-id]')
    .description('print the token an agent needs to stream job JOB-ID to this processor; with --read, the token to read it over HTTP')
    .option('--data <dir>', 'the processor\'s data directory (its secret is DATA/secret)')
    .option('--secret-file <file>', 'the processor\'s --secret-file, if it has one')
    .option('--read', 'an HTTP read token (for --http-auth tokens): reads this job, and cannot stream to it')
    .option('--all-jobs', 'with --read and no job id: a token that reads every job and the job list')
    .action(async (jobId: string | undefined, _opts: unknown, cmd: Command) => {
      const { outputProcessorTokenCommand } = await import('./output-processor.js');
      // commander hands `--data`/`--secret-file` after `token` to the parent, which has them too
      process.exitCode = outputProcessorTokenCommand(jobId, cmd.optsWithGlobals<import('./output-processor.js').TokenFlags>());
    });

  const serve = program
    .command('serve')
    .description('the control API: pipelines in over HTTP, jobs scheduled within this machine\'s capacity (or on Nomad), metrics, audit log (docs/control-api.md)')
    .option('--listen <host:port>', 'HTTP address (port 0: any free port)', '127.0.0.1:8686')
    .option('--data <dir>', 'where pipelines, jobs, logs, tokens and the audit log are kept (required)')
    .addOption(new Option('--backend <backend>', 'where jobs run: this machine, or Nomad (NOMAD_ADDR, NOMAD_TOKEN)').choices(['local', 'nomad']).default('local'))
    .option('--tokens <file>', 'the tokens file (default DATA/tokens; deckhand serve token adds to it)')
    .option('--output-processor <host:port>', 'stream job output to this processor instead of one run in-process')
    .option('--output-secret-file <file>', 'that processor\'s secret, to mint job tokens')
    .option('--output-url <url>', 'that processor\'s HTTP address, for links to live pages and, on the Nomad backend, a rerun with SSH\'s status')
    .option('--store <dir|s3://bucket/prefix>', 'caches, workspaces and artifacts (default DATA/store)')
    .option('--max-parallel <n>', 'at most this many job nodes at once, instead of the capacity by resource class', Number)
    .addOption(new Option('--pull <policy>', 'when to pull images').choices(['always', 'missing', 'never']).default('missing'))
    .option('--nomad-addr <url>', 'with --backend nomad: the Nomad agent (default NOMAD_ADDR or http://127.0.0.1:4646)')
    .option('--ssh-authorized-keys <file>', 'public keys a rerun with SSH accepts when its request gives none (repeatable)', collect, [])
    .option('--ssh-host <address>', 'the address in a rerun with SSH\'s ssh line (default: the --listen host, or this machine\'s address when that is a wildcard)')
    .option('--ssh-port <port|first-last>', 'the port of a rerun with SSH, or the first free one of a range (default 64535-65535)')
    .option('--ssh-wait <duration>', 'how long a rerun with SSH waits at its end for a first session (default 10m)')
    .option('--ssh-max-hold <duration>', 'how long a rerun with SSH is held while sessions are open (default 2h)')
    .option(ORB_REGISTRY_FLAG, ORB_REGISTRY_HELP)
    .option('--offline', OFFLINE_HELP)
    .action(async (opts: import('./serve.js').ServeFlags) => {
      const { serveCommand } = await import('./serve.js');
      process.exitCode = await serveCommand({ ...opts, debug: program.opts<{ debug?: boolean }>().debug });
    });
  serve
    .command('token')
    .description('print a new token of a scope (read, submit or admin) and add its digest to the tokens file')
    .addOption(new Option('--scope <scope>', 'read: GET routes; submit: also pipelines, cancel, approve; admin: also audit log and drain').choices(['read', 'submit', 'admin']).makeOptionMandatory())
    .option('--name <name>', 'a name for the token, shown as the actor in the audit log')
    .action(async (_opts: unknown, cmd: Command) => {
      const { serveTokenCommand } = await import('./serve.js');
      // --data and --tokens after `token` go to the parent, which has them too
      process.exitCode = serveTokenCommand(cmd.optsWithGlobals<import('./serve.js').ServeTokenFlags>());
    });

  const orb = program.command('orb').description('the local orb registry (under DECKHAND_HOME, default ~/.deckhand): orbs fetched, imported or packed from source');
  orb
    .command('import <path>')
    .description('add an orb to the local registry: its packed file, or its source folder (packed first, as orb pack does)')
    .requiredOption('--name <ns/name@version>', 'the exact version to store it as, e.g. circleci/node@5.1.0 (it also answers @5.1, @5 and @volatile)')
    .action(async (path: string, opts: { name: string }) => {
      const { orbImportCommand } = await import('./orb.js');
      process.exitCode = orbImportCommand(path, opts.name);
    });
  orb
    .command('pack <dir>')
    .description('print the packed orb of a source folder (@orb.yml, commands/, jobs/, executors/, examples/, <<include(file)>>), as circleci orb pack does')
    .action(async (dir: string) => {
      const { orbPackCommand } = await import('./orb.js');
      process.exitCode = orbPackCommand(dir);
    });
  orb
    .command('fetch <ref...>')
    .description('fetch orbs from the orb registry into the local one, e.g. circleci/node@5 (stored under the exact version the registry answers)')
    .option(ORB_REGISTRY_FLAG, ORB_REGISTRY_HELP)
    .action(async (refs: string[], opts: OrbFlags) => {
      const { orbFetchCommand } = await import('./orb.js');
      process.exitCode = await orbFetchCommand(refs, opts);
    });
  orb
    .command('list')
    .description('list the orbs in the local registry (and where fetched ones came from)')
    .action(async () => {
      const { orbListCommand } = await import('./orb.js');
      process.exitCode = orbListCommand();
    });

  const artifacts = program.command('artifacts').description('the artifacts store_artifacts kept: list, fetch, serve over HTTP (docs/artifacts.md)');
  const storeFlag = '--store <dir|s3://bucket/prefix>';
  const storeHelp = 'where the artifacts are (default $DECKHAND_HOME/store; docs/storage.md)';
  artifacts
    .command('list [job-run-id]')
    .description('without an id: the job runs that have artifacts, newest first; with one: its artifacts')
    .option(storeFlag, storeHelp)
    .option('--json', 'print JSON instead of a table')
    .action(async (jobRunId: string | undefined, opts: { store?: string; json?: boolean }) => {
      const { artifactsListCommand } = await import('./artifacts.js');
      process.exitCode = await artifactsListCommand(jobRunId, opts);
    });
  artifacts
    .command('get <job-run-id> <path>')
    .description('write one artifact\'s bytes to standard output, or to -o FILE')
    .option(storeFlag, storeHelp)
    .option('-o, --output <file>', 'write to FILE (whole, or not at all) instead of standard output')
    .action(async (jobRunId: string, path: string, opts: { store?: string; output?: string }) => {
      const { artifactsGetCommand } = await import('./artifacts.js');
      process.exitCode = await artifactsGetCommand(jobRunId, path, opts);
    });
  artifacts
    .command('serve')
    .description('serve artifacts over HTTP at /artifacts/<job run id>/<path>, with safe content types, until SIGTERM/SIGINT')
    .option(storeFlag, storeHelp)
    .option('--listen <host:port>', 'address to listen on (port 0: any free port)', DEFAULT_ARTIFACTS_LISTEN)
    .action(async (opts: { store?: string; listen: string }) => {
      const { artifactsServeCommand } = await import('./artifacts.js');
      process.exitCode = await artifactsServeCommand({ ...opts, debug: program.opts<{ debug?: boolean }>().debug });
    });
  const prune = (group: string, groupDescription: string, description: string, kinds: RetainedKind[]): void => {
    program
      .command(group)
      .description(groupDescription)
      .command('prune')
      .description(description)
      .option('--store <dir|s3://bucket/prefix>', 'the store (default $DECKHAND_HOME/store; docs/storage.md)')
      .action(async (opts: { store?: string }) => {
        const { pruneCommand } = await import('./store.js');
        process.exitCode = await pruneCommand(opts, kinds);
      });
  };
  prune(
    'store',
    'caches, workspaces and artifacts kept in the store (docs/storage.md)',
    'delete what is past its retention: caches and workspaces after 15 days, artifacts after 30 (DECKHAND_CACHE|WORKSPACE|ARTIFACT_RETENTION_DAYS)',
    ['caches', 'workspaces', 'artifacts'],
  );
  prune('cache', 'the caches save_cache kept (docs/storage.md)', 'delete the caches saved more than DECKHAND_CACHE_RETENTION_DAYS (default 15) days ago', ['caches']);
  program.addOption(new Option('--no-color', 'disable colour output'));
  return program;
}

/** Where machine jobs' VMs and setup_remote_docker's engines come from. */
function machineProviderOption(): Option {
  return new Option('--machine-provider <name>', 'where machine jobs and setup_remote_docker get VMs: docker (local containers), static (--machine-pool), aws (--machine-aws-config)').choices(['docker', 'static', 'aws']).default('docker');
}

/** Agent news on stderr: plain lines for people, or JSON lines for a log pipeline (`nomad logs -stderr`). */
function logFormatOption(defaultFormat: 'text' | 'json' = 'text'): Option {
  return new Option('--log-format <format>', 'agent messages on stderr: text, or json lines').choices(['text', 'json']).default(defaultFormat);
}

const ORB_REGISTRY_FLAG = '--orb-registry <url>';
const ORB_REGISTRY_HELP = 'fetch missing orbs from this orb registry, e.g. a CircleCI Server host (default: $DECKHAND_ORB_REGISTRY, else https://circleci.com; $CIRCLE_TOKEN for private orbs)';
const OFFLINE_HELP = 'never touch the network: use only orbs already in the local registry (also DECKHAND_OFFLINE=1)';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function toInt(value: string): number {
  return /^\d+$/.test(value) ? Number(value) : Number.NaN;
}

export interface ProcessFlags extends OrbFlags {
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
    if (nodeReadEnvFile(argv)) {
      throw new UsageError('Node itself read the --env-file given to Deckhand (started as "node bin/deckhand.js …", Node takes that flag from the script\'s arguments and applies a NODE_OPTIONS line of the file); run the deckhand command, or node -- bin/deckhand.js …');
    }
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; every other commander error is a usage error
      process.exitCode = err.exitCode === 0 ? EXIT_OK : EXIT_ERROR;
      return;
    }
    reportAndExit(err, debug);
  }
}

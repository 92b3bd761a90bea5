/** `deckhand config process`: the processed 2.0 config, or one job's JobSpec (an approval job's too). */
import { existsSync, readFileSync } from 'node:fs';
import { compileSource, findJob } from '../config/compile.js';
import { formatDiagnostic } from '../config/diagnostics.js';
import { readGitInfo } from '../config/git-info.js';
import { processedYaml } from '../config/process-output.js';
import { loadYaml, loadYamlFile, isMapValue } from '../config/source.js';
import { toJobSpec } from '../config/to-jobspec.js';
import { UsageError } from '../errors.js';
import type { ProcessFlags } from './main.js';
import { fetchConfigOrbs, orbAccess } from './orb-access.js';

export async function processCommand(flags: ProcessFlags): Promise<number> {
  if (flags.jobspec && !flags.job) throw new UsageError('--jobspec needs --job NAME (the JobSpec describes one job)');
  if (!existsSync(flags.config)) throw new UsageError(`config file ${flags.config} does not exist (use -c FILE)`);
  const access = orbAccess(flags, process.env);
  const git = readGitInfo(process.cwd());
  const options = {
    branch: flags.branch ?? (flags.tag ? undefined : git.branch),
    tag: flags.tag,
    revision: flags.revision ?? git.revision,
    parameters: flags.pipelineParameters ? readPipelineParameters(flags.pipelineParameters) : {},
    registry: access.registry,
  };
  const root = loadYamlFile(flags.config);
  const orbFetchProblems = await fetchConfigOrbs(root, flags.config, options, access);
  const compiled = compileSource(root, flags.config, { ...options, orbFetchProblems, collectProblems: true });
  for (const w of compiled.warnings) process.stderr.write(`${formatDiagnostic(w)}\n`);
  if (flags.job) {
    const found = findJob(compiled, flags.job, flags.workflow);
    if (flags.jobspec) {
      const spec = toJobSpec(compiled, found.job, found.wfJob, found.workflow?.name);
      process.stdout.write(`${JSON.stringify(spec, null, 2)}\n`);
      return 0;
    }
  }
  process.stdout.write(processedYaml(compiled));
  return 0;
}

/** `--pipeline-parameters` takes inline JSON (`{"x": 1}`) or a JSON/YAML file. */
export function readPipelineParameters(arg: string): Record<string, string | number | boolean> {
  const trimmed = arg.trim();
  let text: string;
  let file = '--pipeline-parameters';
  if (trimmed.startsWith('{')) text = trimmed;
  else if (existsSync(arg)) {
    text = readFileSync(arg, 'utf8');
    file = arg;
  } else throw new UsageError(`--pipeline-parameters: ${arg} is neither inline JSON nor a file that exists`);
  const v = loadYaml(text, { file });
  if (!isMapValue(v)) throw new UsageError(`--pipeline-parameters: ${file} must be a map of name: value`);
  const out: Record<string, string | number | boolean> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') {
      throw new UsageError(`--pipeline-parameters: "${k}" must be a string, number or boolean`);
    }
    out[k] = x;
  }
  return out;
}

/**
 * Renders a compiled config in processed 2.0 form, as `circleci config process` prints it: orbs,
 * commands, executors, parameters and matrix gone; every job concrete; workflows referencing
 * processed jobs by key (with `name:` where the key had to differ from the workflow's name).
 */
import { stringify } from 'yaml';
import type { CompiledConfig } from './compile.js';
import type { ValueMap, Value } from './source.js';
import type { WorkflowJob } from './workflows.js';

export function processedConfig(compiled: CompiledConfig): ValueMap {
  const jobs: ValueMap = {};
  for (const [key, job] of compiled.jobs) jobs[key] = { ...job.body, steps: (job.body.steps as ValueMap[]).map(compactStep) };
  const workflows: ValueMap = { version: 2 };
  for (const wf of compiled.workflows) {
    const entries: Value[] = wf.jobs.map((j) => workflowEntry(j, wf.keys.get(j.name)));
    const out: ValueMap = { jobs: entries };
    if (wf.triggers !== undefined) out.triggers = wf.triggers;
    workflows[wf.name] = out;
  }
  const out: ValueMap = { version: 2 };
  if (compiled.setup) out.setup = true;
  out.jobs = jobs;
  out.workflows = workflows;
  return out;
}

export function processedYaml(compiled: CompiledConfig): string {
  const header = `# Processed by deckhand from ${compiled.file}\n`;
  return header + stringify(processedConfig(compiled), { lineWidth: 0, aliasDuplicateObjects: false });
}

/** `{checkout: {}}` prints as `checkout`, as CircleCI writes argument-less steps. */
function compactStep(s: ValueMap): Value {
  const [type] = Object.keys(s);
  const args = s[type];
  return args && typeof args === 'object' && !Array.isArray(args) && Object.keys(args).length === 0 ? type : s;
}

function workflowEntry(j: WorkflowJob, key: string | undefined): Value {
  const opts: ValueMap = {};
  const ref = key ?? j.name;
  if (ref !== j.name) opts.name = j.name;
  if (j.type === 'approval') opts.type = 'approval';
  const requires = Object.entries(j.requires).map(([n, st]) => (st.length === 1 && st[0] === 'success' ? n : { [n]: st.length === 1 ? st[0] : st }));
  if (requires.length) opts.requires = requires;
  if (j.contexts.length) opts.context = j.contexts.length === 1 ? j.contexts[0] : j.contexts;
  if (j.filters) opts.filters = 'expression' in j.filters ? j.filters.expression : (j.filters as ValueMap);
  if (j.serialGroup) opts['serial-group'] = j.serialGroup;
  return Object.keys(opts).length ? { [ref]: opts } : ref;
}

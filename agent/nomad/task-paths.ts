/**
 * A dispatcher cannot know where a Nomad client puts a task's folders (under the client's data
 * dir for raw_exec, `/secrets` and `/local` inside a container), so the paths of an assignment's
 * secret references and output files may start with `${NOMAD_SECRETS_DIR}`, `${NOMAD_TASK_DIR}`
 * or `${NOMAD_ALLOC_DIR}`; the task expands them from its environment before the assignment is
 * checked. Only those sections are touched: a JobSpec's commands keep their text.
 */
import type { NomadTask } from './task-env.js';

const PLACEHOLDER = /^\$\{(NOMAD_SECRETS_DIR|NOMAD_TASK_DIR|NOMAD_ALLOC_DIR)\}(?=\/|$)/;

/** The raw assignment with the task's folders put into `secrets`, `output` and `source.checkoutKey`. */
export function expandTaskPaths(raw: unknown, task: NomadTask): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const dirs: Record<string, string | undefined> = { NOMAD_SECRETS_DIR: task.secretsDir, NOMAD_TASK_DIR: task.taskDir, NOMAD_ALLOC_DIR: task.allocDir };
  const expand = (value: unknown): unknown => {
    if (typeof value === 'string') return value.replace(PLACEHOLDER, (whole, name: string) => dirs[name] ?? whole);
    if (Array.isArray(value)) return value.map(expand);
    if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v)]));
    return value;
  };
  const doc = raw as Record<string, unknown>;
  const source = doc.source as Record<string, unknown> | undefined;
  return {
    ...doc,
    ...('secrets' in doc ? { secrets: expand(doc.secrets) } : {}),
    ...('output' in doc ? { output: expand(doc.output) } : {}),
    ...(source && typeof source === 'object' && 'checkoutKey' in source ? { source: { ...source, checkoutKey: expand(source.checkoutKey) } } : {}),
  };
}

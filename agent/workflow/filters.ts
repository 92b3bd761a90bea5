/**
 * Which jobs of a workflow take part in a pipeline, by the branch or tag it runs for — CircleCI's
 * rules (`filters` and `requires` in https://circleci.com/docs/configuration-reference/):
 *  - map filters: `branches` / `tags`, each `only` and/or `ignore`, a list of strings or
 *    `/regex/` (a regex must match the whole name); `only` wins over `ignore`;
 *  - for a branch, the `branches` filter decides (a job without one runs on every branch);
 *  - for a tag, only the `tags` filter decides: a job without `tags` does not run for a tag;
 *  - an expression filter (`filters: pipeline.git.branch == "main"`) runs the job when it is truthy;
 *  - a requirement on a filtered-out job is dropped; a job whose requirements were all filtered
 *    out does not run either.
 */
import { filterAllows, type Filters } from '../config/workflows.js';
import { configError } from '../config/diagnostics.js';
import { evaluateExpression, ExprError, isTruthy, type ExprValue } from '../config/expr/index.js';
import type { PipelineValues } from '../jobspec/jobspec.js';
import { topologicalOrder, type WorkflowGraph, type WorkflowNode } from './graph.js';

export interface FilteredOut {
  name: string;
  /** why, in a few words: "branch filter", "no tag filter", "all its requirements filtered out" */
  reason: string;
}

/** Why the job's own filters keep it out of a pipeline for this branch/tag, or undefined when they let it in. */
export function filteredBy(filters: Filters | undefined, pipeline: PipelineValues): string | undefined {
  const tag = pipeline.git.tag;
  if (filters && 'expression' in filters) {
    let value: ExprValue;
    try {
      value = evaluateExpression(filters.expression, { pipeline: pipeline as unknown as ExprValue });
    } catch (err) {
      if (err instanceof ExprError) throw configError(undefined, `filter expression "${filters.expression}": ${err.message}`);
      throw err;
    }
    return isTruthy(value) ? undefined : `filter expression is false: ${filters.expression}`;
  }
  if (tag) {
    if (!filters?.tags) return 'no tags filter (jobs run for a tag only with one)';
    return filterAllows(filters.tags, tag) ? undefined : `tags filter excludes ${tag}`;
  }
  return filterAllows(filters?.branches, pipeline.git.branch) ? undefined : `branches filter excludes ${pipeline.git.branch}`;
}

/** The graph of the jobs that run for this pipeline, and those left out with the reason. */
export function applyFilters(graph: WorkflowGraph, pipeline: PipelineValues): { graph: WorkflowGraph; filteredOut: FilteredOut[] } {
  const out = new Map<string, string>();
  for (const n of graph.nodes) {
    const reason = filteredBy(n.filters, pipeline);
    if (reason) out.set(n.name, reason);
  }
  // in dependency order, so that a job whose requirements all went is seen after them
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  for (const name of topologicalOrder(graph)) {
    if (out.has(name)) continue;
    const reqs = Object.keys(byName.get(name)?.requires ?? {});
    if (reqs.length > 0 && reqs.every((r) => out.has(r))) out.set(name, `every job it requires is filtered out (${reqs.join(', ')})`);
  }
  const nodes = graph.nodes
    .filter((n) => !out.has(n.name))
    .map((n): WorkflowNode => ({ ...n, requires: Object.fromEntries(Object.entries(n.requires).filter(([r]) => !out.has(r))) }));
  return {
    graph: { workflow: graph.workflow, nodes },
    filteredOut: graph.nodes.filter((n) => out.has(n.name)).map((n) => ({ name: n.name, reason: out.get(n.name) ?? '' })),
  };
}

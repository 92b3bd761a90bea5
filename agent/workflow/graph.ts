/**
 * A workflow as a job graph: the compiled workflow's jobs (matrix instances already expanded by the
 * compiler) with their `requires` and required statuses, each build job compiled to its JobSpec.
 * The compiler has already refused unknown `requires` and cycles with a config position; the
 * checks here guard graphs built any other way (and graphs pruned by filters).
 */
import type { CompiledConfig, CompiledWorkflow } from '../config/compile.js';
import { toJobSpec } from '../config/to-jobspec.js';
import type { Filters } from '../config/workflows.js';
import type { JobSpec, RequiredStatus } from '../jobspec/jobspec.js';
import { UsageError } from '../errors.js';

/** How a job of a workflow run ends (CircleCI's job statuses that can happen locally). */
export type JobRunStatus = 'success' | 'failed' | 'canceled' | 'not_run';

export interface WorkflowNode {
  name: string;
  type: 'build' | 'release' | 'no-op' | 'approval';
  /** required job name → the statuses it must end in for this job to start */
  requires: Record<string, RequiredStatus[]>;
  filters?: Filters;
  /** absent for approval jobs, which exist only in the workflow */
  spec?: JobSpec;
}

export interface WorkflowGraph {
  workflow: string;
  /** in the order the workflow lists them */
  nodes: WorkflowNode[];
}

/** The workflow to run: the one named, else the only one; a one-line error listing them otherwise. */
export function selectWorkflow(compiled: CompiledConfig, name: string | undefined): CompiledWorkflow {
  const names = compiled.workflows.map((w) => w.name);
  const listing = (): string => {
    const parts = [names.length ? `workflows: ${names.join(', ')}` : 'it has no workflow that runs'];
    if (compiled.skippedWorkflows.length) parts.push(`ruled out by when/unless: ${compiled.skippedWorkflows.join(', ')}`);
    return parts.join('; ');
  };
  if (name !== undefined) {
    const wf = compiled.workflows.find((w) => w.name === name);
    if (wf) return wf;
    if (compiled.skippedWorkflows.includes(name)) throw new UsageError(`workflow "${name}" does not run for this pipeline (its when/unless rules it out); ${listing()}`);
    throw new UsageError(`${compiled.file} has no workflow "${name}"; ${listing()}`);
  }
  if (compiled.workflows.length === 1) return compiled.workflows[0];
  if (compiled.workflows.length === 0) throw new UsageError(`${compiled.file}: nothing to run; ${listing()}`);
  throw new UsageError(`${compiled.file} has ${names.length} workflows; choose one with --workflow NAME (${names.join(', ')})`);
}

/** Compiles every job of the workflow to its JobSpec; approval jobs stay spec-less. */
export function buildGraph(compiled: CompiledConfig, wf: CompiledWorkflow): WorkflowGraph {
  const nodes = wf.jobs.map((wj): WorkflowNode => {
    const node: WorkflowNode = { name: wj.name, type: wj.type, requires: wj.requires };
    if (wj.filters) node.filters = wj.filters;
    const key = wf.keys.get(wj.name);
    const job = key === undefined ? undefined : compiled.jobs.get(key);
    if (wj.type !== 'approval' && job) node.spec = toJobSpec(compiled, job, wj, wf.name);
    return node;
  });
  const graph = { workflow: wf.name, nodes };
  topologicalOrder(graph);
  return graph;
}

/**
 * Job names so that every job comes after the jobs it requires; among jobs that are free to go,
 * the workflow's own order. Throws on a requirement that is not a job of the graph, or a cycle.
 */
export function topologicalOrder(graph: WorkflowGraph): string[] {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  for (const n of graph.nodes) {
    for (const r of Object.keys(n.requires)) {
      if (!byName.has(r)) throw new Error(`job "${n.name}" of workflow "${graph.workflow}" requires "${r}", which is not a job of the workflow`);
    }
  }
  const done = new Set<string>();
  const order: string[] = [];
  while (order.length < graph.nodes.length) {
    const next = graph.nodes.find((n) => !done.has(n.name) && Object.keys(n.requires).every((r) => done.has(r)));
    if (!next) {
      const stuck = graph.nodes.filter((n) => !done.has(n.name)).map((n) => n.name);
      throw new Error(`jobs of workflow "${graph.workflow}" require each other in a cycle: ${stuck.join(', ')}`);
    }
    done.add(next.name);
    order.push(next.name);
  }
  return order;
}

/** Every job `name` depends on, directly or through others, in topological (workflow) order. */
export function upstreamOf(graph: WorkflowGraph, name: string): string[] {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const seen = new Set<string>();
  const visit = (n: string): void => {
    for (const r of Object.keys(byName.get(n)?.requires ?? {})) {
      if (seen.has(r)) continue;
      seen.add(r);
      visit(r);
    }
  };
  visit(name);
  return topologicalOrder(graph).filter((n) => seen.has(n));
}

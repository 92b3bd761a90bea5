/**
 * A submitted pipeline made into rows: the config (uploaded, or read from a repository checked out
 * at a revision) compiled with the pipeline's branch, tag, revision and parameters; every workflow
 * that runs, filtered by branch and tag, with each job and its parallel nodes. A config that does
 * not compile is refused with its positioned problems (the caller answers 422); nothing is stored.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { compileSource, type CompileOptions, type CompiledConfig } from '../config/compile.js';
import { readGitInfo, type GitInfo } from '../config/git-info.js';
import type { OrbRegistry } from '../config/orb-registry.js';
import { loadYaml, loadYamlFile, type Value } from '../config/source.js';
import { UsageError } from '../errors.js';
import { isSupportedExecutor } from '../executor/registry.js';
import { applyFilters } from '../workflow/filters.js';
import { buildGraph } from '../workflow/graph.js';
import type { ControlStore, JobRow, NodeRow, PipelineRow, WorkflowRow } from './store.js';

const run = promisify(execFile);

export interface PipelineRequest {
  config?: string;
  repository?: string;
  revision?: string;
  branch?: string;
  tag?: string;
  parameters?: Record<string, string | number | boolean>;
  /** whose project variables the jobs get (default `default`) */
  project?: string;
}

export interface IntakeOptions {
  store: ControlStore;
  /** DATA/pipelines: one folder per pipeline (its config, or its checkout) */
  pipelinesDir: string;
  registry?: OrbRegistry;
  /** fetches the orbs the config needs that the registry lacks; returns why any could not be */
  fetchOrbs?: (root: Value, file: string, options: CompileOptions) => Promise<ReadonlyMap<string, string>>;
}

/** the config's name in positioned problems, as `deckhand config validate` run in the repository shows it */
const CONFIG_FILE = '.circleci/config.yml';

export async function takePipeline(request: PipelineRequest, actor: string, opts: IntakeOptions): Promise<{ pipeline: PipelineRow; jobs: JobRow[] }> {
  const id = randomUUID();
  const dir = join(opts.pipelinesDir, id);
  let root: Value;
  let git: GitInfo;
  if (request.config !== undefined) {
    mkdirSync(join(dir, '.circleci'), { recursive: true });
    writeFileSync(join(dir, CONFIG_FILE), request.config);
    root = loadYaml(request.config, { file: CONFIG_FILE });
    git = { ...(request.revision ? { revision: request.revision } : {}), ...(request.repository ? { remoteUrl: request.repository } : {}) };
  } else {
    git = await checkout(request.repository!, request.revision!, dir);
    root = loadYamlFile(join(dir, CONFIG_FILE));
  }
  const options: CompileOptions = {
    branch: request.branch ?? (request.tag ? undefined : git.branch ?? 'main'),
    tag: request.tag,
    revision: git.revision ?? request.revision,
    gitUrl: git.remoteUrl,
    parameters: request.parameters ?? {},
    collectProblems: true,
    ...(opts.registry ? { registry: opts.registry } : {}),
  };
  const fetchProblems = opts.fetchOrbs ? await opts.fetchOrbs(root, CONFIG_FILE, options) : undefined;
  const compiled = compileSource(root, CONFIG_FILE, { ...options, ...(fetchProblems ? { orbFetchProblems: fetchProblems } : {}) });
  return record(compiled, { id, dir, git, request, actor }, opts.store);
}

function record(compiled: CompiledConfig, p: { id: string; dir: string; git: GitInfo; request: PipelineRequest; actor: string }, store: ControlStore): { pipeline: PipelineRow; jobs: JobRow[] } {
  const graphs = compiled.workflows.map((wf) => applyFilters(buildGraph(compiled, wf), compiled.pipeline).graph);
  for (const g of graphs) {
    for (const n of g.nodes) {
      const kind = n.spec?.executor.kind;
      if (kind !== undefined && !isSupportedExecutor(kind)) throw new UsageError(`job "${n.name}" of workflow "${g.workflow}" uses the ${kind} executor, which Deckhand does not run; use a docker or machine executor`);
    }
  }
  const now = new Date().toISOString();
  return store.transaction(() => {
    const pipeline: PipelineRow = {
      id: p.id,
      number: store.nextPipelineNumber(),
      state: 'created',
      createdAt: now,
      ...(compiled.pipeline.git.branch ? { branch: compiled.pipeline.git.branch } : {}),
      ...(compiled.pipeline.git.tag ? { tag: compiled.pipeline.git.tag } : {}),
      ...(compiled.pipeline.git.revision ? { revision: compiled.pipeline.git.revision } : {}),
      ...(p.request.repository ? { repository: p.request.repository } : {}),
      parameters: p.request.parameters ?? {},
      sourceDir: p.dir,
      git: p.git,
      actor: p.actor,
      project: p.request.project ?? 'default',
    };
    store.insertPipeline(pipeline);
    let seq = store.nextSeq();
    const jobs: JobRow[] = [];
    for (const g of graphs) {
      const id = randomUUID();
      const workflow: WorkflowRow = { id, pipelineId: p.id, name: g.workflow, status: 'running', createdAt: now, storageId: id };
      store.insertWorkflow(workflow);
      for (const n of g.nodes) {
        // the pipeline's number is this service's, not the compile's default
        const spec = n.spec && { ...n.spec, pipeline: { ...n.spec.pipeline, id: p.id, number: pipeline.number } };
        const job: JobRow = {
          id: randomUUID(),
          workflowId: workflow.id,
          pipelineId: p.id,
          name: n.name,
          type: n.type,
          status: 'blocked',
          requires: n.requires,
          ...(spec ? { spec, resourceClass: spec.resources.class } : {}),
          parallelism: spec?.parallelism ?? 1,
          seq: seq++,
        };
        store.insertJob(job);
        jobs.push(job);
        if (spec && spec.executor.kind !== 'none') {
          for (let i = 0; i < job.parallelism; i++) {
            const node: NodeRow = { id: randomUUID(), jobId: job.id, index: i, status: 'blocked', steps: [], outputBytes: 0 };
            store.insertNode(node);
          }
        }
      }
    }
    return { pipeline, jobs };
  });
}

/** Clones the repository into `dir` and checks out `revision` (a commit, branch or tag). */
async function checkout(url: string, revision: string, dir: string): Promise<GitInfo> {
  const src = dir;
  try {
    await run('git', ['clone', '--quiet', '--no-checkout', '--', url, src], { timeout: 300_000 });
  } catch (err) {
    throw new UsageError(`cannot clone ${url}: ${lastLine(err)}; check the repository URL and that this service can reach it`);
  }
  try {
    await run('git', ['-C', src, 'checkout', '--quiet', '--detach', revision], { timeout: 120_000 });
  } catch (err) {
    throw new UsageError(`repository ${url} has no revision ${revision}: ${lastLine(err)}; give a commit, branch or tag it has`);
  }
  // detached at the revision: the branch is the request's (or the pipeline's default)
  const { revision: head } = readGitInfo(dir);
  return { ...(head ? { revision: head } : {}), remoteUrl: url };
}

function lastLine(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  const text = (e.stderr || e.message || String(err)).trim().split('\n');
  return text[text.length - 1] ?? '';
}

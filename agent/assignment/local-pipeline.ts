/**
 * The pipeline a local run stands for: the config compiled with the local repository's branch
 * (unless a tag is given: a tag pipeline has no branch, as on CircleCI), HEAD and origin URL,
 * each overridable by a flag. Shared by `deckhand execute` and `deckhand run`.
 */
import { compileFile, compileSource, type CompileOptions, type CompiledConfig } from '../config/compile.js';
import { readGitInfo, type GitInfo } from '../config/git-info.js';
import type { OrbRegistry } from '../config/orb-registry.js';
import type { Value } from '../config/source.js';

export interface PipelineFlags {
  config: string;
  branch?: string;
  tag?: string;
  revision?: string;
  pipelineParameters?: Record<string, string | number | boolean>;
  /** the local orb registry the front end chose, and why orbs missing from it could not be fetched */
  orbs?: { registry: OrbRegistry; fetchProblems?: ReadonlyMap<string, string> };
  /** the config file already loaded and the repository already read (when the orbs were fetched first) */
  loaded?: { root: Value; git: GitInfo };
}

/** The pipeline values the flags and the repository give (what orb references and the compile see). */
export function localCompileOptions(opts: PipelineFlags, git: GitInfo): CompileOptions {
  return {
    branch: opts.branch ?? (opts.tag ? undefined : git.branch),
    tag: opts.tag,
    revision: opts.revision ?? git.revision,
    gitUrl: git.remoteUrl,
    parameters: opts.pipelineParameters ?? {},
    // every missing orb and every other problem at once, not one per run
    collectProblems: true,
    ...(opts.orbs ? { registry: opts.orbs.registry, ...(opts.orbs.fetchProblems ? { orbFetchProblems: opts.orbs.fetchProblems } : {}) } : {}),
  };
}

export function compileLocalPipeline(opts: PipelineFlags, repository: string): { compiled: CompiledConfig; git: GitInfo } {
  const git = opts.loaded?.git ?? readGitInfo(repository);
  const options = localCompileOptions(opts, git);
  const compiled = opts.loaded ? compileSource(opts.loaded.root, opts.config, options) : compileFile(opts.config, options);
  return { compiled, git };
}

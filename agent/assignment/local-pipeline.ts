/**
 * The pipeline a local run stands for: the config compiled with the local repository's branch
 * (unless a tag is given: a tag pipeline has no branch, as on CircleCI), HEAD and origin URL,
 * each overridable by a flag. Shared by `deckhand execute` and `deckhand run`.
 */
import { compileFile, type CompiledConfig } from '../config/compile.js';
import { readGitInfo, type GitInfo } from '../config/git-info.js';

export interface PipelineFlags {
  config: string;
  branch?: string;
  tag?: string;
  revision?: string;
  pipelineParameters?: Record<string, string | number | boolean>;
}

export function compileLocalPipeline(opts: PipelineFlags, repository: string): { compiled: CompiledConfig; git: GitInfo } {
  const git = readGitInfo(repository);
  const compiled = compileFile(opts.config, {
    branch: opts.branch ?? (opts.tag ? undefined : git.branch),
    tag: opts.tag,
    revision: opts.revision ?? git.revision,
    gitUrl: git.remoteUrl,
    parameters: opts.pipelineParameters ?? {},
  });
  return { compiled, git };
}

/**
 * Before `deckhand execute` or `run` compiles a local pipeline: the orbs its config needs that the
 * local registry lacks are fetched (orb-access.ts). The config file is loaded and the repository
 * read once, for the fetch and the compile both.
 */
import { localCompileOptions, type PipelineFlags } from '../assignment/local-pipeline.js';
import { ConfigError } from '../config/diagnostics.js';
import { readGitInfo } from '../config/git-info.js';
import { loadYamlFile, type Value } from '../config/source.js';
import { fetchConfigOrbs, orbAccess, type OrbFlags } from './orb-access.js';

export async function withFetchedOrbs(pipeline: PipelineFlags, repository: string, flags: OrbFlags): Promise<PipelineFlags> {
  const orbs = orbAccess(flags, process.env);
  let root: Value;
  try {
    root = loadYamlFile(pipeline.config);
  } catch (err) {
    // a file that does not load fetches nothing: its compile says why
    if (err instanceof ConfigError) return { ...pipeline, orbs: { registry: orbs.registry } };
    throw err;
  }
  const git = readGitInfo(repository);
  const fetchProblems = await fetchConfigOrbs(root, pipeline.config, { ...localCompileOptions(pipeline, git), registry: orbs.registry }, orbs);
  return { ...pipeline, orbs: { registry: orbs.registry, fetchProblems }, loaded: { root, git } };
}

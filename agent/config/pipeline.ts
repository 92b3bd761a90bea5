/**
 * Pipeline values (`<< pipeline.* >>`). CircleCI fills them from the trigger; locally they come
 * from the command line and the git repository. Pipeline parameters are checked against the
 * config's `parameters:` declarations by the compiler, not here.
 */
import { randomUUID } from 'node:crypto';
import type { PipelineValues } from '../jobspec/jobspec.js';

export interface PipelineOptions {
  branch?: string;
  tag?: string;
  revision?: string;
  baseRevision?: string;
  gitUrl?: string;
  number?: number;
  id?: string;
  /** pipeline parameter values as given by the user (checked and defaulted by the compiler) */
  parameters?: Record<string, string | number | boolean>;
}

export function makePipelineValues(opts: PipelineOptions = {}): PipelineValues {
  return {
    id: opts.id ?? randomUUID(),
    number: opts.number ?? 1,
    trigger_source: 'api',
    schedule: { name: '', id: '' },
    project: { git_url: opts.gitUrl ?? '', type: vcsType(opts.gitUrl), slug: projectSlug(opts.gitUrl), name: projectSlug(opts.gitUrl).split('/').pop() ?? '' },
    git: {
      tag: opts.tag ?? '',
      branch: opts.tag ? '' : (opts.branch ?? 'main'),
      revision: opts.revision ?? '0000000000000000000000000000000000000000',
      base_revision: opts.baseRevision ?? '',
    },
    parameters: { ...(opts.parameters ?? {}) },
  };
}

function vcsType(url: string | undefined): string {
  if (url?.includes('bitbucket')) return 'bitbucket';
  if (url?.includes('gitlab')) return 'gitlab';
  return 'github';
}

/** `gh/org/repo` from a git URL, as CircleCI's project slug; empty when unknown. */
function projectSlug(url: string | undefined): string {
  const m = url ? /[:/]([^/:]+)\/([^/]+?)(?:\.git)?\/?$/.exec(url) : null;
  if (!m) return '';
  const vcs = vcsType(url);
  return `${vcs === 'bitbucket' ? 'bb' : vcs === 'gitlab' ? 'gl' : 'gh'}/${m[1]}/${m[2]}`;
}

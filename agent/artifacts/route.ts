/**
 * What a request path asks the artifact server for. The raw path is read segment by segment
 * before any normalisation (url-path.ts), so `..`, `.`, encoded slashes or backslashes, NUL and
 * malformed escapes are refused (400) rather than resolved: no request can name a key outside
 * `artifacts/<job run id>/`, whatever the store does with keys.
 */
import { pathSegments } from '../net/url-path.js';
import { isArtifactPath, isJobRunId } from './catalog.js';

export type ArtifactRoute =
  | { kind: 'job-runs' }
  | { kind: 'job-run'; jobRunId: string }
  /** `/artifacts/<id>` without its slash: relative links in the index need it */
  | { kind: 'redirect'; location: string }
  | { kind: 'artifact'; jobRunId: string; path: string }
  | { kind: 'error'; status: 400 | 404; message: string };

export function routeArtifactRequest(rawUrl: string): ArtifactRoute {
  const bad = (message: string): ArtifactRoute => ({ kind: 'error', status: 400, message });
  const parsed = pathSegments(rawUrl);
  if ('error' in parsed) return bad(parsed.error);
  const { segments } = parsed;
  const raw = `/${segments.join('/')}`;
  if (segments.length === 1 && segments[0] === '') return { kind: 'job-runs' };
  if (segments[0] !== 'artifacts') return { kind: 'error', status: 404, message: `no route ${raw}: artifacts are under /artifacts/<job run id>/<path>` };
  if (segments.length === 1 || (segments.length === 2 && segments[1] === '')) return { kind: 'job-runs' };
  const jobRunId = segments[1];
  if (!isJobRunId(jobRunId)) return bad(`${JSON.stringify(jobRunId)} is not a job run id (1-128 letters, digits, '.', '_' or '-')`);
  if (segments.length === 2) return { kind: 'redirect', location: `/artifacts/${jobRunId}/` };
  if (segments.length === 3 && segments[2] === '') return { kind: 'job-run', jobRunId };
  const path = segments.slice(2).join('/');
  if (!isArtifactPath(path)) return bad('empty path segments are not allowed');
  return { kind: 'artifact', jobRunId, path };
}

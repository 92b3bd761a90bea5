/**
 * What a request path asks the artifact server for. The raw path is read segment by segment
 * before any normalisation, so `..`, `.`, encoded slashes or backslashes, NUL and malformed
 * escapes are refused (400) rather than resolved: no request can name a key outside
 * `artifacts/<job run id>/`, whatever the store does with keys.
 */
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
  const end = rawUrl.search(/[?#]/);
  const raw = end < 0 ? rawUrl : rawUrl.slice(0, end);
  if (!raw.startsWith('/')) return bad('the request target must be a path starting with /');
  if (/[\0\\]/.test(raw)) return bad('NUL and backslash are not allowed in a path');
  if (/%(2f|5c|00)/i.test(raw)) return bad('encoded slashes, backslashes and NUL are not allowed in a path');
  const segments: string[] = [];
  for (const s of raw.slice(1).split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(s);
    } catch {
      return bad(`malformed percent-encoding in ${JSON.stringify(s)}`);
    }
    if (decoded === '.' || decoded === '..') return bad('"." and ".." are not allowed in a path');
    segments.push(decoded);
  }
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

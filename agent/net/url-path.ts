/**
 * A request target's path as decoded segments, read from the raw target before any
 * normalisation: `..` and `.` segments (plain or percent-encoded), encoded slashes, backslashes
 * and NUL, and malformed escapes are refused rather than resolved, so no request can name
 * something outside the folder a route serves. Shared by the processor's and the artifact
 * server's routers.
 */
export type PathSegments = { segments: string[] } | { error: string };

/** `/a/b%20c/` → ['a', 'b c', '']; an error message for anything a route must not see. */
export function pathSegments(rawUrl: string): PathSegments {
  const end = rawUrl.search(/[?#]/);
  const raw = end < 0 ? rawUrl : rawUrl.slice(0, end);
  if (!raw.startsWith('/')) return { error: 'the request target must be a path starting with /' };
  if (/[\0\\]/.test(raw)) return { error: 'NUL and backslash are not allowed in a path' };
  if (/%(2f|5c|00)/i.test(raw)) return { error: 'encoded slashes, backslashes and NUL are not allowed in a path' };
  const segments: string[] = [];
  for (const s of raw.slice(1).split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(s);
    } catch {
      return { error: `malformed percent-encoding in ${JSON.stringify(s.slice(0, 200))}` };
    }
    if (decoded === '.' || decoded === '..') return { error: '"." and ".." are not allowed in a path' };
    segments.push(decoded);
  }
  return { segments };
}

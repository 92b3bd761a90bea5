/**
 * Which content type an artifact is served with: only the types on CircleCI Server's allowed list
 * ("Managing build artifacts", Server 4.x operator guide: text/plain, JSON, PNG, JPG, GIF, BMP,
 * WEBM, OGG, MP4, AAC, MPEG, WAV) render in a browser; HTML, CSS, JavaScript/ECMAScript and XML
 * (SVG included: it is XML and runs scripts) are served as text/plain, as Server does by default;
 * anything else is a download (`application/octet-stream`, `Content-Disposition: attachment`).
 * The type comes from the artifact's name alone, never from its bytes or what the job claimed.
 */
import { PLAIN_TEXT, SAFETY_HEADERS } from '../net/http-headers.js';

export interface ArtifactContentType {
  /** the Content-Type header value */
  type: string;
  /** true: served as a download, never rendered */
  attachment: boolean;
}

const TEXT = PLAIN_TEXT;

/** Extensions (lower case, without the dot) of the allowed list, and those shown as plain text. */
const BY_EXTENSION: Readonly<Record<string, string>> = {
  // text/plain, and names that are plain text by convention
  txt: TEXT, text: TEXT, log: TEXT, out: TEXT, md: TEXT, markdown: TEXT, csv: TEXT, tsv: TEXT,
  yml: TEXT, yaml: TEXT, toml: TEXT, ini: TEXT, conf: TEXT, diff: TEXT, patch: TEXT,
  // rendered as plain text: the "unsafe" types of Server's guide (HTML, CSS, JavaScript, ECMAScript, XML)
  html: TEXT, htm: TEXT, xhtml: TEXT, shtml: TEXT, css: TEXT, js: TEXT, mjs: TEXT, cjs: TEXT, es: TEXT,
  xml: TEXT, xsl: TEXT, xslt: TEXT, svg: TEXT,
  json: 'application/json',
  png: 'image/png',
  jpg: 'image/jpeg', jpeg: 'image/jpeg',
  gif: 'image/gif',
  bmp: 'image/bmp',
  webm: 'video/webm',
  ogv: 'video/ogg',
  mp4: 'video/mp4', m4v: 'video/mp4',
  weba: 'audio/webm',
  aac: 'audio/aac',
  m4a: 'audio/mp4',
  mp3: 'audio/mpeg', mpga: 'audio/mpeg',
  ogg: 'audio/ogg', oga: 'audio/ogg', opus: 'audio/ogg',
  wav: 'audio/wav',
};

/** The content type artifact `path` is served with. */
export function artifactContentType(path: string): ArtifactContentType {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
  const type = Object.hasOwn(BY_EXTENSION, ext) ? BY_EXTENSION[ext] : undefined;
  return type ? { type, attachment: false } : { type: 'application/octet-stream', attachment: true };
}

/**
 * The headers every artifact response carries: its content type, no sniffing, and a policy that
 * lets nothing run or load even if a browser renders it (`sandbox` gives it an opaque origin).
 */
export function artifactHeaders(path: string): Record<string, string> {
  const { type, attachment } = artifactContentType(path);
  const name = path.slice(path.lastIndexOf('/') + 1);
  return {
    'content-type': type,
    'content-disposition': `${attachment ? 'attachment' : 'inline'}; ${dispositionFilename(name)}`,
    ...SAFETY_HEADERS,
  };
}

/** `filename="…"` with an ASCII stand-in, plus RFC 6266's `filename*` for the real name. */
function dispositionFilename(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * The processor's web pages: a job list, and one job's steps with their output, live. Each page
 * is self-contained (inline CSS and JS, nothing from a CDN). The job page follows the job's live
 * tail (/api/jobs/ID/live) with EventSource, which resumes by itself from the last event id after
 * a dropped connection; output is decoded per stream as UTF-8 and ANSI SGR colours are rendered
 * as styled spans (text goes in as text nodes, never as HTML).
 */
import { escapeHtml } from '../net/html.js';

const STYLE = `
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: #1b1d21; color: #e6e6e6; }
  header { padding: 12px 16px; background: #25282e; border-bottom: 1px solid #333; }
  h1 { font-size: 18px; margin: 0; }
  .job-status { margin-left: 8px; font-size: 13px; padding: 2px 8px; border-radius: 10px; background: #444; }
  .job-status.complete { background: #1f6f3f; } .job-status.incomplete { background: #8a3b12; }
  main { padding: 8px 16px; }
  section.step { margin: 8px 0; border: 1px solid #333; border-radius: 4px; }
  section.step > h2 { font-size: 14px; margin: 0; padding: 6px 10px; background: #25282e; cursor: pointer; display: flex; gap: 8px; }
  h2 .status { margin-left: auto; font-weight: normal; }
  h2 .status.success { color: #5fd38d; } h2 .status.failed, h2 .status.timedout { color: #ff6b6b; } h2 .status.running { color: #f0c674; }
  pre { margin: 0; padding: 8px 10px; font: 12.5px/1.35 ui-monospace, Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-all; }
  pre:empty { display: none; }
  .agent { color: #8f9aa8; }
  a { color: #7cb7ff; }
  table { border-collapse: collapse; } td, th { padding: 4px 10px; text-align: left; border-bottom: 1px solid #333; }
`;

/** The browser side of the job page; runs as an inline script. */
// a processor that wants read tokens (--http-auth tokens) gets the page's own ?token= on every request it makes
const TOKEN_PRELUDE = String.raw`
'use strict';
const TOKEN = new URLSearchParams(location.search).get('token');
const TOKEN_QUERY = TOKEN ? '?token=' + encodeURIComponent(TOKEN) : '';
for (const a of document.querySelectorAll('a[data-keep-token]')) a.setAttribute('href', a.getAttribute('href') + TOKEN_QUERY);
`;

const JOB_SCRIPT = String.raw`
const jobId = document.body.dataset.job;
const main = document.querySelector('main');
const jobStatus = document.getElementById('job-status');
const steps = new Map();
const BASIC = ['#000000','#cd3131','#0dbc79','#e5e510','#2472c8','#bc3fbc','#11a8cd','#e5e5e5',
               '#666666','#f14c4c','#23d18b','#f5f543','#3b8eea','#d670d6','#29b8db','#ffffff'];
function color256(n) {
  if (n < 16) return BASIC[n];
  if (n < 232) { n -= 16; const v = [0, 95, 135, 175, 215, 255]; return 'rgb(' + v[Math.floor(n / 36)] + ',' + v[Math.floor(n / 6) % 6] + ',' + v[n % 6] + ')'; }
  const g = 8 + (n - 232) * 10; return 'rgb(' + g + ',' + g + ',' + g + ')';
}
// one ANSI state and UTF-8 decoder per (step, stream): a sequence may be split across chunks
function newTerm() { return { decoder: new TextDecoder('utf-8'), carry: '', fg: null, bg: null, bold: false, italic: false, underline: false, dim: false }; }
function sgr(t, params) {
  const p = params === '' ? [0] : params.split(';').map((x) => x === '' ? 0 : Number(x));
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === 0) { t.fg = t.bg = null; t.bold = t.italic = t.underline = t.dim = false; }
    else if (c === 1) t.bold = true; else if (c === 2) t.dim = true; else if (c === 3) t.italic = true; else if (c === 4) t.underline = true;
    else if (c === 22) { t.bold = false; t.dim = false; } else if (c === 23) t.italic = false; else if (c === 24) t.underline = false;
    else if (c >= 30 && c <= 37) t.fg = BASIC[c - 30]; else if (c >= 90 && c <= 97) t.fg = BASIC[c - 90 + 8]; else if (c === 39) t.fg = null;
    else if (c >= 40 && c <= 47) t.bg = BASIC[c - 40]; else if (c >= 100 && c <= 107) t.bg = BASIC[c - 100 + 8]; else if (c === 49) t.bg = null;
    else if ((c === 38 || c === 48) && p[i + 1] === 5) { const v = color256(p[i + 2] & 255); if (c === 38) t.fg = v; else t.bg = v; i += 2; }
    else if ((c === 38 || c === 48) && p[i + 1] === 2) { const v = 'rgb(' + (p[i + 2] & 255) + ',' + (p[i + 3] & 255) + ',' + (p[i + 4] & 255) + ')'; if (c === 38) t.fg = v; else t.bg = v; i += 4; }
  }
}
function emit(pre, t, text, cls) {
  if (text === '') return;
  text = text.replace(/\r\n/g, '\n').replace(/\r/g, '');
  if (!t.fg && !t.bg && !t.bold && !t.italic && !t.underline && !t.dim && !cls) { pre.appendChild(document.createTextNode(text)); return; }
  const span = document.createElement('span');
  if (cls) span.className = cls;
  if (t.fg) span.style.color = t.fg;
  if (t.bg) span.style.backgroundColor = t.bg;
  if (t.bold) span.style.fontWeight = 'bold';
  if (t.dim) span.style.opacity = '0.7';
  if (t.italic) span.style.fontStyle = 'italic';
  if (t.underline) span.style.textDecoration = 'underline';
  span.textContent = text;
  pre.appendChild(span);
}
function render(pre, t, text, cls) {
  text = t.carry + text; t.carry = '';
  let at = 0;
  const re = /\x1b(?:\[([0-9;?]*)([\x20-\x2f]*)([\x40-\x7e])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;
  let m;
  while ((m = re.exec(text)) !== null) {
    emit(pre, t, text.slice(at, m.index), cls);
    if (m[3] === 'm' && m[2] === '') sgr(t, m[1]); // other sequences (cursor, erase) have no meaning in a log
    at = re.lastIndex;
  }
  const rest = text.slice(at);
  const esc = rest.lastIndexOf('\x1b');
  // an escape sequence cut off at the end of this chunk completes in the next one
  if (esc !== -1 && rest.length - esc < 64) { emit(pre, t, rest.slice(0, esc), cls); t.carry = rest.slice(esc); }
  else emit(pre, t, rest, cls);
}
function step(index) {
  let s = steps.get(index);
  if (s) return s;
  const section = document.createElement('section');
  section.className = 'step'; section.dataset.step = String(index);
  const h = document.createElement('h2');
  const name = document.createElement('span'); name.className = 'name'; name.textContent = index === -1 ? 'Spin up environment' : 'Step ' + index;
  const status = document.createElement('span'); status.className = 'status running'; status.textContent = 'running';
  h.append(name, status);
  const pre = document.createElement('pre'); pre.className = 'output';
  h.addEventListener('click', () => { pre.hidden = !pre.hidden; });
  section.append(h, pre);
  const next = [...steps.keys()].filter((k) => k > index).sort((a, b) => a - b)[0];
  if (next === undefined) main.appendChild(section); else main.insertBefore(section, steps.get(next).section);
  s = { section, name, status, pre, terms: {} };
  steps.set(index, s);
  return s;
}
function b64bytes(b64) { const bin = atob(b64); const out = new Uint8Array(bin.length); for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i); return out; }
const source = new EventSource('/api/jobs/' + encodeURIComponent(jobId) + '/live' + TOKEN_QUERY);
source.addEventListener('step-started', (e) => { const ev = JSON.parse(e.data); step(ev.step).name.textContent = ev.name; });
source.addEventListener('step-finished', (e) => {
  const ev = JSON.parse(e.data); const s = step(ev.step);
  s.status.className = 'status ' + ev.status;
  s.status.textContent = ev.status + (ev.exitCode !== undefined ? ' (exit ' + ev.exitCode + ')' : '') + ' ' + (ev.durationMs / 1000).toFixed(1) + ' s';
});
source.addEventListener('output', (e) => {
  const ev = JSON.parse(e.data); const s = step(ev.step);
  const t = s.terms[ev.stream] || (s.terms[ev.stream] = newTerm());
  const follow = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
  render(s.pre, t, t.decoder.decode(b64bytes(ev.data), { stream: true }), ev.stream === 'agent' ? 'agent' : '');
  if (follow) window.scrollTo(0, document.body.scrollHeight);
});
source.addEventListener('job-finished', (e) => { const ev = JSON.parse(e.data); jobStatus.textContent = ev.status; });
source.addEventListener('end', (e) => {
  const ev = JSON.parse(e.data);
  jobStatus.textContent = (ev.jobStatus || ev.status) + ' · ' + ev.status;
  jobStatus.className = 'job-status ' + ev.status;
  if (ev.message) jobStatus.title = ev.message;
  source.close();
});
`;

export function jobPage(jobId: string, jobName: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(jobName || jobId)} · deckhand</title><style>${STYLE}</style></head>
<body data-job="${escapeHtml(jobId)}">
<header><h1>${escapeHtml(jobName || jobId)}<span id="job-status" class="job-status">running</span></h1><small>${escapeHtml(jobId)} · <a href="/" data-keep-token>all jobs</a></small></header>
<main></main>
<script>${TOKEN_PRELUDE}${JOB_SCRIPT}</script>
</body></html>
`;
}

const LIST_SCRIPT = String.raw`
fetch('/api/jobs' + TOKEN_QUERY).then((r) => r.json()).then((jobs) => {
  const body = document.querySelector('tbody');
  for (const j of jobs) {
    const tr = document.createElement('tr');
    const a = document.createElement('a'); a.href = '/jobs/' + encodeURIComponent(j.id) + TOKEN_QUERY; a.textContent = j.name || j.id;
    const cells = [a, j.status, new Date(j.startedUnixMs).toLocaleString(), j.id];
    for (const c of cells) { const td = document.createElement('td'); if (typeof c === 'string') td.textContent = c; else td.appendChild(c); tr.appendChild(td); }
    body.appendChild(tr);
  }
});
`;

export function jobsPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>jobs · deckhand</title><style>${STYLE}</style></head>
<body><header><h1>Jobs</h1></header>
<main><table><thead><tr><th>job</th><th>status</th><th>started</th><th>id</th></tr></thead><tbody></tbody></table></main>
<script>${TOKEN_PRELUDE}${LIST_SCRIPT}</script>
</body></html>
`;
}

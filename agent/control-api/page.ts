/**
 * The control API's web page (`/`): the latest pipelines, each workflow's jobs with their status,
 * linking to each job node's live page at the output processor, and the ssh line of a rerun with
 * SSH while its server listens. Rendered on the server, no
 * script: it refreshes itself every few seconds.
 */
import { escapeHtml } from '../net/html.js';
import type { ControlStore } from './store.js';

export function renderPage(store: ControlStore, liveUrl: string | undefined): string {
  const rows: string[] = [];
  for (const p of store.pipelines(25)) {
    for (const wf of store.workflowsOf(p.id)) {
      for (const j of store.jobsOf(wf.id)) {
        const nodes = store.nodesOf(j.id);
        // only a node that started has a page at the output processor
        const links = liveUrl ? nodes.filter((n) => n.startedAt !== undefined).map((n) => `<a href="${escapeHtml(`${liveUrl}/jobs/${n.id}`)}">${nodes.length > 1 ? `#${n.index}` : 'output'}</a>`).join(' ') : '';
        // the line to type, while a rerun with SSH can be logged into
        const ssh = nodes.filter((n) => n.ssh?.command && n.ssh.phase !== 'ended' && n.status === 'running').map((n) => `<br><code class="ssh">${escapeHtml(n.ssh!.command!)}</code>`).join('');
        rows.push(
          `<tr><td>${p.number}</td><td>${escapeHtml(wf.name)}</td><td>${escapeHtml(j.name)}</td><td class="s-${escapeHtml(j.status)}">${escapeHtml(j.status)}</td><td>${escapeHtml(j.startedAt ?? '')}</td><td>${links}${ssh}</td></tr>`,
        );
      }
    }
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5"><title>Deckhand pipelines</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}
.s-success{color:#176f2c}.s-failed,.s-infrastructure_fail{color:#b00020}.s-running{color:#0550ae}.s-on_hold{color:#8a6100}</style></head>
<body><h1>Pipelines</h1>
<table id="jobs"><thead><tr><th>Pipeline</th><th>Workflow</th><th>Job</th><th>Status</th><th>Started</th><th>Output</th></tr></thead>
<tbody>${rows.join('\n')}</tbody></table></body></html>
`;
}

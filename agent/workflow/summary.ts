/**
 * The table printed at the end of `deckhand run`: every job of the workflow in workflow order with
 * its status, duration and log file (or why it did not run), then one line of totals.
 */
import { formatDuration } from '../output/terminal.js';
import type { JobRunStatus } from './graph.js';
import type { FilteredOut } from './filters.js';

export interface SummaryRow {
  job: string;
  status: JobRunStatus;
  /** absent for a job that never started */
  durationMs?: number;
  /** log files of the job (one per parallel node) */
  logFiles: string[];
  reason?: string;
}

const LABEL: Record<JobRunStatus, string> = { success: 'success', failed: 'failed', canceled: 'canceled', not_run: 'not run' };

export function formatSummary(workflow: string, rows: SummaryRow[], filteredOut: FilteredOut[], totalMs: number): string {
  const table = [['JOB', 'STATUS', 'DURATION', 'LOG / NOTE']];
  for (const r of rows) {
    const note = [...(r.reason ? [r.reason] : []), ...r.logFiles].join('  ');
    table.push([r.job, LABEL[r.status], r.durationMs === undefined ? '-' : formatDuration(r.durationMs), note]);
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  const lines = table.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd());
  const count = (s: JobRunStatus): number => rows.filter((r) => r.status === s).length;
  const totals = (['success', 'failed', 'canceled', 'not_run'] as const).filter((s) => count(s) > 0).map((s) => `${count(s)} ${LABEL[s]}`);
  const out = [`Workflow ${workflow}: ${totals.join(', ') || 'no jobs'} (total ${formatDuration(totalMs)})`, ...lines];
  if (filteredOut.length) out.push(`Not in this pipeline (filters): ${filteredOut.map((f) => `${f.name} (${f.reason})`).join(', ')}`);
  return out.join('\n') + '\n';
}

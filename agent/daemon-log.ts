/**
 * The log of daemons and agents (the output processor, the artifact server, `deckhand agent`):
 * one JSON object per line on stderr (time, level, msg, and the event's fields), so an
 * operator's log pipeline can read it without parsing prose; or plain lines for a person.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  log(level: LogLevel, msg: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger writing JSON lines to `out` (stderr by default), dropping levels below `min`. */
export function jsonLogger(out: { write(line: string): unknown } = process.stderr, min: LogLevel = 'info'): Logger {
  return {
    log(level, msg, fields) {
      if (RANK[level] < RANK[min]) return;
      out.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
    },
  };
}

/** A logger that keeps nothing, for embedding where logs are unwanted. */
export const silentLogger: Logger = { log() {} };

/**
 * A logger for a person at a terminal: `deckhand: msg` lines on `out` (stderr), without the
 * fields, dropping levels below `min` (by default only warnings and errors: news worth a line).
 */
export function textLogger(out: { write(line: string): unknown }, min: LogLevel = 'warn'): Logger {
  return {
    log(level, msg) {
      if (RANK[level] < RANK[min]) return;
      out.write(`deckhand: ${msg}\n`);
    },
  };
}

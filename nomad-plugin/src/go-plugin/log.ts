/**
 * The plugin's log: one JSON object per line on stderr, which go-plugin's host reads line by line
 * into the Nomad client's own log, taking `@level`, `@message` and `@timestamp` as hclog writes
 * them and every other key as a field (go-plugin's log_entry.go,
 * https://github.com/hashicorp/go-plugin/blob/main/log_entry.go). Stdout carries only the
 * handshake line.
 */
export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface PluginLog {
  log(level: Level, message: string, fields?: Record<string, unknown>): void;
}

export function stderrLog(write: (line: string) => void = (line) => void process.stderr.write(line)): PluginLog {
  return {
    log(level, message, fields = {}) {
      const entry = { '@level': level, '@message': message, '@module': 'deckhand', '@timestamp': timestamp(new Date()), ...fields };
      try {
        write(`${JSON.stringify(entry)}\n`);
      } catch {
        // the host went away with our stderr: the tasks must go on all the same
      }
    },
  };
}

/** hclog's time format: 2006-01-02T15:04:05.000000Z07:00 (microseconds, offset). */
function timestamp(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

// What a user sees while the Docker executor pulls images: on a terminal one
// line redrawn in place, elsewhere (CI logs, files) plain lines that make
// sense when read afterwards. The tracker and line formatting are pure; only
// `pullProgressReporter` writes, and it takes its writer and clock as inputs.

/** One JSON message of the engine's pull stream (POST /images/create). */
export interface EngineProgressMessage {
  status?: string;
  /** A layer's short digest, or the tag for whole-image messages. */
  id?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

/** What `ensureImage` reports about one image's pull. */
export type PullEvent =
  | { kind: 'started'; image: string }
  | { kind: 'progress'; image: string; message: EngineProgressMessage }
  | { kind: 'finished'; image: string; elapsedMs: number }
  | { kind: 'failed'; image: string; reason: string };

export type PullListener = (event: PullEvent) => void;

type LayerPhase = 'waiting' | 'downloading' | 'downloaded' | 'extracting' | 'complete' | 'present';

interface Layer {
  phase: LayerPhase;
  /** Bytes downloaded so far, while downloading. */
  current: number;
  /** Compressed size, once the engine has said it. */
  total?: number;
}

// The engine's per-layer statuses; anything else ("Pulling from …",
// "Digest: …", "Status: …") is about the whole image.
const LAYER_PHASES: Record<string, LayerPhase> = {
  'Pulling fs layer': 'waiting',
  Waiting: 'waiting',
  Downloading: 'downloading',
  'Verifying Checksum': 'downloading',
  'Download complete': 'downloaded',
  Extracting: 'extracting',
  'Pull complete': 'complete',
  'Already exists': 'present',
};

/** The layers of one image being pulled. */
class ImagePull {
  readonly layers = new Map<string, Layer>();

  /** Applies one engine message; returns plain lines worth printing for it. */
  apply(message: EngineProgressMessage): string[] {
    const { status, id } = message;
    if (!status || !id) return [];
    if (status.startsWith('Retrying')) return [`Layer ${id}: ${status.toLowerCase()}`];
    const phase = LAYER_PHASES[status];
    if (!phase) return [];
    const known = this.layers.get(id);
    const before = known?.phase;
    const layer = known ?? { phase, current: 0 };
    this.layers.set(id, layer);
    // Late or repeated messages never move a layer backwards.
    if (rank(phase) >= rank(layer.phase)) layer.phase = phase;
    if (phase === 'downloading' && message.progressDetail) {
      const { current, total } = message.progressDetail;
      if (typeof current === 'number') layer.current = current;
      if (typeof total === 'number' && total > 0) layer.total = total;
    }
    // The engine keeps only the latest progress of a transfer for a slow reader, so "Download
    // complete" may never come: a layer seen extracting or complete was downloaded all the same.
    const downloaded = rank('downloaded');
    if (phase !== 'present' && rank(phase) >= downloaded && (before === undefined || rank(before) < downloaded)) {
      return [`Downloaded layer ${id}${layer.total !== undefined ? ` (${formatBytes(layer.total)})` : ''}`];
    }
    if (phase === 'present' && before !== 'present') return [`Layer ${id} already present`];
    return [];
  }

  /** `3/5 layers, 12.3/40.1 MB`; the byte part only once sizes are known. */
  summary(): string {
    const layers = [...this.layers.values()];
    if (layers.length === 0) return 'resolving';
    const done = layers.filter((layer) => layer.phase === 'complete' || layer.phase === 'present').length;
    let bytes = 0;
    let total = 0;
    for (const layer of layers) {
      if (layer.total === undefined) continue;
      total += layer.total;
      bytes += layer.phase === 'downloading' ? Math.min(layer.current, layer.total) : layer.phase === 'waiting' ? 0 : layer.total;
    }
    const counted = `${done}/${layers.length} layers`;
    return total > 0 ? `${counted}, ${formatBytePair(bytes, total)}` : counted;
  }
}

function rank(phase: LayerPhase): number {
  return ['waiting', 'downloading', 'downloaded', 'extracting', 'complete', 'present'].indexOf(phase);
}

/**
 * Follows every pull under way (a job's images are pulled at once) and
 * turns events into plain lines or one status line.
 */
export class PullTracker {
  private readonly pulls = new Map<string, ImagePull>();

  /** The plain lines this event deserves (without newlines). */
  record(event: PullEvent): string[] {
    switch (event.kind) {
      case 'started':
        this.pulls.set(event.image, new ImagePull());
        return [`Pulling image ${event.image}`];
      case 'progress':
        return (this.pulls.get(event.image) ?? this.adopt(event.image)).apply(event.message);
      case 'finished':
        this.pulls.delete(event.image);
        return [`Pulled ${event.image} in ${formatSeconds(event.elapsedMs)}`];
      case 'failed':
        // The failure itself is the executor's error; saying it twice helps nobody.
        this.pulls.delete(event.image);
        return [];
    }
  }

  /** True while some pull has started and not ended. */
  get active(): boolean {
    return this.pulls.size > 0;
  }

  /** `Pulling x:1 — 3/5 layers, 12.3/40.1 MB`, one clause per pull under way. */
  statusLine(): string {
    return [...this.pulls].map(([image, pull]) => `Pulling ${image} — ${pull.summary()}`).join('  |  ');
  }

  private adopt(image: string): ImagePull {
    const pull = new ImagePull();
    this.pulls.set(image, pull);
    return pull;
  }
}

/** Decimal units, as the docker CLI prints them. */
export function formatBytes(bytes: number): string {
  const [value, unit] = scale(bytes);
  return unit === 'B' ? `${bytes} B` : `${value.toFixed(1)} ${unit}`;
}

/** Both numbers in the total's unit: `12.3/40.1 MB`. */
export function formatBytePair(current: number, total: number): string {
  const [scaled, unit] = scale(total);
  if (unit === 'B') return `${current}/${total} B`;
  const divisor = total / scaled;
  return `${(current / divisor).toFixed(1)}/${scaled.toFixed(1)} ${unit}`;
}

function scale(bytes: number): [number, string] {
  if (bytes >= 1e9) return [bytes / 1e9, 'GB'];
  if (bytes >= 1e6) return [bytes / 1e6, 'MB'];
  if (bytes >= 1e3) return [bytes / 1e3, 'kB'];
  return [bytes, 'B'];
}

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export interface PullReporterOptions {
  /** Receives text exactly as it should appear, newlines and (on a TTY) `\r` included. */
  write: (text: string) => void;
  /** Redraw one line in place (a terminal) instead of printing plain lines. */
  tty: boolean;
  /** A TTY line is cut to this width so that `\r` can redraw it. Default (and when 0) 100. */
  columns?: number;
  /** Least time between two redraws on a TTY. Default 100 ms. */
  minRedrawMs?: number;
  /** Milliseconds; injectable for tests. Default `Date.now`. */
  now?: () => number;
}

// Carriage return and "erase the whole line" (ECMA-48 EL 2).
const CLEAR_LINE = '\r\x1b[2K';

/** A listener for `DockerExecutorOptions.onPull` that writes progress for a person. */
export function pullProgressReporter(options: PullReporterOptions): PullListener {
  const tracker = new PullTracker();
  if (!options.tty) {
    return (event) => {
      for (const line of tracker.record(event)) options.write(`${line}\n`);
    };
  }
  // 0 or undefined: the width is unknown (a pseudo-terminal without a size, say).
  const columns = options.columns ? Math.max(20, options.columns) : 100;
  const minRedrawMs = options.minRedrawMs ?? 100;
  const now = options.now ?? Date.now;
  let shown = false;
  let lastDraw = -Infinity;
  const draw = (): void => {
    const line = tracker.statusLine();
    const fitted = line.length > columns - 1 ? `${line.slice(0, columns - 2)}…` : line;
    options.write(`${CLEAR_LINE}${fitted}`);
    shown = true;
    lastDraw = now();
  };
  const clear = (): void => {
    if (shown) options.write(CLEAR_LINE);
    shown = false;
  };
  return (event) => {
    const lines = tracker.record(event);
    if (event.kind === 'progress') {
      // Only the status line is redrawn; per-layer lines are for logs.
      if (now() - lastDraw >= minRedrawMs) draw();
      return;
    }
    clear();
    // "Pulling image" is what the status line says already.
    if (event.kind === 'finished') for (const line of lines) options.write(`${line}\n`);
    if (tracker.active) draw();
  };
}

/**
 * Caches against GNU tar + gzip, measured in the same job (`make bench`, or
 * `node dist/bench/storage.js`):
 *
 * A job in the Debian test image generates a node_modules-like tree of 30,000 files (300 MB:
 * 1,500 packages of 20 files, JavaScript-like text from a seeded generator plus one binary file in
 * ten, ~500 `.bin` symlinks, some empty folders), then
 *   floor save:     `tar -czf /tmp/floor.tgz node_modules` (GNU tar 1.34, gzip level 6)
 *   save_cache:     the same folder, through deckhand into the filesystem store
 *   floor restore:  `tar -xzf /tmp/floor.tgz` into the emptied project
 *   restore_cache:  the same, through deckhand (verification included)
 * Times are the step durations deckhand reports (NDJSON `step-end`), so container start and tree
 * generation are outside them; a `sync` step after each measured one keeps one phase's disk
 * writeback out of the next one's time. Run once per zlib level (DECKHAND_GZIP_LEVEL) to show the choice.
 * Target: save and restore no slower than tar+gzip (ratio ≤ 1.0).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repo } from './support.js';

const IMAGE = 'deckhand-test/debian:bookworm';
const bin = join(repo, 'bin', 'deckhand.js');
const LEVELS = (process.env.BENCH_LEVELS ?? '1,6').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 2);

// deterministic: the same tree, byte for byte, on every run
const GENERATE = String.raw`
use strict; use File::Path qw(make_path);
srand(42);
my @w = qw(function return const let var if else for while module exports require this new class extends import from default async await Promise resolve reject error value key options config callback data result length push map filter reduce prototype undefined null true false typeof instanceof);
my @lines;
for (1..4000) { my $l = '  ' x int(rand(4)); $l .= $w[int(rand(@w))] . ' ' for 1..(3 + int(rand(9))); $l .= int(rand(100000)) if rand() < 0.3; push @lines, $l . ";\n"; }
my ($root, $files, $total) = ('node_modules', 30000, 300 * 1000 * 1000);
my $avg = $total / $files;
for my $i (0 .. $files - 1) {
  my $pkg = int($i / 20);
  my $dir = "$root/pkg-$pkg/" . ($i % 20 < 12 ? 'lib' : 'dist/esm');
  make_path($dir) unless -d $dir;
  my $size = int($avg * (0.25 + rand(1.5)));
  my $binary = $i % 10 == 9;
  open(my $f, '>', "$dir/file$i." . ($binary ? 'wasm' : 'js')) or die;
  if ($binary) { print $f pack('N*', map { int(rand(4294967296)) } 1 .. int($size / 4)); }
  else { my $s = ''; $s .= $lines[int(rand(@lines))] while length($s) < $size; print $f substr($s, 0, $size); }
  close $f;
  chmod 0755, "$dir/file$i.js" if $i % 97 == 0 && !$binary;
}
make_path("$root/.bin", "$root/pkg-7/empty", "$root/pkg-9/test/fixtures/empty");
symlink("../pkg-$_/lib/file" . ($_ * 20) . '.js', "$root/.bin/tool$_") for 0 .. 499;
`;

type Order = 'tar first' | 'deckhand first';

/** The job: generate, then each save and each restore of the pair, in `order`, with `sync` between. */
function config(order: Order): string {
  const floorSave = ['- run:', '    name: floor save', "    command: tar -czf /tmp/floor.tgz node_modules && stat -c 'floor-bytes %s' /tmp/floor.tgz"];
  const save = ['- save_cache:', '    name: deckhand save', '    key: bench-{{ epoch }}', '    paths: [node_modules]'];
  const floorRestore = ['- run:', '    name: floor restore', '    command: tar -xzf /tmp/floor.tgz'];
  const restore = ['- restore_cache:', '    name: deckhand restore', '    keys: [bench-]'];
  const empty = ['- run: rm -rf node_modules && sync'];
  const sync = ['- run: sync'];
  const pair = (a: string[], b: string[], between: string[]) => (order === 'tar first' ? [...a, ...between, ...b] : [...b, ...between, ...a]);
  const steps = [
    '- run:',
    '    name: generate',
    `    command: ${JSON.stringify(`cat > /tmp/generate.pl <<'PERL'\n${GENERATE}\nPERL\nperl /tmp/generate.pl && du -sb node_modules && find node_modules -type f | wc -l && sync`)}`,
    ...pair(floorSave, save, sync),
    ...sync,
    // both restores start from the same state: node_modules gone, disk synced
    ...empty,
    ...pair(floorRestore, restore, empty),
    '- run:',
    '    name: check',
    '    command: echo "restored-files $(find node_modules -type f | wc -l)"',
  ];
  return `version: 2.1\njobs:\n  bench:\n    docker:\n      - image: ${IMAGE}\n    steps:\n${steps.map((l) => `      ${l}`).join('\n')}\n`;
}

interface Figures {
  floorSave: number;
  save: number;
  floorRestore: number;
  restore: number;
  floorBytes: number;
  cacheText: string;
  files: number;
  warnings: string[];
}

interface BenchEvent {
  type: string;
  index: number;
  name?: string;
  durationMs?: number;
  text?: string;
}

function runJob(level: number, order: Order): Figures {
  const dir = mkdtempSync(join(tmpdir(), 'deckhand-bench-storage-'));
  try {
    mkdirSync(join(dir, '.circleci'));
    writeFileSync(join(dir, '.circleci', 'config.yml'), config(order));
    const r = spawnSync(process.execPath, [bin, 'execute', '--job', 'bench', '--output', 'json', '--log-file', join(dir, 'job.log'), '--skip-checkout'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, DECKHAND_HOME: join(dir, '.home'), DECKHAND_GZIP_LEVEL: String(level) },
      maxBuffer: 256 << 20,
    });
    const events = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as BenchEvent);
    const text = events.map((e) => e.text ?? '').join('');
    if (r.status !== 0) throw new Error(`the bench job failed (exit ${r.status}): ${text.slice(-2000)}${r.stderr}`);
    const took = (name: string) => {
      const index = events.find((e) => e.type === 'step-start' && e.name === name)?.index;
      return events.find((e) => e.type === 'step-end' && e.index === index)?.durationMs ?? NaN;
    };
    return {
      floorSave: took('floor save'),
      save: took('deckhand save'),
      floorRestore: took('floor restore'),
      restore: took('deckhand restore'),
      floorBytes: Number(/floor-bytes (\d+)/.exec(text)?.[1]),
      cacheText: /Cache size: ([^\n]+)/.exec(text)?.[1] ?? '?',
      files: Number(/restored-files (\d+)/.exec(text)?.[1]),
      warnings: text.split('\n').filter((l) => /warning|error|tar:/i.test(l)).slice(0, 20),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  console.log(`storage: 30,000 files / 300 MB (node_modules-like); floor = GNU tar -cz / -xz in the same job; ${RUNS} run(s) per level, alternating which goes first`);
  for (const level of LEVELS) {
    const saves: number[] = [];
    const restores: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const order: Order = run % 2 === 0 ? 'tar first' : 'deckhand first';
      const f = runJob(level, order);
      if (f.files !== 30000) throw new Error(`restore_cache restored ${f.files} files, expected 30000:\n${f.warnings.join('\n')}`);
      saves.push(f.save / f.floorSave);
      restores.push(f.restore / f.floorRestore);
      console.log(
        `  level ${level} (${order}): save ${s(f.save)} vs tar -cz ${s(f.floorSave)} = ${(f.save / f.floorSave).toFixed(2)}x; ` +
          `restore ${s(f.restore)} vs tar -xz ${s(f.floorRestore)} = ${(f.restore / f.floorRestore).toFixed(2)}x; ` +
          `archive ${f.cacheText.replace(/ in .*/, '')} vs tar.gz ${(f.floorBytes / 1048576).toFixed(1)} MiB`,
      );
    }
    console.log(`  level ${level}: median save ${median(saves).toFixed(2)}x, restore ${median(restores).toFixed(2)}x (target ≤ 1.0x)`);
  }
}

main();

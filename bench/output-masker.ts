/**
 * Secret masking throughput: 200 MB of log-like output in 64 KiB chunks through one Masker with
 * 10 secrets, against the floor of copying the same chunks (what any stage that touches the bytes
 * costs at least). Secrets appear in the text, some split across chunk boundaries.
 * Target: at least 1 GB/s (the whole output path must keep up with `docker exec` at
 * a few hundred MB/s; masking should be a small part of it).
 */
import { Masker } from '../agent/output/masker.js';
import { median } from './support.js';

const CHUNK = 64 * 1024;
const TOTAL = 200 * 1024 * 1024;
const POOL = 32; // distinct chunks, cycled, so the input itself does not take 200 MB

let seed = 42;
const rand = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x80000000;
};
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const word = (n: number) => Array.from({ length: n }, () => ALNUM[Math.floor(rand() * ALNUM.length)]).join('');

const secrets = Array.from({ length: 10 }, (_, i) => `${['ghp_', 'AKIA', 'xoxb-', 'sk-'][i % 4]}${word(8 + i * 3)}`);

// one long log-like text with a secret every ~20 KB, cut into chunks (so some secrets straddle two)
const lines: string[] = [];
let size = 0;
while (size < POOL * CHUNK) {
  const line = rand() < 0.005
    ? `export TOKEN=${secrets[Math.floor(rand() * secrets.length)]} # from context\n`
    : `[${word(6)}] ${word(Math.floor(rand() * 60) + 10)} ok ${Math.floor(rand() * 1e6)} ms\n`;
  lines.push(line);
  size += line.length;
}
const text = Buffer.from(lines.join(''));
const pool = Array.from({ length: POOL }, (_, i) => text.subarray(i * CHUNK, (i + 1) * CHUNK));
const chunks = TOTAL / CHUNK;

function copyAll(): number {
  let n = 0;
  for (let i = 0; i < chunks; i++) n += Buffer.from(pool[i % POOL]).length;
  return n;
}

let masked = 0;
function maskAll(): number {
  const masker = new Masker(secrets);
  let n = 0;
  for (let i = 0; i < chunks; i++) n += masker.mask(pool[i % POOL]).length;
  n += masker.flush().length;
  masked = n;
  return n;
}

const runs = 5;
const floorMs = await median(runs, copyAll, 1);
const maskMs = await median(runs, maskAll, 1);
const mbps = (ms: number) => +(TOTAL / 1e6 / (ms / 1000)).toFixed(0);

console.log(JSON.stringify({
  bench: 'output-masker',
  megabytes: TOTAL / 1e6,
  chunkBytes: CHUNK,
  secrets: secrets.length,
  outputBytes: masked,
  floorCopyMBps: mbps(floorMs),
  maskMBps: mbps(maskMs),
  ratio: +(maskMs / floorMs).toFixed(2),
  target: '>= 1000 MB/s',
}));

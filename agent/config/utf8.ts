/**
 * UTF-8 checking of config bytes. Decoding with Node's 'utf8' replaces a bad byte with U+FFFD
 * without a word, so a config saved in Latin-1 would run with mangled names and commands; a
 * config must be UTF-8 (YAML 1.2 §5.2 allows UTF-16 and -32 too, which no CI config uses).
 */
import { isUtf8 } from 'node:buffer';

export interface Utf8Problem {
  /** 0-based byte offset of the first byte that is not valid UTF-8 */
  offset: number;
  /** 1-based, as the rest of the compiler's positions */
  line: number;
  /** 1-based, in UTF-16 code units like every other column the compiler gives */
  col: number;
  /** the byte at the offset */
  byte: number;
}

/** undefined when `buf` is valid UTF-8; otherwise where the first invalid sequence starts. */
export function findInvalidUtf8(buf: Uint8Array): Utf8Problem | undefined {
  if (isUtf8(buf)) return undefined;
  const offset = firstInvalidOffset(buf);
  let lineStart = 0;
  let line = 1;
  for (let i = 0; i < offset; i++) {
    if (buf[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  // everything before the offset is valid, so it decodes exactly
  const col = Buffer.from(buf.buffer, buf.byteOffset + lineStart, offset - lineStart).toString('utf8').length + 1;
  return { offset, line, col, byte: buf[offset] };
}

/** The offset of the first sequence that RFC 3629 rejects (overlong forms, surrogates, > U+10FFFF, cut short). */
function firstInvalidOffset(buf: Uint8Array): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0; // overlong
      if (b === 0xed) hi = 0x9f; // surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90; // overlong
      if (b === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k];
      if (c === undefined) return i;
      const min = k === 1 ? lo : 0x80;
      const max = k === 1 ? hi : 0xbf;
      if (c < min || c > max) return i;
    }
    i += need + 1;
  }
  return buf.length;
}

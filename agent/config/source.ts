/**
 * YAML with source positions. A config is parsed once with the `yaml` package's document tree and
 * turned into plain JSON-like values; the position of every map, sequence, key and value is kept
 * in a side table, so any later stage can say `file:line:col` without carrying YAML nodes around.
 *
 * Aliases are expanded into copies (the compiler edits values in place per job), with a budget on
 * the total number of nodes produced so that alias bombs end in an error, not in exhausted memory.
 * Nesting is bounded before the `yaml` package composes the document (its composer recurses once
 * per level and overflows the stack near a thousand) and again while aliases are expanded, so
 * that everything after this file may walk a value recursively. Bytes must be UTF-8.
 */
import { readFileSync, statSync } from 'node:fs';
import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isNode,
  isSeq,
  Composer,
  Lexer,
  LineCounter,
  Parser,
  YAMLParseError,
  visit,
  type CST,
  type Node as YamlNode,
  type Document,
} from 'yaml';
import { configError, ConfigError, type Diagnostic, type SourcePos } from './diagnostics.js';
import { count, LIMITS } from './limits.js';
import { findInvalidUtf8 } from './utf8.js';

/** The JSON-like values a config is made of. */
export type Value = string | number | boolean | null | Value[] | ValueMap;
export interface ValueMap {
  [key: string]: Value;
}

interface Located {
  pos: SourcePos;
  /** positions of a map's keys */
  keys?: Map<string, SourcePos>;
  /** positions of a map's values or a sequence's items (scalars have no identity of their own) */
  items?: Map<string | number, SourcePos>;
}

/**
 * Where each map and list came from, kept on the value itself under a symbol that is not
 * enumerable: invisible to Object.keys, spreads, JSON and deep equality, and far cheaper for the
 * garbage collector than a WeakMap of every value the compiler makes.
 */
const LOCATED = Symbol('deckhand.position');
type Positioned = { [LOCATED]?: Located };
const table = {
  get(o: object): Located | undefined {
    return (o as Positioned)[LOCATED];
  },
  has(o: object): boolean {
    return (o as Positioned)[LOCATED] !== undefined;
  },
  set(o: object, loc: Located): void {
    Object.defineProperty(o, LOCATED, { value: loc, writable: true, configurable: true });
  },
};

/** Where a map or sequence starts. */
export function posOf(container: unknown): SourcePos | undefined {
  return isObject(container) ? table.get(container)?.pos : undefined;
}

/** Where a map's key is written (for "unknown key" errors). */
export function keyPos(map: unknown, key: string): SourcePos | undefined {
  if (!isObject(map)) return undefined;
  const loc = table.get(map);
  return loc?.keys?.get(key) ?? loc?.pos;
}

/** Where a map's value or a sequence's item is written (for "wrong value" errors). */
export function valuePos(container: unknown, key: string | number): SourcePos | undefined {
  if (!isObject(container)) return undefined;
  const loc = table.get(container);
  const child = Array.isArray(container)
    ? container[key as number]
    : (container as ValueMap)[key as string];
  return (isObject(child) ? table.get(child)?.pos : undefined) ?? loc?.items?.get(key) ?? loc?.keys?.get(String(key)) ?? loc?.pos;
}

/** Gives `to`, a copy the compiler just made, the positions recorded for `from`. */
export function copyPos(from: unknown, to: object): void {
  if (!isObject(from)) return;
  const loc = table.get(from);
  if (loc) table.set(to, loc);
}

/** Records a position for a value the compiler made itself (e.g. a step expanded from shorthand). */
export function setPos(to: object, pos: SourcePos | undefined): void {
  if (pos && !table.has(to)) table.set(to, { pos });
}

export function isObject(v: unknown): v is object {
  return typeof v === 'object' && v !== null;
}

export function isMapValue(v: unknown): v is ValueMap {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface LoadOptions {
  /** name used in messages */
  file: string;
  /** the most nodes alias expansion may produce (bounds billion-laughs documents) */
  maxNodes?: number;
}

/** A config file larger than this is refused before parsing: real configs are well under 1 MB. */
export const MAX_CONFIG_BYTES = LIMITS.configBytes;

/**
 * A config or orb file's text: refused when it is too large or not UTF-8 (with the byte offset
 * and line:col of the first bad byte), rather than decoded with replacement characters.
 */
export function readConfigText(path: string, file = path): string {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    throw configError(undefined, `${file}: cannot read config: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  if (size > MAX_CONFIG_BYTES) {
    throw configError(
      { file, line: 1, col: 1 },
      `config is ${(size / 1048576).toFixed(1)} MB; the limit is ${MAX_CONFIG_BYTES / 1048576} MB (split it, or generate it with dynamic config)`,
    );
  }
  return decodeConfig(readFileSync(path), file);
}

/** UTF-8 bytes to text; anything else is an error at the first bad byte. */
export function decodeConfig(bytes: Uint8Array, file: string): string {
  const bad = findInvalidUtf8(bytes);
  if (bad) {
    throw configError(
      { file, line: bad.line, col: bad.col },
      `not valid UTF-8 at byte offset ${count(bad.offset)} (0x${bad.byte.toString(16).padStart(2, '0')}); save the file as UTF-8`,
    );
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

export function loadYamlFile(path: string, file = path): Value {
  return loadYaml(readConfigText(path, file), { file });
}

export function loadYaml(text: string, opts: LoadOptions): Value {
  if (text.length > MAX_CONFIG_BYTES) {
    throw configError({ file: opts.file, line: 1, col: 1 }, `config is larger than ${MAX_CONFIG_BYTES / 1048576} MB`);
  }
  const lineCounter = new LineCounter();
  const at = (offset: number | undefined): SourcePos => {
    const lp = lineCounter.linePos(offset ?? 0);
    return { file: opts.file, line: lp.line, col: lp.col };
  };
  // what parseDocument does, with the nesting checked lexeme by lexeme in the (iterative) parser,
  // before the (recursive) composer sees it and before a deep nest has cost memory
  const tokens: CST.Token[] = [];
  const parser = new Parser(lineCounter.addNewLine);
  lineCounter.addNewLine(0);
  for (const lexeme of new Lexer().lex(text)) {
    const offset = parser.offset;
    for (const token of parser.next(lexeme)) tokens.push(token);
    if (parser.stack.length > LIMITS.nesting && collectionDepth(parser.stack) > LIMITS.nesting) throw configError(at(offset), nestingMessage());
  }
  for (const token of parser.end()) tokens.push(token);
  const composer = new Composer({ merge: true, uniqueKeys: true, strict: true, version: '1.2' });
  let doc: Document.Parsed | undefined;
  for (const d of composer.compose(tokens, true, text.length)) {
    if (doc === undefined) doc = d;
    else {
      doc.errors.push(new YAMLParseError([d.range[0], d.range[1]], 'MULTIPLE_DOCS', 'Source contains multiple documents; a config is one YAML document'));
      break;
    }
  }
  if (doc === undefined) return null;
  if (doc.errors.length > 0) {
    const diags: Diagnostic[] = doc.errors.map((e) => ({ pos: at(e.pos[0]), message: yamlMessage(e.message, e.code) }));
    throw new ConfigError(diags);
  }
  const conv = new Converter(doc, at, opts.maxNodes ?? DEFAULT_MAX_NODES);
  return conv.value(doc.contents as YamlNode | null, at(0), 0);
}

const DEFAULT_MAX_NODES = LIMITS.aliasNodes;

function nestingMessage(): string {
  return `maps and lists nested more than ${LIMITS.nesting} levels deep (the limit; anchors count where they are used); flatten the structure`;
}

/** Maps and lists open in the parser's stack (below them the document, above them a scalar being read). */
function collectionDepth(stack: readonly CST.Token[]): number {
  let n = 0;
  for (const t of stack) if (t.type === 'block-map' || t.type === 'block-seq' || t.type === 'flow-collection') n++;
  return n;
}

/** The yaml package's messages carry a code excerpt on later lines; keep the first line. */
function yamlMessage(message: string, code: string): string {
  const first = message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  return `invalid YAML: ${first}${code === 'DUPLICATE_KEY' ? ' (each key may appear once in a map)' : ''}`;
}

class Converter {
  private budget: number;
  private readonly aliasStack: YamlNode[] = [];
  /** alias → anchored node, found in one pass (the yaml package walks the whole document per alias) */
  private readonly aliasTargets = new Map<YamlNode, YamlNode>();

  constructor(
    doc: Document.Parsed,
    private readonly at: (offset: number | undefined) => SourcePos,
    private readonly maxNodes: number,
  ) {
    this.budget = maxNodes;
    // an alias refers to the latest node anchored with its name before it, in document order
    const anchors = new Map<string, YamlNode>();
    visit(doc, (_key, node) => {
      if (isAlias(node)) {
        const target = anchors.get(node.source);
        if (target) this.aliasTargets.set(node, target);
      } else if (isNode(node) && node.anchor) {
        anchors.set(node.anchor, node);
      }
    });
  }

  private spend(pos: SourcePos): void {
    if (--this.budget < 0) {
      throw configError(pos, `YAML aliases expand to more than ${this.maxNodes} nodes; the document is too large once anchors are expanded (an alias bomb?)`);
    }
  }

  /** `depth`: maps and lists around this node, counted again through every alias on the way */
  value(node: YamlNode | null | undefined, fallback: SourcePos, depth: number): Value {
    if (node === null || node === undefined) return null;
    const pos = node.range ? this.at(node.range[0]) : fallback;
    this.spend(pos);
    if (isAlias(node)) {
      const target = this.aliasTargets.get(node);
      if (!target) throw configError(pos, `unknown YAML alias *${node.source}`);
      if (this.aliasStack.includes(target)) throw configError(pos, `YAML alias *${node.source} refers to itself`);
      this.aliasStack.push(target);
      try {
        return this.value(target, pos, depth);
      } finally {
        this.aliasStack.pop();
      }
    }
    if (isScalar(node)) {
      const v = node.value;
      if (v === null || v === undefined) return null;
      if (typeof v === 'string' || typeof v === 'boolean') return v;
      if (typeof v === 'number') return v;
      if (typeof v === 'bigint') return Number(v);
      return String(v);
    }
    if (depth >= LIMITS.nesting && (isSeq(node) || isMap(node))) throw configError(pos, nestingMessage());
    if (isSeq(node)) {
      const out: Value[] = [];
      const items = new Map<number, SourcePos>();
      node.items.forEach((item, i) => {
        const itemNode = item as YamlNode | null;
        const ipos = itemNode && itemNode.range ? this.at(itemNode.range[0]) : pos;
        items.set(i, ipos);
        out.push(this.value(itemNode, ipos, depth + 1));
      });
      table.set(out, { pos, items });
      return out;
    }
    if (isMap(node)) {
      const out: ValueMap = {};
      const keys = new Map<string, SourcePos>();
      const items = new Map<string, SourcePos>();
      const merged: ValueMap[] = [];
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const keyNode = pair.key as YamlNode | null;
        const kpos = keyNode && keyNode.range ? this.at(keyNode.range[0]) : pos;
        const valNode = pair.value as YamlNode | null;
        const vpos = valNode && valNode.range ? this.at(valNode.range[0]) : kpos;
        if (isScalar(keyNode) && typeof keyNode.value === 'symbol') {
          // `<<: *anchor` or `<<: [*a, *b]` — merged maps fill in keys the map does not set itself
          const src = this.value(valNode, vpos, depth + 1);
          const list = Array.isArray(src) ? src : [src];
          for (const m of list) {
            if (!isMapValue(m)) throw configError(vpos, 'a YAML merge key (<<) takes a map or a list of maps');
            merged.push(m);
          }
          continue;
        }
        let key: string;
        if (isScalar(keyNode)) key = String(keyNode.value);
        else if (keyNode === null) key = '';
        else throw configError(kpos, 'map keys must be plain scalars');
        keys.set(key, kpos);
        items.set(key, vpos);
        out[key] = this.value(valNode, vpos, depth + 1);
      }
      // the first merged map wins over later ones; explicit keys win over all (YAML merge key spec)
      for (const m of merged) {
        const mloc = table.get(m);
        for (const [k, v] of Object.entries(m)) {
          if (k in out) continue;
          out[k] = v;
          const kp = mloc?.keys?.get(k);
          const vp = mloc?.items?.get(k);
          if (kp) keys.set(k, kp);
          if (vp) items.set(k, vp);
        }
      }
      table.set(out, { pos, keys, items });
      return out;
    }
    throw configError(pos, 'unsupported YAML node');
  }
}

/** Deep copy that keeps positions, so each job instance can be rewritten independently. */
export function cloneValue<T extends Value>(v: T): T {
  if (Array.isArray(v)) {
    const out = v.map((x) => cloneValue(x));
    copyPos(v, out);
    return out as T;
  }
  if (isMapValue(v)) {
    const out: ValueMap = {};
    for (const [k, x] of Object.entries(v)) out[k] = cloneValue(x);
    copyPos(v, out);
    return out as T;
  }
  return v;
}

/** A type name for messages: "a string", "a map", … */
export function describeType(v: unknown): string {
  if (v === null || v === undefined) return 'nothing (null)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v;
}

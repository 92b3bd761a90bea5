/**
 * A small HCL writer for the files `deckhand nomad job|client-config` print: blocks with labels,
 * attributes, strings, numbers, booleans and lists, two-space indented, attribute names aligned
 * within a block as `nomad fmt` aligns them. Strings are escaped as HCL's native syntax wants:
 * quotes and backslashes, control characters, and `${`/`%{` (doubled, so they stay literal) unless
 * the value is meant as an interpolation Nomad resolves at run time (`raw`).
 */
export type HclValue = string | number | boolean | string[] | { raw: string | string[] };

export interface HclBlock {
  type: string;
  labels?: string[];
  /** attributes, in order; undefined values are left out */
  attributes?: [name: string, value: HclValue | undefined][];
  blocks?: HclBlock[];
  /** a comment line above the block */
  comment?: string;
}

export function quote(text: string, interpolate = false): string {
  let out = JSON.stringify(text);
  // (a function: in a replacement string `$$` would itself mean one `$`)
  if (!interpolate) out = out.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{');
  return out;
}

function value(v: HclValue): string {
  if (typeof v === 'string') return quote(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map((s) => quote(s)).join(', ')}]`;
  return Array.isArray(v.raw) ? `[${v.raw.map((s) => quote(s, true)).join(', ')}]` : quote(v.raw, true);
}

export function renderHcl(blocks: HclBlock[], attributes: [string, HclValue | undefined][] = [], indent = ''): string {
  const lines: string[] = [];
  const present = attributes.filter((a): a is [string, HclValue] => a[1] !== undefined);
  const width = Math.max(0, ...present.map(([name]) => name.length));
  for (const [name, v] of present) lines.push(`${indent}${name.padEnd(width)} = ${value(v)}`);
  for (const block of blocks) {
    if (lines.length > 0) lines.push('');
    if (block.comment) lines.push(...block.comment.split('\n').map((c) => `${indent}# ${c}`));
    const head = [block.type, ...(block.labels ?? []).map((l) => quote(l))].join(' ');
    const inner = renderHcl(block.blocks ?? [], block.attributes ?? [], `${indent}  `);
    lines.push(inner === '' ? `${indent}${head} {}` : `${indent}${head} {\n${inner}\n${indent}}`);
  }
  return lines.join('\n');
}

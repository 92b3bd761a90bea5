/**
 * Small configs that expand to a great deal, for the compiler's limits (agent/config/limits.ts):
 * shared by test/config/limits.test.ts and bench/compile-bounds.ts, so that the benchmark times
 * exactly what the tests refuse. Each generator says where the interesting line is.
 */

const JOB_HEAD = ['jobs:', '  build:', '    docker:', '    - image: cimg/base:stable', '    steps:'];

/**
 * Commands c0…cN where c0 is one step and each other command runs the one below it twice, and a
 * job whose steps call the commands of `levels` once each: the job has the sum of 2^level steps.
 * `levels: [22]` is the 2^22-step config; 50,000 = 2^15 + 2^14 + 2^9 + 2^8 + 2^6 + 2^4.
 */
export function doublingCommands(levels: number[], extraSteps = 0, workflowEntries = ['      - build']): { text: string; jobStepLine: number } {
  const top = Math.max(...levels);
  const out = ['version: 2.1', 'commands:', '  c0:', '    steps:', '    - run: echo one step'];
  for (let i = 1; i <= top; i++) out.push(`  c${i}:`, '    steps:', `    - c${i - 1}`, `    - c${i - 1}`);
  out.push(...JOB_HEAD);
  const jobStepLine = out.length + 1;
  for (const l of levels) out.push(`    - c${l}`);
  for (let i = 0; i < extraSteps; i++) out.push(`    - run: echo extra ${i}`);
  out.push('workflows:', '  main:', '    jobs:', ...workflowEntries);
  return { text: `${out.join('\n')}\n`, jobStepLine };
}

/** The levels whose 2^level add up to n (its binary digits). */
export function levelsFor(n: number): number[] {
  const out: number[] = [];
  for (let bit = 0; 2 ** bit <= n; bit++) if (Math.floor(n / 2 ** bit) % 2 === 1) out.push(bit);
  return out.reverse();
}

/** A job with one integer parameter per entry of `sizes`, and a matrix of `sizes[i]` values each. */
export function matrixConfig(sizes: number[], extraEntries: string[] = []): { text: string; matrixLine: number } {
  const names = sizes.map((_, i) => `p${i}`);
  const out = ['version: 2.1', 'jobs:', '  build:', '    parameters:'];
  for (const n of names) out.push(`      ${n}: {type: integer, default: 0}`);
  out.push('    docker:', '    - image: cimg/base:stable', '    steps:', `    - run: echo ${names.map((n) => `<< parameters.${n} >>`).join(' ')}`);
  out.push('workflows:', '  main:', '    jobs:', '      - build:');
  const matrixLine = out.length + 1;
  out.push('          matrix:', '            parameters:');
  sizes.forEach((size, i) => out.push(`              ${names[i]}: [${Array.from({ length: size }, (_, v) => v).join(', ')}]`));
  out.push(...extraEntries);
  return { text: `${out.join('\n')}\n`, matrixLine };
}

/** `x:` holding `depth` flow lists inside one another: with the root map, depth + 1 levels. */
export function nestedFlowLists(depth: number): string {
  return `version: 2.1\nx: ${'['.repeat(depth)}${']'.repeat(depth)}\n`;
}

/** `x:` holding `depth` block lists inside one another, written compactly (`- - - 1`). */
export function nestedBlockLists(depth: number): string {
  return `version: 2.1\nx:\n${'- '.repeat(depth)}1\n`;
}

/** A command s0…sN with a string parameter that each level passes on doubled. */
export function doublingString(levels: number): string {
  const out = ['version: 2.1', 'commands:', '  s0:', '    parameters: {s: {type: string}}', '    steps:', '    - run: echo << parameters.s >>'];
  for (let i = 1; i <= levels; i++) {
    out.push(`  s${i}:`, '    parameters: {s: {type: string}}', '    steps:', `    - s${i - 1}: {s: "<< parameters.s >><< parameters.s >>"}`);
  }
  out.push(...JOB_HEAD, `    - s${levels}: {s: abcdefgh}`, 'workflows:', '  main:', '    jobs: [build]');
  return `${out.join('\n')}\n`;
}

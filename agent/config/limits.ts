/**
 * The compiler's bounds. A config is input from anyone who can open a pull request, and 2.1 lets
 * a few hundred bytes ask for millions of steps (commands that run each other twice per level), a
 * million jobs (a matrix) or a nest deeper than the stack. Each bound here is far above what real
 * configs use (docs/config-compiler.md gives the largest figures of the test corpus) and is
 * counted while the compiler expands, so that a config past one is refused in milliseconds, with
 * the position that crosses it, before it has cost memory.
 */
import { ConfigError, type Diagnostic, type SourcePos } from './diagnostics.js';

export const LIMITS = {
  /** bytes of a config or orb file */
  configBytes: 4 * 1024 * 1024,
  /** maps, lists and scalars that YAML aliases may expand to */
  aliasNodes: 2_000_000,
  /** maps and lists inside one another in a YAML document, aliases expanded */
  nesting: 256,
  /** command calls, when/unless steps and step groups inside one another in one job */
  stepNesting: 256,
  /** steps of one job once its commands are expanded */
  stepsPerJob: 50_000,
  /** workflow jobs of all workflows together, matrices expanded */
  jobsPerPipeline: 10_000,
  /** steps, command calls and when/unless steps expanded for all jobs together */
  expansionsPerPipeline: 250_000,
  /** requirements between jobs once matrix aliases name every job they stand for */
  requirementsPerPipeline: 100_000,
  /** a matrix's `exclude` entries times its combinations (each entry is compared with each) */
  excludeComparisons: 1_000_000,
  /** characters written into strings by `<< >>`, all of the config together */
  interpolatedChars: 16 * 1024 * 1024,
} as const;

/** Thousands separated, as the limits are written in the docs. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/**
 * A bound of the whole compile was crossed: the compile stops there, even when it goes on past
 * other problems to report them all (another job would only cross it again).
 */
export class LimitError extends ConfigError {
  constructor(diagnostic: Diagnostic) {
    super(diagnostic);
    this.name = 'LimitError';
  }
}

export function limitError(pos: SourcePos | undefined, message: string): LimitError {
  return new LimitError({ pos, message });
}

/** What one compile has produced so far, against LIMITS; shared by every workflow and job of it. */
export class ExpansionBudget {
  private jobCount = 0;
  private expansionCount = 0;
  private requirementCount = 0;
  private charCount = 0;

  /** Jobs that a workflow entry expands to; `what` says where they come from, for the message. */
  addJobs(n: number, pos: SourcePos | undefined, what: () => string): void {
    this.jobCount += n;
    if (this.jobCount > LIMITS.jobsPerPipeline) {
      throw limitError(pos, `${what()}, which brings the config to ${count(this.jobCount)} jobs; a config may have at most ${count(LIMITS.jobsPerPipeline)} (all workflows together, matrices expanded)`);
    }
  }

  /** Jobs that may still be added before the limit. */
  get jobsLeft(): number {
    return LIMITS.jobsPerPipeline - this.jobCount;
  }

  /** One step, command call or when/unless step expanded; `job` names the job for the message. */
  expand(pos: SourcePos | undefined, job: string): void {
    if (++this.expansionCount > LIMITS.expansionsPerPipeline) {
      throw limitError(pos, `the config expands to more than ${count(LIMITS.expansionsPerPipeline)} steps, command calls and when/unless steps in all its jobs together (the limit), here while expanding ${job}; commands that run other commands several times multiply their steps`);
    }
  }

  addRequirements(n: number, pos: SourcePos | undefined, job: string): void {
    this.requirementCount += n;
    if (this.requirementCount > LIMITS.requirementsPerPipeline) {
      throw limitError(pos, `${job} brings the config to ${count(this.requirementCount)} requirements between jobs once matrix aliases are expanded; a config may have at most ${count(LIMITS.requirementsPerPipeline)} (require a job that fans in instead of a whole matrix from each job of another)`);
    }
  }

  /** Characters a `<< >>` substitution wrote into a string. */
  addChars(n: number, pos: SourcePos | undefined): void {
    this.charCount += n;
    if (this.charCount > LIMITS.interpolatedChars) {
      throw limitError(pos, `<< >> substitutions write more than ${count(LIMITS.interpolatedChars)} characters in all (the limit; this one wrote ${count(n)}); a parameter that doubles a string at each call grows without bound`);
    }
  }

  /** What was used, for benchmarks and tests. */
  get used(): { jobs: number; expansions: number; requirements: number; chars: number } {
    return { jobs: this.jobCount, expansions: this.expansionCount, requirements: this.requirementCount, chars: this.charCount };
  }
}

/** The steps one job has produced so far, against LIMITS.stepsPerJob. */
export class StepTally {
  private n = 0;
  /** the job's own step being expanded: where a refusal points */
  at: SourcePos | undefined;

  constructor(
    readonly job: string,
    at?: SourcePos,
  ) {
    this.at = at;
  }

  /** One more step in the job's list; false once past the limit (then throw `refusal`). */
  add(): boolean {
    return ++this.n <= LIMITS.stepsPerJob;
  }

  /** The error for a step past the limit at `pos`, which came through the commands `via`. */
  refusal(pos: SourcePos | undefined, via: readonly string[]): ConfigError {
    const chain = via.length > 6 ? [...via.slice(0, 3), '…', ...via.slice(-2)] : via;
    return new ConfigError({
      pos: this.at ?? pos,
      message: `${this.job} expands to more than ${count(LIMITS.stepsPerJob)} steps, the most a job may have${chain.length ? `; step ${count(this.n)} came from ${chain.join(' → ')}` : ''} (a command that runs another several times multiplies its steps)`,
    });
  }

  get steps(): number {
    return this.n;
  }
}

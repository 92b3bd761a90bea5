/**
 * A skewed suite for timing-based splitting: seconds per spec file, the four slow ones (a, d, g,
 * j) all sorting onto node 0 of 3 when split by name (140 s there against 3 s elsewhere); greedy
 * by timings, no node carries more than 50 s.
 */
export const SKEWED_SECONDS: Readonly<Record<string, number>> = {
  'spec/a_spec.rb': 50,
  'spec/b_spec.rb': 1,
  'spec/c_spec.rb': 1,
  'spec/d_spec.rb': 40,
  'spec/e_spec.rb': 1,
  'spec/f_spec.rb': 1,
  'spec/g_spec.rb': 30,
  'spec/h_spec.rb': 1,
  'spec/i_spec.rb': 1,
  'spec/j_spec.rb': 20,
};

/** Total seconds of a node's share. */
export function skewedLoad(share: string[]): number {
  return share.reduce((sum, file) => sum + (SKEWED_SECONDS[file] ?? 0), 0);
}

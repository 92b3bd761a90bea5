/**
 * CircleCI resource classes → CPUs and memory, per executor kind (CircleCI's published tables).
 * A `.genN` suffix names a hardware generation of the same size.
 * A self-hosted runner class (`namespace/name`) has no fixed size: it maps to 0 = "no limit".
 */
import type { ResourceSpec } from '../jobspec/jobspec.js';
import { configError, type SourcePos } from './diagnostics.js';
import { didYouMean } from './suggest.js';

type Table = Record<string, [cpus: number, memoryMb: number]>;

const DOCKER: Table = {
  small: [1, 2048],
  medium: [2, 4096],
  'medium+': [3, 6144],
  large: [4, 8192],
  xlarge: [8, 16384],
  '2xlarge': [16, 32768],
  '2xlarge+': [20, 40960],
  'arm.medium': [2, 8192],
  'arm.large': [4, 16384],
  'arm.xlarge': [8, 32768],
  'arm.2xlarge': [16, 65536],
};

const MACHINE: Table = {
  medium: [2, 7680],
  large: [4, 15360],
  xlarge: [8, 32768],
  '2xlarge': [16, 65536],
  '2xlarge+': [32, 131072],
  'arm.medium': [2, 8192],
  'arm.large': [4, 16384],
  'arm.xlarge': [8, 32768],
  'arm.2xlarge': [16, 65536],
  'gpu.nvidia.small': [4, 15360],
  'gpu.nvidia.small.gen2': [4, 16384],
  'gpu.nvidia.small.multi': [16, 65536],
  'gpu.nvidia.medium': [8, 30720],
  'gpu.nvidia.medium.multi': [32, 131072],
  'gpu.nvidia.large': [8, 30720],
  'windows.medium': [4, 15360],
  'windows.large': [8, 30720],
  'windows.xlarge': [16, 61440],
  'windows.2xlarge': [32, 131072],
  'windows.gpu.nvidia.medium': [16, 61440],
};

const MACOS: Table = {
  medium: [4, 8192],
  large: [8, 16384],
  'macos.x86.medium.gen2': [4, 8192],
  'macos.m1.medium.gen1': [4, 6144],
  'macos.m1.large.gen1': [8, 12288],
  'm2pro.medium': [4, 8192],
  'm2pro.large': [8, 16384],
  'm4pro.medium': [6, 28672],
  'm4pro.large': [12, 57344],
};

const TABLES: Record<'docker' | 'machine' | 'macos', Table> = { docker: DOCKER, machine: MACHINE, macos: MACOS };

export function resourcesFor(kind: 'docker' | 'machine' | 'macos', cls: string | undefined, pos?: SourcePos): ResourceSpec {
  const name = cls ?? 'medium';
  if (/^[\w.-]+\/[\w.-]+$/.test(name)) return { class: name, cpus: 0, memoryMb: 0 };
  // `large.gen3`, `medium+.gen2`: a hardware generation of the same size
  const row = TABLES[kind][name] ?? TABLES[kind][name.replace(/\.gen\d+$/, '')];
  if (!row) {
    const known = Object.keys(TABLES[kind]);
    throw configError(pos, `resource_class "${name}" does not exist for the ${kind} executor${didYouMean(name, known)}; use one of ${known.join(', ')}, or namespace/name for a self-hosted runner`);
  }
  return { class: name, cpus: row[0], memoryMb: row[1] };
}

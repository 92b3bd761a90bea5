/**
 * EC2 instance types for CircleCI's machine resource classes. Each built-in type has at least the
 * class's CPUs and memory (general purpose m5 for x86, m6g for Arm: 4 GiB per vCPU); a settings file
 * can override any class or add one (GPU and Windows classes have no built-in type).
 */
import { InfrastructureError } from '../../errors.js';

/** CircleCI's class (its CPUs / memory) → the type launched for it */
export const BUILT_IN_INSTANCE_TYPES: Readonly<Record<string, string>> = {
  medium: 'm5.large', // 2 vCPU / 7.5 GB → 2 / 8 GiB
  large: 'm5.xlarge', // 4 / 15 → 4 / 16
  xlarge: 'm5.2xlarge', // 8 / 32 → 8 / 32
  '2xlarge': 'm5.4xlarge', // 16 / 64 → 16 / 64
  '2xlarge+': 'm5.8xlarge', // 32 / 128 → 32 / 128
  'arm.medium': 'm6g.large', // 2 / 8
  'arm.large': 'm6g.xlarge', // 4 / 16
  'arm.xlarge': 'm6g.2xlarge', // 8 / 32
  'arm.2xlarge': 'm6g.4xlarge', // 16 / 64
};

/** The instance type for `resourceClass`: the settings' own first, then the built-in table. */
export function instanceTypeFor(resourceClass: string, overrides: Readonly<Record<string, string>> | undefined, region: string): string {
  const table = { ...BUILT_IN_INSTANCE_TYPES, ...(overrides ?? {}) };
  // `large.gen2`: a hardware generation of the same size, as the config compiler reads it
  const lookUp = (name: string): string | undefined => (Object.hasOwn(table, name) ? table[name] : undefined);
  const found = lookUp(resourceClass) ?? lookUp(resourceClass.replace(/\.gen\d+$/, ''));
  if (found !== undefined) return found;
  throw new InfrastructureError(
    `aws provider (region ${region}): no instance type for resource class "${resourceClass}"; add it to "instanceTypes" in --machine-aws-config (known: ${Object.keys(table).join(', ')})`,
  );
}

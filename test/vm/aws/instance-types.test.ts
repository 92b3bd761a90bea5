import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InfrastructureError } from '../../../agent/errors.js';
import { resourcesFor } from '../../../agent/config/resource-classes.js';
import { BUILT_IN_INSTANCE_TYPES, instanceTypeFor } from '../../../agent/vm/aws/instance-types.js';

// vCPUs and memory (MiB) of the built-in types, from EC2's published specifications
const EC2_SIZES: Record<string, [number, number]> = {
  'm5.large': [2, 8192],
  'm5.xlarge': [4, 16384],
  'm5.2xlarge': [8, 32768],
  'm5.4xlarge': [16, 65536],
  'm5.8xlarge': [32, 131072],
  'm6g.large': [2, 8192],
  'm6g.xlarge': [4, 16384],
  'm6g.2xlarge': [8, 32768],
  'm6g.4xlarge': [16, 65536],
};

describe('aws instance types', () => {
  it("maps CircleCI's machine classes to types at least as large", () => {
    assert.equal(instanceTypeFor('medium', undefined, 'eu-west-1'), 'm5.large');
    assert.equal(instanceTypeFor('large', undefined, 'eu-west-1'), 'm5.xlarge');
    assert.equal(instanceTypeFor('xlarge', undefined, 'eu-west-1'), 'm5.2xlarge');
    assert.equal(instanceTypeFor('2xlarge', undefined, 'eu-west-1'), 'm5.4xlarge');
    for (const [cls, type] of Object.entries(BUILT_IN_INSTANCE_TYPES)) {
      const wanted = resourcesFor('machine', cls);
      const [cpus, memoryMb] = EC2_SIZES[type] ?? [0, 0];
      assert.ok(cpus >= wanted.cpus && memoryMb >= wanted.memoryMb, `${cls} (${wanted.cpus} CPUs, ${wanted.memoryMb} MB) → ${type}`);
    }
  });

  it('takes the settings over the table, and reads a .genN class as its size', () => {
    assert.equal(instanceTypeFor('large', { large: 'c6i.xlarge' }, 'eu-west-1'), 'c6i.xlarge');
    assert.equal(instanceTypeFor('gpu.nvidia.small', { 'gpu.nvidia.small': 'g4dn.xlarge' }, 'eu-west-1'), 'g4dn.xlarge');
    assert.equal(instanceTypeFor('large.gen2', undefined, 'eu-west-1'), 'm5.xlarge');
  });

  it('names the region, the settings key and the known classes for an unknown class', () => {
    assert.throws(
      () => instanceTypeFor('windows.medium', undefined, 'eu-west-1'),
      (e) => e instanceof InfrastructureError && /region eu-west-1/.test(e.message) && /"instanceTypes"/.test(e.message) && /known: medium, large, xlarge, 2xlarge/.test(e.message),
    );
  });
});

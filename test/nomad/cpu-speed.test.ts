import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { machineMhzPerCore } from '../../agent/nomad/cpu-speed.js';

const CPUINFO = 'processor\t: 0\ncpu MHz\t\t: 2600.000\nprocessor\t: 1\ncpu MHz\t\t: 2400.000\n';

describe('the MHz of one core', () => {
  it('is the mean of what the kernel reports per core', () => {
    assert.equal(machineMhzPerCore({ cores: () => [3000, 3201], cpuinfo: () => CPUINFO }), 3101);
  });

  it('comes from /proc/cpuinfo where the kernel has no cpufreq (a VM: every core says 0)', () => {
    assert.equal(machineMhzPerCore({ cores: () => [0, 0], cpuinfo: () => CPUINFO }), 2500);
  });

  it('is 0 when neither says, so the caller asks for --mhz-per-core', () => {
    assert.equal(
      machineMhzPerCore({
        cores: () => [0],
        cpuinfo: () => {
          throw new Error('ENOENT');
        },
      }),
      0,
    );
  });

  it('is this machine\'s speed by default', () => {
    assert.ok(machineMhzPerCore() > 0, 'this Linux machine reports its speed one way or the other');
  });
});
